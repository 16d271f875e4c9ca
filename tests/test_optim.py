import pytest
import torch

from utils.checks import CheckFailed
from utils.optim import check_optimizer, quadratic, rosenbrock, rosenbrock_grad, rotated_hessian


def test_rotated_hessian_has_the_eigenvalues_and_turned_axes():
    A = rotated_hessian((1.0, 50.0), degrees=30)
    torch.testing.assert_close(torch.linalg.eigvalsh(A), torch.tensor([1.0, 50.0], dtype=torch.float64))
    assert abs(A[0, 1].item()) > 1  # not axis-aligned
    torch.testing.assert_close(A, A.T)


def test_surfaces_and_gradients_agree_with_autograd():
    x = torch.tensor([[-1.2, 1.0], [0.3, -0.7]], dtype=torch.float64, requires_grad=True)
    f, grad = quadratic(rotated_hessian((1.0, 10.0), 20))
    for fn, g in ((f, grad), (rosenbrock, rosenbrock_grad)):
        (auto,) = torch.autograd.grad(fn(x).sum(), x)
        torch.testing.assert_close(g(x.detach()), auto)
    assert rosenbrock(torch.tensor([1.0, 1.0])).item() == 0


class Plain:
    """A minimal hand-written SGD, right or wrong in chosen ways."""

    def __init__(self, params, lr, touch_grad=False, read_lr_once=False, skip_none=True):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.lr0, self.touch_grad, self.skip_none = lr, touch_grad, skip_none
        self.read_lr_once = read_lr_once

    def zero_grad(self):
        for p in self.param_groups[0]["params"]:
            p.grad = None

    @torch.no_grad()
    def step(self):
        lr = self.lr0 if self.read_lr_once else self.param_groups[0]["lr"]
        for p in self.param_groups[0]["params"]:
            if p.grad is None and self.skip_none:
                continue
            if self.touch_grad:
                p.grad.mul_(1.0)
                p.grad.add_(0.0 * p + 1e-3)
            p -= lr * p.grad


def test_check_optimizer_passes_a_correct_sgd():
    check_optimizer(lambda ps: Plain(ps, 0.1), lambda ps: torch.optim.SGD(ps, lr=0.1),
                    shapes=((3,), (2, 2), (1,)), steps=20, lr_factor_at=10, frozen=(2,),
                    intermittent=(1,))


@pytest.mark.parametrize("kwargs, message", [
    ({"touch_grad": True}, "changed parameter 0's gradient"),
    ({"read_lr_once": True}, "after step 10"),
    ({"skip_none": False}, "NoneType|no gradient"),
])
def test_check_optimizer_catches(kwargs, message):
    with pytest.raises((CheckFailed, TypeError), match=message):
        check_optimizer(lambda ps: Plain(ps, 0.1, **kwargs), lambda ps: torch.optim.SGD(ps, lr=0.1),
                        shapes=((3,), (2,)), steps=20, lr_factor_at=10, frozen=(1,))


def test_check_optimizer_catches_a_wrong_rate_at_the_first_step():
    with pytest.raises(CheckFailed, match="parameter 0 of shape \\(3,\\) after step 1"):
        check_optimizer(lambda ps: Plain(ps, 0.11), lambda ps: torch.optim.SGD(ps, lr=0.1), steps=5)


def test_surfaces_are_evaluated_per_point_of_a_batch():
    A = rotated_hessian((1.0, 10.0), 20)
    f, grad = quadratic(A)
    x = torch.tensor([[[-1.2, 1.0], [0.3, -0.7], [2.0, 0.5]]], dtype=torch.float64)  # [1, 3, 2]
    expected = torch.stack([0.5 * p @ A @ p for p in x[0]])[None]
    torch.testing.assert_close(f(x), expected)
    point = torch.tensor([0.3, -0.7], dtype=torch.float64)  # one point [2]: a scalar, grad [2]
    torch.testing.assert_close(f(point), 0.5 * point @ A @ point)
    x1, x2 = point
    torch.testing.assert_close(rosenbrock_grad(point), torch.stack(
        [-2 * (1 - x1) - 400 * x1 * (x2 - x1 ** 2), 200 * (x2 - x1 ** 2)]))
    assert rosenbrock_grad(x).shape == x.shape


def test_rotated_hessian_turns_by_30_degrees_unless_told_otherwise():
    A = rotated_hessian()
    vals, vecs = torch.linalg.eigh(A)
    torch.testing.assert_close(vals, torch.tensor([1.0, 50.0], dtype=torch.float64))
    angle = torch.rad2deg(torch.atan2(vecs[1, 0], vecs[0, 0])).item() % 180  # the flat axis
    assert angle == pytest.approx(30.0)
