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


# ---------------------------------------------------------------- check_optimizer itself
class Recorder(torch.optim.SGD):
    """torch's SGD that records what check_optimizer does to it."""

    def __init__(self, params, lr=0.1, **kw):
        super().__init__(params, lr=lr, **kw)
        self.init = [p.detach().clone() for p in self.param_groups[0]["params"]]
        self.lrs = []

    def step(self, closure=None):
        self.lrs.append(self.param_groups[0]["lr"])
        return super().step(closure)


def _run(seed=None, **kw):
    made = []

    def make(ps):
        made.append(Recorder(ps))
        return made[-1]

    extra = {} if seed is None else {"seed": seed}
    check_optimizer(make, lambda ps: torch.optim.SGD(ps, lr=0.1), **extra, **kw)
    return made[0]


def test_check_optimizer_runs_the_steps_asked_from_seeded_float64_parameters():
    a, b, c = _run(steps=5), _run(seed=0, steps=5), _run(seed=1, steps=5)
    assert _run(steps=5, lr_factor_at=3).lrs == [0.1, 0.1, 0.01, 0.01, 0.01]  # divided by 10
    assert [p.shape for p in a.init] == [(3,), (2, 4)]
    assert all(p.dtype == torch.float64 for p in a.init)
    assert all(torch.equal(p, q) for p, q in zip(a.init, b.init, strict=True))  # seed 0
    assert not torch.equal(a.init[0], c.init[0])
    # the same seed, the same loss at every step: the same trajectory
    for p, q in zip(a.param_groups[0]["params"][:1], b.param_groups[0]["params"][:1], strict=True):
        assert not torch.equal(p, a.init[0]) and torch.equal(p, q)
    assert len(_run().lrs) == 100  # 100 steps unless told otherwise


class HandSGD:
    """A hand-written SGD with momentum whose zero_grad leaves zeros (or, with
    ``leave_grad``, a fraction of the gradient): with momentum, a step without a gradient
    still moves the parameter (torch's SGD skips it: its gradient is None)."""

    def __init__(self, params, lr=0.1, momentum=0.0, leave_grad=0.0):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.mu, self.leave = momentum, leave_grad
        self.buf = [torch.zeros_like(p) for p in self.param_groups[0]["params"]]

    def zero_grad(self):
        for p in self.param_groups[0]["params"]:
            if p.grad is not None:
                p.grad.mul_(self.leave)  # 0.0: zeros left, as set_to_none=False does

    @torch.no_grad()
    def step(self):
        lr = self.param_groups[0]["lr"]
        for p, b in zip(self.param_groups[0]["params"], self.buf, strict=True):
            if p.grad is None:
                continue
            b.mul_(self.mu).add_(p.grad)
            p -= lr * b


def _sgd(ps, momentum=0.0):
    return torch.optim.SGD(ps, lr=0.1, momentum=momentum)


def test_check_optimizer_names_the_step_the_parameter_and_why():
    check_optimizer(lambda ps: HandSGD(ps), _sgd, steps=10)  # zeros left by zero_grad: fine
    with pytest.raises(CheckFailed) as info:
        check_optimizer(lambda ps: HandSGD(ps, leave_grad=1e-6), _sgd, steps=10)
    assert str(info.value) == "optimizer: zero_grad() left a non-zero gradient (step 2)"
    with pytest.raises(CheckFailed, match=r"^opt: parameter 0 of shape \(3,\) after step 1: "):
        check_optimizer(lambda ps: HandSGD(ps, lr=0.2), _sgd, steps=3, name="opt")
    with pytest.raises(CheckFailed, match=r"parameter 1 of shape \(2,\) after step 2 \(it has a "
                                          r"gradient only every other step\): "):
        check_optimizer(lambda ps: HandSGD(ps, momentum=0.9), lambda ps: _sgd(ps, 0.9), shapes=((3,), (2,)), steps=6,
                        intermittent=(1,))
    with pytest.raises(CheckFailed, match=r"parameter 1 of shape \(2,\) after step 1 \(it has "
                                          r"no gradient: skip it\): "):
        check_optimizer(_Mover, _sgd, shapes=((3,), (2,)), steps=3, frozen=(1,))


class _Mover(torch.optim.SGD):
    """SGD that also shrinks parameters without a gradient (a weight decay applied to all)."""

    def __init__(self, params):
        super().__init__(params, lr=0.1)

    @torch.no_grad()
    def step(self, closure=None):
        super().step()
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                p.mul_(0.99)


def test_check_optimizer_uses_the_tolerances_given_and_says_how_to_fix_a_touched_gradient():
    check_optimizer(lambda ps: Plain(ps, 0.101), _sgd, steps=3, rtol=0.5, atol=0.0)
    check_optimizer(lambda ps: Plain(ps, 0.101), _sgd, steps=3, rtol=0.0, atol=1.0)
    with pytest.raises(CheckFailed):
        check_optimizer(lambda ps: Plain(ps, 0.1 * (1 + 1e-6)), _sgd, steps=3)  # rtol 1e-7
    with pytest.raises(CheckFailed, match=r"changed parameter 0's gradient p\.grad \(step 1\); "
                                          r"leave it alone: g = p\.grad \+ wd \* p, not "
                                          r"p\.grad\.add_\(\.\.\.\)$"):
        check_optimizer(lambda ps: Plain(ps, 0.1, touch_grad=True), _sgd, steps=3)


class EpsInSqrtAdam(torch.optim.Adam):
    """Adam with eps inside the square root: wrong only where gradients are small."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                b1, b2 = group["betas"]
                st["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat, v_hat = st["m"] / (1 - b1 ** st["t"]), st["v"] / (1 - b2 ** st["t"])
                p -= group["lr"] * m_hat / torch.sqrt(v_hat + group["eps"])


def test_check_optimizer_reaches_gradients_small_enough_to_show_a_misplaced_eps():
    with pytest.raises(CheckFailed):
        check_optimizer(lambda ps: EpsInSqrtAdam(ps, lr=1e-2),
                        lambda ps: torch.optim.Adam(ps, lr=1e-2), steps=10)
