import os

import numpy as np
import pytest
import torch

import utils

_HASHSEED = os.environ.get("PYTHONHASHSEED")  # as the test run started


def test_seed_everything_makes_numpy_and_torch_repeat():
    utils.seed_everything(123)
    a = (np.random.rand(3), torch.rand(3))
    utils.seed_everything(123)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
    utils.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[1])


def test_seed_everything_returns_the_seed():
    assert utils.seed_everything(7) == 7


def test_get_device_defaults_to_an_available_device():
    dev = utils.get_device()
    assert dev.type in {"cpu", "cuda", "mps"}
    assert utils.get_device("cpu") == torch.device("cpu")


def test_get_device_rejects_unknown_and_unavailable():
    with pytest.raises(ValueError, match="unknown device"):
        utils.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            utils.get_device("cuda")


def test_import_utils_is_light():
    import subprocess
    import sys

    code = "import sys, utils; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # seeding imports torch lazily, inside the function: importing utils pulls in neither
    assert out.stdout.split() == ["False", "False"]


def test_course_device_variable_overrides_the_automatic_choice(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert utils.get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        utils.get_device()
    assert utils.get_device("cpu") == torch.device("cpu")  # an explicit choice wins


def test_seed_everything_sets_process_wide_state():
    utils.seed_everything(123)
    assert os.environ["PYTHONHASHSEED"] == "123"
    assert torch.are_deterministic_algorithms_enabled()


def test_process_wide_state_does_not_outlive_a_test():
    """The test above left nothing behind (conftest.py restores it after every test), so
    later tests and nbval's kernels start from the runner's own state."""
    assert os.environ.get("PYTHONHASHSEED") == _HASHSEED
    assert not torch.are_deterministic_algorithms_enabled()


def test_course_threads_variable_overrides_the_thread_count(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("COURSE_THREADS", raising=False)
        utils.seed.set_threads(1)
        assert torch.get_num_threads() == 1
        utils.seed.set_threads()  # no variable, no default: left as it is
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("COURSE_THREADS", "2")
        assert utils.seed.set_threads(1) is None  # nothing to display under a setup cell
        assert torch.get_num_threads() == 2  # the variable wins
        torch.set_num_threads(1)
        utils.seed_everything(0)  # the setup cell applies it too
        assert torch.get_num_threads() == 2
        for bad in ("0", "two", "-1"):
            monkeypatch.setenv("COURSE_THREADS", bad)
            with pytest.raises(ValueError, match="COURSE_THREADS"):
                utils.seed.set_threads(1)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("mps_ok", [True, False])
def test_get_device_takes_mps_when_cuda_is_missing(monkeypatch, mps_ok):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps_ok)
    assert utils.get_device() == torch.device("mps" if mps_ok else "cpu")


def test_get_device_accepts_an_indexed_device():
    assert utils.get_device("cpu:0") == torch.device("cpu:0")


def test_seed_everything_seeds_python_and_asks_for_deterministic_kernels(monkeypatch):
    import random

    utils.seed_everything(5)
    a = [random.random() for _ in range(3)]
    utils.seed_everything(5)
    assert a == [random.random() for _ in range(3)]  # Python's own generator too
    assert utils.seed_everything() == 0  # seed 0 unless told otherwise
    first = torch.rand(2)
    torch.manual_seed(0)
    assert torch.equal(first, torch.rand(2))
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    torch.backends.cudnn.benchmark = True
    utils.seed_everything(1)
    assert torch.is_deterministic_algorithms_warn_only_enabled()  # warns, never fails a cell
    assert torch.backends.cudnn.benchmark is False
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_course_threads_accepts_one(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("COURSE_THREADS", "1")
        utils.seed.set_threads(2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
