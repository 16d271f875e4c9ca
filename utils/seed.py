"""Seeding and device choice: the two lines every notebook's setup cell calls."""
import os
import random


def seed_everything(seed: int = 0, deterministic: bool = True) -> int:
    """Seed Python, NumPy and PyTorch (CPU and all GPUs) so a notebook reruns identically.

    With ``deterministic=True`` PyTorch is asked for deterministic kernels where it has
    them (``warn_only``: an op without one warns instead of failing a student's cell).
    Returns the seed, so ``seed = seed_everything(0)`` reads well.
    """
    import numpy as np
    import torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        # cuBLAS needs this for deterministic matmuls on GPU; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    set_threads()  # COURSE_THREADS, if set, overrides torch's default thread count
    return seed


def get_device(prefer: str | None = None):
    """Pick a torch device: ``prefer`` if given and available, else the ``COURSE_DEVICE``
    environment variable if set (e.g. ``cpu`` to reproduce the stored outputs on a Mac),
    else CUDA, then MPS, then CPU.

    >>> get_device("cpu")
    device(type='cpu')
    """
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    available["mps"] = bool(mps and mps.is_available())
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        kind = prefer.split(":")[0]
        if kind not in available:
            raise ValueError(f"unknown device {prefer!r}: use one of {sorted(available)}")
        if not available[kind]:
            raise RuntimeError(f"device {prefer!r} is not available on this machine; "
                               f"available: {[k for k, ok in available.items() if ok]}")
        return torch.device(prefer)
    for kind in ("cuda", "mps"):
        if available[kind]:
            return torch.device(kind)
    return torch.device("cpu")


def set_threads(default: int | None = None) -> None:
    """Set torch's intra-op thread count (``torch.get_num_threads()`` reads it back).

    The ``COURSE_THREADS`` environment variable wins when set (``COURSE_THREADS=2 pytest
    --nbval ...`` reruns every notebook with another thread count, as on another CPU, to
    find stored outputs that depend on it); else ``default``; else torch keeps its own
    choice (``OMP_NUM_THREADS`` or the number of cores). ``seed_everything`` calls it, and
    notebooks that want one thread call ``utils.seed.set_threads(1)``.
    """
    import torch

    value = os.environ.get("COURSE_THREADS", "").strip()
    n = default
    if value:
        n = int(value) if value.isdigit() else 0
        if n < 1:
            raise ValueError(f"COURSE_THREADS must be a whole number >= 1, got {value!r}")
    if n is not None:
        torch.set_num_threads(n)
