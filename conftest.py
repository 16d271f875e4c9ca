"""Repository-wide pytest configuration: what nbval compares.

stderr is never compared (warnings differ between library versions and machines), nor are
images (a plot is checked by the assertion next to it, not by its pixels), nor widget
state (tqdm progress bars).
"""
import os
import sys

import pytest


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs ``-n auto``) the workers share the cores: each
    worker, and the nbval and grading kernels it starts, gets cores // workers torch threads
    (``COURSE_THREADS``, read by ``utils.seed``; ``OMP_NUM_THREADS`` for the worker's own
    torch) instead of every one taking every core. Stored outputs do not depend on the
    thread count (``make test-perturbed`` proves it); a ``COURSE_THREADS`` already set wins."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if workers.isdigit() and int(workers) > 1:
        threads = str(max(1, (os.cpu_count() or 1) // int(workers)))
        os.environ.setdefault("COURSE_THREADS", threads)
        os.environ.setdefault("OMP_NUM_THREADS", os.environ["COURSE_THREADS"])


def pytest_collectstart(collector):
    if getattr(collector, "fspath", None) is not None and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "stderr",
            "image/png",
            "image/svg+xml",
            "application/vnd.jupyter.widget-view+json",
        )


@pytest.fixture(autouse=True)
def _restore_process_state():
    """Whatever a test changes process-wide is put back after it: environment variables
    (``utils.seed_everything`` sets ``PYTHONHASHSEED`` and ``CUBLAS_WORKSPACE_CONFIG``,
    which nbval's kernels would inherit) and torch's deterministic-algorithms and cuDNN
    flags. torch is never imported here for this."""
    env = dict(os.environ)
    torch = sys.modules.get("torch")
    flags = ((torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark) if torch is not None else (False, False, False))
    yield
    if os.environ != env:
        os.environ.clear()
        os.environ.update(env)
    torch = sys.modules.get("torch")
    if torch is not None:
        now = (torch.are_deterministic_algorithms_enabled(),
               torch.is_deterministic_algorithms_warn_only_enabled())
        if now != flags[:2]:
            torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.benchmark = flags[2]
