"""utils.functional against PyTorch in float64, at the extremes the lectures warn about."""
import numpy as np
import pytest
import torch

from utils import functional as Fn


def test_sigmoid_matches_torch_without_overflow():
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        out = Fn.sigmoid(z)
    np.testing.assert_allclose(out, torch.sigmoid(torch.tensor(z)).numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_softmax_cross_entropy_and_gradient_match_torch(scale):
    rng = np.random.default_rng(0)
    Z, y = scale * rng.standard_normal((7, 4)), np.array([0, 3, 3, 1, 0, 3, 1])  # no class 2
    loss, dZ = Fn.softmax_cross_entropy(Z, y)
    Zt = torch.tensor(Z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(Zt, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(Fn.softmax(Z), torch.softmax(Zt, 1).detach().numpy(), atol=1e-15)
    np.testing.assert_allclose(Fn.softmax(Z).sum(1), 1.0)


def test_softmax_cross_entropy_leaves_its_input_unchanged():
    Z = np.array([[1.0, 2.0], [3.0, -1.0]])
    Fn.softmax_cross_entropy(Z, np.array([1, 0]))
    np.testing.assert_array_equal(Z, [[1.0, 2.0], [3.0, -1.0]])


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_standardize_uses_training_statistics_only(lib):
    rng = np.random.default_rng(1)
    X_tr, X_te = rng.normal(3, 2, (50, 3)), rng.normal(3, 2, (20, 3))
    X_tr[:, 2] = 5.0  # a constant column is only centred (std taken as 1)
    if lib == "torch":
        X_tr, X_te = torch.tensor(X_tr), torch.tensor(X_te)
    A, B = Fn.standardize(X_tr, X_te)
    A, B, X_tr, X_te = (np.asarray(v) for v in (A, B, X_tr, X_te))
    np.testing.assert_allclose(A[:, :2].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(A[:, :2].std(0), 1, atol=1e-12)
    np.testing.assert_array_equal(A[:, 2], 0)
    np.testing.assert_allclose(B[:, 2], X_te[:, 2] - 5.0)  # not (x - 5) / 1e-8
    mean, std = X_tr[:, :2].mean(0), X_tr[:, :2].std(0)
    np.testing.assert_allclose(B[:, :2], (X_te[:, :2] - mean) / std, atol=1e-12)


def test_sigmoid_between_zero_and_one_and_in_float64():
    # both branches of the stable form near 0 (z in (0, 1) once took the wrong one)
    z = np.array([-0.75, -0.25, 0.0, 0.25, 0.5, 0.999], dtype=np.float32)
    out = Fn.sigmoid(z)
    assert out.dtype == np.float64  # float32 logits are widened before exp
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-z.astype(np.float64))), rtol=1e-15)


def test_standardize_alone_returns_one_array_and_small_spreads_are_kept():
    X = np.random.default_rng(2).normal(0, 0.01, (40, 2))  # std 0.01: small, not constant
    Z = Fn.standardize(X)
    assert isinstance(Z, np.ndarray) and Z.shape == X.shape
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-12)
    np.testing.assert_allclose(Z, (X - X.mean(0)) / X.std(0), atol=1e-12)


def test_log_softmax_is_over_the_last_axis_in_float64():
    Z = np.random.default_rng(3).normal(0, 3, (2, 3, 4)).astype(np.float32)  # [B, T, K]
    out = Fn.log_softmax(Z)
    assert out.dtype == np.float64
    ref = torch.log_softmax(torch.tensor(Z, dtype=torch.float64), dim=-1).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
