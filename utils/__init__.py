"""Shared helpers of the course, one small module per concern.

``import utils`` is fast: only seeding and device choice are imported eagerly; the other
modules (``utils.data``, ``utils.plotting``, ``utils.training``, ``utils.checks``, ...)
load on first use, e.g. ``utils.data.load_digits()``.
"""
from importlib import import_module
from importlib.util import find_spec

from .seed import get_device, seed_everything

__all__ = ["seed_everything", "get_device", "data", "plotting", "training", "checks"]


def __getattr__(name):
    if not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
