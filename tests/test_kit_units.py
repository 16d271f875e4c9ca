"""Unit tests of the tooling's smaller modules without a kernel (filled below)."""
