"""Shared helpers of the course, one small module per concern.

``import utils`` is fast: only seeding and device choice are imported eagerly; the other
modules (``utils.data``, ``utils.plotting``, ``utils.training``, ``utils.checks``, ...)
load on first use, e.g. ``utils.data.load_digits()``.
"""
import os
from importlib import import_module
from importlib.util import find_spec

# torch's OpenMP threads spin while they wait for work; on a busy 2-core laptop or CI
# runner that made tiny ops (a small nn.Linear) up to 30x slower. Must precede `import torch`,
# which is why every notebook imports utils first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .seed import get_device, seed_everything  # noqa: E402

__all__ = ["seed_everything", "get_device", "data", "plotting", "training", "checks"]


def __getattr__(name):
    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
