"""Shared helpers of the course, one small module per concern.

``import utils`` is fast: only seeding and device choice are imported eagerly; the other
modules (``utils.data``, ``utils.plotting``, ``utils.training``, ``utils.checks``) load on
first use.
"""
from importlib import import_module

from .seed import get_device, seed_everything

__all__ = ["seed_everything", "get_device", "data", "plotting", "training", "checks"]
_SUBMODULES = {"data", "plotting", "training", "checks", "course"}


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
