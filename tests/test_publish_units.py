"""Unit tests of release, site, execute and simulate without a kernel (filled below)."""
