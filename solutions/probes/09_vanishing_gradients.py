"""Probes of seminar 09 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from coursekit.probe import need, probe
from utils.checks import call_unchanged
from utils.data import load_digits_splits, make_loaders
from utils.functional import standardize
from utils.training import fit

SKIP = ()  # the 'deep-plain' cell defines residual_sigmoid_net, which an answer may use


def _seed_torch(rng):
    torch.manual_seed(int(rng.integers(2**31)))


def _fill(module, rng, scale=1.0):
    """Every parameter of module drawn from rng (float64), by name: the values do not depend
    on the order in which the student's code created them."""
    with torch.no_grad():
        for _, q in module.named_parameters():
            q.copy_(torch.tensor(scale * rng.standard_normal(tuple(q.shape))))


# ----------------------------------------------------------------------------- Task 1, 1b
@probe("chain-question", rtol=1e-3, atol=0)
def chain_question(ns, rng):
    v = need(ns, "ANSWER_CHAIN")
    return {"type of ANSWER_CHAIN (a float)": type(v).__name__,
            "ANSWER_CHAIN (six sigma' factors of at most 1/4, five |w| of at most 2)":
                v if type(v) is float else None}


@probe("growth-question")
def growth_question(ns, rng):
    v = need(ns, "ANSWER_GROWTH")
    return {"type of ANSWER_GROWTH (a str)": type(v).__name__,
            "ANSWER_GROWTH (one of the letters 'a', 'b', 'c')": v if type(v) is str else None}


# ----------------------------------------------------------------------------- Task 2
def _sigmoid_chain(rng, depth, width, n_in, n_out):
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    layers = []
    for i in range(depth):
        layers += [nn.Linear(sizes[i], sizes[i + 1])] + ([nn.Sigmoid()] if i < depth - 1 else [])
    net = nn.Sequential(*layers).double()
    _fill(net, rng)
    return net


def _probe_case(f, rng, net, X, y, loss_fn, p, out, tag):
    for q in net.parameters():                               # gradients waiting from a step
        q.grad = torch.tensor(rng.standard_normal(tuple(q.shape)))
    got = call_unchanged(f, net, X, y, loss_fn, p, name="grad_norm_probe")
    ok = isinstance(got, tuple) and len(got) == 2
    out[f"{tag}: returns (weight_norms, signal_norms), lists of floats"] = \
        ok and all(isinstance(v, list) and all(type(a) is float for a in v) for v in got)
    out[f"{tag}: weight_norms, |dL/dW| of each nn.Linear (input layer first)"] = \
        list(got[0]) if ok else None
    out[f"{tag}: signal_norms, |dL/dz| at each nn.Linear's output (before its activation)"] = \
        list(got[1]) if ok else None
    out[f"{tag}: the .grad fields after the probe (they must not change: use "
        "torch.autograd.grad)"] = [None if q.grad is None else q.grad.detach().clone()
                                  for q in net.parameters()]


def _mse(out, t):
    return ((out - t) ** 2).sum()


@probe("probe", rtol=1e-6, atol=1e-12)
def probe_(ns, rng):
    f, out = need(ns, "grad_norm_probe"), {}
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 7), nn.Sigmoid(),
                        nn.Linear(7, 3)).double()
    _fill(net, rng)
    X, y = torch.tensor(rng.standard_normal((8, 5))), torch.tensor(rng.integers(0, 3, 8))
    _probe_case(f, rng, net, X, y, F.cross_entropy, 2.0, out, "tanh/sigmoid net, batch 8, 2-norm")
    deep = _sigmoid_chain(rng, 6, 4, 3, 2)
    X1, t1 = torch.tensor(rng.standard_normal((1, 3))), torch.tensor(rng.standard_normal((1, 2)))
    for p in (1.0, float("inf"), 3.0):
        _probe_case(f, rng, deep, X1, t1, _mse, p, out,
                    f"depth 6, batch 1, norm {p:g}, a summed loss")
    relu_net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2), nn.Tanh()).double()
    _fill(relu_net, rng)
    X2, y2 = torch.tensor(rng.standard_normal((10, 4))), torch.tensor(rng.integers(0, 2, 10))
    _probe_case(f, rng, relu_net, X2, y2, F.cross_entropy, 2.0, out, "ends in Tanh")
    depth = int(rng.integers(8, 13))
    chain = _sigmoid_chain(rng, depth, 6, 5, 3)
    X3, y3 = torch.tensor(rng.standard_normal((16, 5))), torch.tensor(rng.integers(0, 3, 16))
    _probe_case(f, rng, chain, X3, y3, F.cross_entropy, 2.0, out,
                f"a {depth}-layer sigmoid chain, batch 16")
    return out


# ----------------------------------------------------------------------------- Task 3
@probe("block", rtol=1e-10, atol=1e-12)
def block(ns, rng):
    cls, out = need(ns, "ResidualBlock"), {}
    for d_in, d_hidden, d_out, shape in [(6, 8, 6, (5,)), (6, 8, 3, (5,)), (3, 2, 3, (1,)),
                                         (4, 9, 7, (2, 3)),
                                         (int(rng.integers(2, 9)), 5, int(rng.integers(2, 9)), (4,))]:
        tag = f"ResidualBlock({d_in}, {d_hidden}, {d_out})"
        _seed_torch(rng)
        blk = cls(d_in, d_hidden, d_out).double()
        out[f"{tag}: parameters (name, shape): fc1, fc2 and, when d_in != d_out, a bias-free "
            "shortcut.weight"] = [[n, list(q.shape)] for n, q in blk.named_parameters()]
        out[f"{tag}: type of the shortcut"] = type(getattr(blk, "shortcut", None)).__name__
        _fill(blk, rng)
        x = torch.tensor(rng.standard_normal((*shape, d_in)))
        out[f"{tag}: output on [{', '.join(map(str, shape))}, {d_in}] (no activation after "
            "the sum)"] = call_unchanged(blk, x, name="ResidualBlock.forward")
        with torch.no_grad():                               # R = 0: the block is its shortcut
            blk.fc2.weight.zero_()
            blk.fc2.bias.zero_()
        out[f"{tag}: output with fc2 = 0 (the shortcut alone)"] = blk(x)
    return out


# ----------------------------------------------------------------------------- Task 4
class _Block(nn.Module):
    """A block of Task 3's contract (the grader's own: the student's backward gets it)."""

    def __init__(self, d_in, d_hidden, d_out):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, d_out)
        self.shortcut = nn.Linear(d_in, d_out, bias=False) if d_in != d_out else nn.Identity()

    def forward(self, x):
        return self.shortcut(x) + self.fc2(torch.relu(self.fc1(x)))


@probe("residual-backward", rtol=1e-9, atol=1e-12)
def residual_backward(ns, rng):
    f, out = need(ns, "residual_backward"), {}
    for d_in, d_hidden, d_out, B in [(4, 6, 4, 5), (5, 3, 2, 4), (3, 7, 3, 1), (2, 4, 6, 3),
                                     (int(rng.integers(2, 7)), 5, int(rng.integers(2, 7)), 6)]:
        blk = _Block(d_in, d_hidden, d_out).double()
        _fill(blk, rng)
        x, dy = torch.tensor(rng.standard_normal((B, d_in))), torch.tensor(rng.standard_normal((B, d_out)))
        x[0] = 0.0                                          # with b1[0] = 0: a[0, 0] = 0 exactly
        with torch.no_grad():
            blk.fc1.bias[0] = 0.0
        res = call_unchanged(f, blk, x, dy, name="residual_backward")
        dx, grads = res if isinstance(res, tuple) and len(res) == 2 else (res, None)
        tag = f"d_in {d_in}, d_hidden {d_hidden}, d_out {d_out}, batch {B}"
        names = [n for n, _ in blk.named_parameters()]
        out[f"{tag}: the keys of grads (the names of block.named_parameters())"] = \
            sorted(grads) if isinstance(grads, dict) else type(grads).__name__
        out[f"{tag}: dx (the skip adds dl/dy itself (identity) or dl/dy W_s (projection); "
            "ReLU'(0) = 0)"] = dx
        for n in names:
            out[f"{tag}: d{n}"] = grads.get(n) if isinstance(grads, dict) else None
    return out


# ----------------------------------------------------------------------------- Task 5, 6
def _grads_of(rng, shapes, scale=1.0, dtype=torch.float64):
    params = [nn.Parameter(torch.tensor(rng.standard_normal(s), dtype=dtype)) for s in shapes]
    for q in params:
        q.grad = torch.tensor(scale * rng.standard_normal(tuple(q.shape)), dtype=dtype)
    return params


def _state(params):
    return [[q.detach().clone(), None if q.grad is None else q.grad.clone()] for q in params]


# torch's clipping dispatches these on the CPU (its foreach path); a student's own code never
# needs the private torch._foreach_* functions
CLIP_NORM_OPS = ("aten::_foreach_norm", "aten::_foreach_mul_", "aten::_foreach_mul")
CLIP_VALUE_OPS = ("aten::_foreach_clamp_min_", "aten::_foreach_clamp_max_",
                  "aten::_foreach_clamp_min", "aten::_foreach_clamp_max")


@probe("clip-norm", rtol=1e-5, atol=1e-12, ops=CLIP_NORM_OPS)
def clip_norm(ns, rng):
    f, out = need(ns, "clip_grad_norm"), {}
    cases = [([(3, 4), (4,), (2, 3, 2)], 1.0, 2.0, 1.0, torch.float64, "active"),
             ([(3, 4), (4,)], 100.0, 2.0, 1.0, torch.float64, "norm below max_norm: unchanged"),
             ([(5,), (2, 2)], 1e-5, 2.0, 3e-5, torch.float64, "tiny gradients: the + 1e-6")]
    cases += [([(4, 2), (3,)], 0.5, p, 1.0, torch.float64, f"norm_type {p:g}")
              for p in (1.0, float("inf"), 3.0)]
    cases += [([(6, 5), (5,)], 2, 2.0, 1.0, torch.float32, "float32, int max_norm"),
              ([(int(rng.integers(2, 9)), 3)], float(rng.uniform(0.1, 1.0)), 2.0, 1.0,
               torch.float64, "one tensor in a list")]
    for shapes, max_norm, p, scale, dtype, tag in cases:
        params = _grads_of(rng, shapes, scale, dtype)
        total = f(params, max_norm, p)
        out[f"{tag}: type of the returned norm (a Python float)"] = type(total).__name__
        out[f"{tag}: returned total norm (the norm BEFORE clipping)"] = \
            total if type(total) is float else None
        out[f"{tag}: parameters and gradients after clipping (one factor for all tensors; "
            "only .grad changes)"] = _state(params)
    single = _grads_of(rng, [(7,)])
    out["a single tensor: returned norm"] = f(single[0], 0.3)
    out["a single tensor: parameter and gradient after clipping"] = _state(single)
    torch.manual_seed(int(rng.integers(2**31)))
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).double()
    net(torch.tensor(rng.standard_normal((2, 3)))).sum().backward()
    net[1].bias.grad = None                                  # skipped
    out["net.parameters() (a generator) with a None gradient: returned norm"] = \
        f(net.parameters(), 0.1)
    out["net.parameters(): parameters and gradients after clipping (None stays None)"] = \
        _state(net.parameters())
    out["no gradients at all: returned norm (0.0)"] = f([nn.Parameter(torch.ones(2))], 1.0)
    return out


@probe("clip-value", rtol=0, atol=0, ops=CLIP_VALUE_OPS)
def clip_value(ns, rng):
    f, out = need(ns, "clip_grad_value"), {}
    params = _grads_of(rng, [(4, 3), (5,)])
    out["clip_grad_value returns None (it works in place)"] = f(params, 0.5) is None
    out["gradients clipped to [-0.5, 0.5] (both sides), parameters unchanged"] = _state(params)
    c = float(rng.uniform(0.5, 3.0))
    single = _grads_of(rng, [(6,)], scale=10.0)
    f(single[0], c)
    out[f"a single tensor, clip_value {c:.3f}"] = _state(single)
    single = _grads_of(rng, [(5, 4)], scale=10.0)
    f(single[0], 2)
    out["a single 2-D tensor, clip_value 2 (an int)"] = _state(single)
    mixed = _grads_of(rng, [(3, 3), (2,)])
    mixed[1].grad = None
    f(iter(mixed), 0.1)
    out["a generator with a None gradient (None stays None)"] = _state(mixed)
    return out


# ----------------------------------------------------------------------------- Task 7
VAL_BAR, EPOCHS = 0.9, 4  # the task's bar and budget: 4 epochs of Adam (lr 1e-3, batches of 128)


def _structure(f, depth, width, n_in, n_out, rng, out):
    _seed_torch(rng)
    net = f(depth, width, n_in, n_out)
    tag = f"fixed_deep_net({depth}, {width}, {n_in}, {n_out})"
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    out[f"{tag}: number of nn.Linear layers"] = len(linears)
    y = net(torch.tensor(rng.standard_normal((5, n_in)), dtype=torch.float32))
    out[f"{tag}: output shape on a batch of 5"] = list(y.shape)
    y.square().sum().backward()
    out[f"{tag}: linear layers that get no gradient (every layer must be on the path to the "
        "output)"] = [i for i, m in enumerate(linears)
                      if m.weight.grad is None or not m.weight.grad.abs().sum() > 0]


def _accuracy_run(f, seed, data, X_held):
    """The grader's train_deep: the student's net, the task's budget, the grader's data."""
    X_tr, y_tr, X_va, y_va = data
    torch.manual_seed(seed)
    net = f(23, 48)
    net.eval()
    with torch.no_grad():
        before = net(X_held).argmax(1)
    train_loader, _ = make_loaders(X_tr, y_tr, X_va, y_va, batch_size=128, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    fit(net, train_loader, nn.CrossEntropyLoss(), opt, epochs=EPOCHS, device="cpu", progress=False)
    net.eval()
    with torch.no_grad():
        return before, net(X_held).argmax(1)


@probe("deep-net", rtol=1e-6, atol=0, score=[
    {"predictions": "23 x 48, first seed: classes of held-out digits after 4 epochs",
     "truth": "held-out digits: labels", "metric": "accuracy", "at_least": VAL_BAR},
    {"predictions": "23 x 48, second seed: classes of held-out digits after 4 epochs",
     "truth": "held-out digits: labels", "metric": "accuracy", "at_least": VAL_BAR},
    {"predictions": "23 x 48, first seed: classes of held-out digits before training",
     "truth": "held-out digits: labels", "metric": "accuracy", "at_most": 0.5}])
def deep_net(ns, rng):
    f, out = need(ns, "fixed_deep_net"), {}
    for depth, width, n_in, n_out in [(20, 64, 64, 10), (7, 5, 3, 2), (23, 48, 64, 10),
                                      (int(rng.integers(10, 26)), 32, 64, 10)]:
        _structure(f, depth, width, n_in, n_out, rng, out)
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_digits_splits()
    X_tr, X_va, X_te = standardize(X_tr, X_va, X_te)
    X_held, y_held = torch.cat([X_va, X_te]), torch.cat([y_va, y_te])
    pick = torch.tensor(rng.choice(len(y_held), 500, replace=False))
    out["held-out digits: labels"] = y_held[pick]
    seeds = [int(s) for s in rng.choice(1000, 2, replace=False)]
    for which, seed in zip(("first", "second"), seeds, strict=True):
        before, after = _accuracy_run(f, seed, (X_tr, y_tr, X_va, y_va), X_held[pick])
        if which == "first":
            out["23 x 48, first seed: classes of held-out digits before training"] = before
        out[f"23 x 48, {which} seed: classes of held-out digits after 4 epochs"] = after
    return out

