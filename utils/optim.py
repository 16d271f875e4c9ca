"""Helpers of unit 06 (optimizers): two test surfaces and a step-for-step comparison of a
hand-written optimizer with its ``torch.optim`` counterpart.

- ``quadratic(A)``: ``f(x) = 1/2 x^T A x`` and its gradient, vectorised over rows of ``x``
  [..., 2]; ``rotated_hessian(eigenvalues, degrees)`` builds an ill-conditioned ``A``
  whose axes are turned away from the coordinate axes.
- ``rosenbrock(x)`` / ``rosenbrock_grad(x)``: ``(1 - x1)^2 + 100 (x2 - x1^2)^2``.
- ``check_optimizer(make, make_ref, ...)``: both optimizers from the same float64
  parameters on the same changing loss; every parameter compared after every step.
"""
from __future__ import annotations

import math


def rotated_hessian(eigenvalues=(1.0, 50.0), degrees: float = 30.0):
    """The 2x2 symmetric matrix ``R diag(eigenvalues) R^T`` with ``R`` a rotation by
    ``degrees`` (float64). Its condition number is max/min of ``eigenvalues``."""
    import torch

    t = math.radians(degrees)
    R = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]],
                     dtype=torch.float64)
    return R @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ R.T


def quadratic(A):
    """``(f, grad)`` of ``f(x) = 1/2 x^T A x`` for points ``x`` [..., n] (one per row)."""
    def f(x):
        return 0.5 * ((x @ A) * x).sum(-1)

    def grad(x):
        return x @ A  # A is symmetric

    return f, grad


def rosenbrock(x):
    """``(1 - x1)^2 + 100 (x2 - x1^2)^2`` for points ``x`` [..., 2]; minimum 0 at (1, 1)."""
    x1, x2 = x[..., 0], x[..., 1]
    return (1 - x1) ** 2 + 100 * (x2 - x1 ** 2) ** 2


def rosenbrock_grad(x):
    """The gradient of ``rosenbrock`` at ``x`` [..., 2], same shape."""
    import torch

    x1, x2 = x[..., 0], x[..., 1]
    return torch.stack([-2 * (1 - x1) - 400 * x1 * (x2 - x1 ** 2),
                        200 * (x2 - x1 ** 2)], dim=-1)


def _loss(params, scales, targets, step):
    """A loss whose gradient changes from step to step like a minibatch gradient: per
    entry ``s * (1/2 (p - c_t)^2 + 0.1 sin(3 p))`` with scales ``s`` spanning 1e-4..10
    (small gradients are where an ``eps`` in the wrong place shows) and targets
    ``c_t`` that jitter with the step."""
    total = 0.0
    for p, s, c in zip(params, scales, targets, strict=True):
        c_t = c + 0.3 * math.sin(0.7 * step + 1.0) * (1 + 0.1 * c)
        total = total + (s * (0.5 * (p - c_t) ** 2 + 0.1 * (3 * p).sin())).sum()
    return total


def check_optimizer(make, make_ref, shapes=((3,), (2, 4)), steps: int = 100, seed: int = 0,
                    lr_factor_at: int | None = None, frozen=(), intermittent=(),
                    name: str = "optimizer",
                    rtol: float = 1e-7, atol: float = 1e-10) -> None:
    """Raise ``CheckFailed`` unless the optimizer ``make(params)`` moves float64
    parameters of ``shapes`` exactly as ``make_ref(params)`` (a ``torch.optim`` one) does.

    Both start from the same values and see the same loss (whose gradient changes every
    step). After every ``step()`` each parameter is compared (the message names the step
    and the parameter). Also checked: ``step()`` leaves every ``p.grad`` unchanged,
    ``zero_grad()`` leaves no gradient behind (None or zeros), parameters whose indices
    are in ``frozen`` get no gradient (``grad is None``) and must not move, those in
    ``intermittent`` get none on every other step (a step without a gradient is not a
    step for that parameter: its own step count must not advance), and at step
    ``lr_factor_at`` the learning rate in ``param_groups`` is divided by 10 in both (as
    a scheduler would do): the optimizer must read it at every step.
    """
    import torch

    from .checks import CheckFailed, check_close

    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    scales = [10 ** (5 * torch.rand(s, generator=gen, dtype=torch.float64) - 4) for s in shapes]
    targets = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    mine = [p.clone().requires_grad_() for p in init]
    ref = [p.clone().requires_grad_() for p in init]
    opt, opt_ref = make(mine), make_ref(ref)
    for t in range(1, steps + 1):
        live = [i for i in range(len(shapes))
                if i not in frozen and not (i in intermittent and t % 2 == 0)]
        if t == lr_factor_at:
            for o in (opt, opt_ref):
                for group in o.param_groups:
                    group["lr"] = group["lr"] / 10
        for o, ps in ((opt, mine), (opt_ref, ref)):
            o.zero_grad()
            if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in ps):
                raise CheckFailed(f"{name}: zero_grad() left a non-zero gradient (step {t})")
            _loss([ps[i] for i in live], [scales[i] for i in live],
                  [targets[i] for i in live], t).backward()
        grads = [None if p.grad is None else p.grad.clone() for p in mine]
        opt.step()
        opt_ref.step()
        for i, (p, g) in enumerate(zip(mine, grads, strict=True)):
            if g is not None and (p.grad is None or not torch.equal(p.grad, g)):
                raise CheckFailed(
                    f"{name}: step() changed parameter {i}'s gradient p.grad (step {t}); "
                    "leave it alone: g = p.grad + wd * p, not p.grad.add_(...)")
        for i, (p, q) in enumerate(zip(mine, ref, strict=True)):
            what = (" (it has no gradient: skip it)" if i in frozen else
                    " (it has a gradient only every other step)" if i in intermittent else "")
            check_close(p, q, f"{name}: parameter {i} of shape {tuple(p.shape)} after "
                        f"step {t}{what}", rtol=rtol, atol=atol)
