"""Probes of seminar 06 (coursekit/probe.py): each runs the student's optimizer (or
schedule) on parameters and a changing loss drawn from the grader's seed and returns every
parameter after every step; the grader compares that with what the solution's class does on
the same inputs, in another process (the solution's own tests prove it equal to
``torch.optim``). A probe never touches ``torch.optim``."""

from functools import partial

import torch

from coursekit.probe import need, probe
from utils.optim import _loss

SKIP = ("schedule-helper",)  # the visible test's helper (it runs torch.optim's schedulers)

# What torch.optim dispatches and a hand-written step does not: the multi-tensor path
# (foreach=True) the _foreach_ kernels, the fused path (fused=True) the _fused_ ones. Its
# default single-tensor path on CPU (and its functional forms, torch.optim.adam.adam, ...)
# dispatches the operators a hand-written step does: the recorder's record of torch.optim's
# Python code (the task's forbid rule) covers it. (Optimizer.step also enters a profiler
# record_function, profiler::_record_function_enter_new: not an ATen operator.)
OPTIM = ("aten::_foreach_add", "aten::_foreach_add_", "aten::_foreach_mul", "aten::_foreach_mul_",
         "aten::_foreach_addcmul", "aten::_foreach_addcmul_", "aten::_foreach_addcdiv",
         "aten::_foreach_addcdiv_", "aten::_foreach_sqrt", "aten::_foreach_sqrt_",
         "aten::_foreach_lerp_", "aten::_foreach_div", "aten::_foreach_div_",
         "aten::_foreach_maximum_", "aten::_foreach_sub", "aten::_foreach_sub_",
         "aten::_foreach_neg", "aten::_foreach_pow")
SGD_OPS = OPTIM + ("aten::_fused_sgd_",)
RMSPROP_OPS = OPTIM
ADAM_OPS = OPTIM + ("aten::_fused_adam_", "aten::_fused_adamw_")


def _run(make, shapes, steps, seed, lr_factor_at=None, frozen=(), intermittent=()):
    """The student's optimizer ``make(params)`` on float64 parameters of ``shapes`` and the
    loss of utils.optim.check_optimizer (its gradient changes every step); every parameter
    after every step [steps, *shape], and what step() and zero_grad() did to p.grad."""
    gen = torch.Generator().manual_seed(seed)
    init = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    scales = [10 ** (5 * torch.rand(s, generator=gen, dtype=torch.float64) - 4) for s in shapes]
    targets = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    params = [p.clone().requires_grad_() for p in init]
    opt = make(params)
    path = [[] for _ in shapes]
    grad_changed, grad_left = 0, 0
    for t in range(1, steps + 1):
        live = [i for i in range(len(shapes))
                if i not in frozen and not (i in intermittent and t % 2 == 0)]
        if t == lr_factor_at:  # as a scheduler would do: step() must read it every time
            for group in opt.param_groups:
                group["lr"] = group["lr"] / 10
        opt.zero_grad()
        grad_left += any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
        _loss([params[i] for i in live], [scales[i] for i in live],
              [targets[i] for i in live], t).backward()
        grads = [None if p.grad is None else p.grad.clone() for p in params]
        opt.step()
        grad_changed += any(g is not None and (p.grad is None or not torch.equal(p.grad, g))
                            for p, g in zip(params, grads, strict=True))
        for i, p in enumerate(params):
            path[i].append(p.detach().clone())
    return [torch.stack(p) for p in path], grad_changed, grad_left


def _cases(rng, make_class, cases):
    out = {}
    for kwargs, shapes, steps, extra in cases:
        seed = int(rng.integers(2**31))
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        where = [f"lr / 10 at step {extra['lr_factor_at']}"] if "lr_factor_at" in extra else []
        where += [f"parameter {i} without gradient (skip it)" for i in extra.get("frozen", ())]
        where += [f"parameter {i} with a gradient every other step (its own step count)"
                  for i in extra.get("intermittent", ())]
        tag = f"({args}) on shapes {[list(s) for s in shapes]}" + \
            (f", {'; '.join(where)}" if where else "")
        path, changed, left = _run(partial(make_class, **kwargs), shapes, steps, seed,
                                   **extra)
        out[f"{tag}: steps that changed p.grad (g = p.grad + wd * p, not p.grad.add_(...))"] \
            = changed
        out[f"{tag}: steps after which zero_grad() left a gradient"] = left
        for i, p in enumerate(path):
            out[f"{tag}: parameter {i} after every step (first index: the step - 1)"] = p
    return out


def _draw(rng, low, high):
    return round(float(rng.uniform(low, high)), 4)


@probe("momentum", rtol=1e-7, atol=1e-10, ops=SGD_OPS)
def momentum(ns, rng):
    return _cases(rng, need(ns, "MomentumSGD"), [
        (dict(lr=0.05, momentum=0.9, weight_decay=0.01), ((3,), (2, 4)), 100,
         {"lr_factor_at": 50}),
        (dict(lr=0.02, momentum=0.8, dampening=0.3), ((5,), (2, 3), (5,)), 60, {}),
        (dict(lr=0.1, momentum=0.5, dampening=0.5, weight_decay=0.1), ((3, 3), (7,), (2,)), 60,
         {"frozen": (1,), "lr_factor_at": 20}),
        (dict(lr=_draw(rng, 0.01, 0.1), momentum=_draw(rng, 0.5, 0.95),
              dampening=_draw(rng, 0.1, 0.9), weight_decay=_draw(rng, 0.0, 0.1)),
         ((4,), (4,)), 40, {"lr_factor_at": 15})])


@probe("nesterov", rtol=1e-7, atol=1e-10, ops=SGD_OPS)
def nesterov(ns, rng):
    return _cases(rng, need(ns, "Nesterov"), [
        (dict(lr=0.05, momentum=0.9, weight_decay=0.01), ((3,), (2, 4)), 100,
         {"lr_factor_at": 50}),
        (dict(lr=0.03, momentum=0.7), ((6,), (2, 2, 2), (1,)), 60, {"frozen": (2,)}),
        (dict(lr=_draw(rng, 0.01, 0.1), momentum=_draw(rng, 0.5, 0.95),
              weight_decay=_draw(rng, 0.0, 0.1)), ((5,), (3, 2)), 40, {})])


@probe("rmsprop", rtol=1e-7, atol=1e-10, ops=RMSPROP_OPS)
def rmsprop(ns, rng):
    return _cases(rng, need(ns, "RMSprop"), [
        (dict(lr=0.01, alpha=0.9, weight_decay=0.01), ((3,), (2, 4)), 100, {"lr_factor_at": 50}),
        (dict(lr=0.01, alpha=0.9, centered=True), ((3,), (2, 4)), 100, {}),
        (dict(lr=3e-3, alpha=0.99, eps=1e-4, centered=True, weight_decay=0.05),
         ((4, 5), (3,), (2, 1)), 60, {"frozen": (0,), "lr_factor_at": 30}),
        (dict(lr=1e-3, alpha=0.8, eps=1e-3), ((8,),), 40, {}),
        (dict(lr=_draw(rng, 1e-3, 1e-2), alpha=_draw(rng, 0.8, 0.99), centered=True,
              weight_decay=_draw(rng, 0.0, 0.1)), ((3, 2),), 40, {})])


@probe("adam", rtol=1e-7, atol=1e-10, ops=ADAM_OPS)
def adam(ns, rng):
    return _cases(rng, need(ns, "Adam"), [
        (dict(lr=0.01, weight_decay=0.01), ((3,), (2, 4)), 100, {"lr_factor_at": 50}),
        (dict(lr=0.01, amsgrad=True), ((3,), (2, 4)), 100, {}),
        (dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), ((2, 3, 2), (5,), (1,)),
         60, {"frozen": (1,), "intermittent": (2,), "lr_factor_at": 10}),
        (dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, amsgrad=True), ((3,), (3, 3)), 60, {}),
        (dict(lr=_draw(rng, 1e-3, 5e-2), betas=(_draw(rng, 0.5, 0.95), _draw(rng, 0.9, 0.999)),
              weight_decay=_draw(rng, 0.0, 0.1), amsgrad=bool(rng.integers(2))),
         ((4,), (2, 2)), 40, {"intermittent": (0,)})])


class _Groups:
    """An optimizer as a schedule sees it: param_groups with their learning rates."""
    def __init__(self, lrs):
        self.param_groups = [{"params": [], "lr": lr} for lr in lrs]


@probe("warmup-cosine", rtol=1e-9, atol=1e-12)
def warmup_cosine(ns, rng):
    WarmupCosine, HandOptimizer, out = need(ns, "WarmupCosine"), need(ns, "HandOptimizer"), {}
    cases = [(5, 30, 0.1, 0.0, (0.1, 0.02)), (3, 12, 0.25, 1e-3, (0.5, 0.05, 0.2)),
             (10, 11, 0.01, 1e-4, (0.1, 0.02)), (2, 6, 0.5, 0.0, (0.4,))]
    w = int(rng.integers(1, 8))
    cases.append((w, w + int(rng.integers(1, 20)), _draw(rng, 0.0, 1.0), _draw(rng, 0.0, 1e-3),
                  tuple(_draw(rng, 1e-3, 1.0) for _ in range(int(rng.integers(1, 4))))))
    for k, (w, T, f0, eta_min, lrs) in enumerate(cases):
        opt = _Groups(lrs) if k != 3 else HandOptimizer([torch.zeros(2, requires_grad=True)],
                                                        lr=lrs[0])
        tag = f"warmup {w}, total {T}, start_factor {f0}, eta_min {eta_min}, base lrs {list(lrs)}"
        if k == 3:
            tag += " (a HandOptimizer)"
        schedule = WarmupCosine(opt, w, T, start_factor=f0, eta_min=eta_min)
        groups, last, kinds = [], [], set()
        for _ in range(T + 1):
            got = schedule.get_last_lr()
            kinds |= {f"{type(got).__name__} of " + ", ".join(sorted({type(v).__name__
                                                                        for v in got}))}
            groups.append([float(g["lr"]) for g in opt.param_groups])
            last.append([float(v) for v in got])
            schedule.step()
        out[f"type of get_last_lr() on {tag} (a list of floats)"] = sorted(kinds)
        out[f"each group's lr at t = 0..{T} on {tag}"] = groups
        out[f"get_last_lr() at t = 0..{T} on {tag}"] = last
    return out


@probe("adam-question", rtol=0, atol=0)
def adam_question(ns, rng):
    answer = need(ns, "ANSWER_FLIP_STEP")
    return {"type of ANSWER_FLIP_STEP (a Python int)": type(answer).__name__,
            "ANSWER_FLIP_STEP (the step's sign is the sign of the first moment m: sum the "
            "geometric series of m after the flip)": repr(answer)}
