"""Probes of seminar 07 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import copy

import torch

from coursekit.probe import need, probe
from utils.checks import call_unchanged
from utils.data import load_digits_splits
from utils.functional import standardize

SKIP = ("train-digits", "train-plot")  # the notebook's own training run and its plot

# the ATen operators behind the forbidden normalizations (by any name: torch.ops.aten.*,
# F.batch_norm, nn.BatchNorm2d, instance/group/layer norm, their private variants)
NORM_OPS = ("aten::native_batch_norm", "aten::_native_batch_norm_legit",
            "aten::_native_batch_norm_legit_no_training",
            "aten::_native_batch_norm_legit_functional", "aten::_batch_norm_with_update", "aten::_batch_norm_with_update_functional",
            "aten::_batch_norm_no_update", "aten::batch_norm_update_stats",
            "aten::batch_norm_stats", "aten::batch_norm_elemt",
            "aten::batch_norm_gather_stats", "aten::batch_norm_gather_stats_with_counts",
            "aten::cudnn_batch_norm", "aten::miopen_batch_norm", "aten::native_group_norm", "aten::native_layer_norm")
NORM_BACKWARD_OPS = ("aten::native_batch_norm_backward", "aten::batch_norm_backward",
                     "aten::batch_norm_backward_reduce", "aten::batch_norm_backward_elemt",
                     "aten::cudnn_batch_norm_backward", "aten::miopen_batch_norm_backward",
                     "aten::native_group_norm_backward", "aten::native_layer_norm_backward")


def _seed_torch(rng):
    torch.manual_seed(int(rng.integers(2**31)))


# ----------------------------------------------------------------------------- Task 1
def _init_case(f, shape, dtype):
    """What f (an initializer, called on a zero tensor of shape) did: in place or not, its
    dtype and autograd flag, the largest |w| (the bound, up to sampling: within 1e-4 for these
    sizes) and the shape of the distribution in units of it (a sample's statistics: they vary
    by about 0.005 between two samples; the tolerance is 0.02)."""
    W = torch.zeros(shape, dtype=dtype)
    out = f(W)
    w = W.detach().double().flatten()
    top = w.abs().max().item()
    u = w / max(top, 1e-300)
    return {"returns W itself, filled in place": out is W,
            "dtype of W after the call": str(W.dtype), "W requires grad": bool(W.requires_grad),
            "largest |w| x 1000 (the bound a x 1000, up to sampling)": 1000 * top,
            "standard deviation of w / largest |w|": u.std().item(),
            "fraction of the w with |w| < largest |w| / 2": (u.abs() < 0.5).double().mean().item(),
            "10 % and 90 % quantiles of w / largest |w|":
                torch.quantile(u, torch.tensor([0.1, 0.9], dtype=torch.float64))}


@probe("init", rtol=1e-3, atol=0.02)
def init(ns, rng):
    fans, xavier, kaiming = need(ns, "fans"), need(ns, "xavier_uniform_"), need(ns, "kaiming_uniform_")
    out = {}
    k = int(rng.integers(2, 6))
    for shape in [(30, 20), (16, 8, 3, 3), (5, 7), (6, 4, 9), (int(rng.integers(3, 40)), 3, k, k, 2)]:
        got = fans(shape)
        out[f"fans({shape}) as (fan_in, fan_out)"] = [int(v) for v in got]
    _seed_torch(rng)
    gain = float(rng.uniform(0.5, 2.0))
    slope = float(rng.uniform(0.1, 1.0))
    cases = [("xavier_uniform_ [400, 300]", xavier, (400, 300), torch.float64),
             (f"xavier_uniform_ conv [100, 60, 3, 3], gain {gain:.3f}",
              lambda W: xavier(W, gain=gain), (100, 60, 3, 3), torch.float64),
             ("kaiming_uniform_ (ReLU) [400, 300]", kaiming, (400, 300), torch.float64),
             ("kaiming_uniform_ conv [64, 32, 5, 5]", kaiming, (64, 32, 5, 5), torch.float64),
             (f"kaiming_uniform_ leaky ReLU, slope a = {slope:.3f} [300, 400]",
              lambda W: kaiming(W, a=slope), (300, 400), torch.float64),
             ("kaiming_uniform_ a = 0.2, mode fan_out [200, 700]",
              lambda W: kaiming(W, a=0.2, mode="fan_out"), (200, 700), torch.float64),
             ("kaiming_uniform_ a = 0.2, conv1d [500, 40, 7], float32",
              lambda W: kaiming(W, a=0.2), (500, 40, 7), torch.float32)]
    for tag, f, shape, dtype in cases:
        for key, value in _init_case(f, shape, dtype).items():
            out[f"{tag}: {key}"] = value
    return out


@probe("question", rtol=1e-3, atol=0)
def question(ns, rng):
    v = need(ns, "ANSWER_RUNNING_VAR")
    return {"type of ANSWER_RUNNING_VAR (a float)": type(v).__name__,
            "ANSWER_RUNNING_VAR (momentum 0.1 on the new batch, the unbiased variance, "
            "three updates)": v if type(v) is float else None}


# ----------------------------------------------------------------------------- Task 3
def _forward_case(f, rng, shapes, momentum, eps, out, tag):
    C = shapes[0][1]
    gamma = torch.tensor(rng.uniform(0.5, 1.5, C))
    beta = torch.tensor(rng.standard_normal(C))
    run_mean, run_var = torch.zeros(C, dtype=torch.float64), torch.ones(C, dtype=torch.float64)
    shift = torch.arange(C, dtype=torch.float64).view(1, -1, 1, 1)
    for step, shape in enumerate(shapes):
        x = torch.tensor(rng.standard_normal(shape)) * 3 + shift
        y, run_mean, run_var, cache = call_unchanged(f, x, gamma, beta, run_mean, run_var, True,
                                                     momentum, eps, name="batchnorm2d_forward")
        where = f"{tag}, training step {step} ({list(shape)})"
        out[f"{where}: output"] = y
        ok = isinstance(cache, tuple) and len(cache) == 3
        out[f"{where}: the cache is the tuple (x_hat, gamma, inv_std)"] = ok
        out[f"{where}: cache x_hat"] = cache[0] if ok else None
        out[f"{where}: cache inv_std = 1 / sqrt(biased var + eps)"] = cache[2] if ok else None
        out[f"{where}: new running mean"] = run_mean
        out[f"{where}: new running var (torch: the unbiased batch variance, weight momentum "
            "on the new batch)"] = run_var
    x = torch.tensor(rng.standard_normal(shapes[0])) * 2 - 1
    y, m2, v2, _ = call_unchanged(f, x, gamma, beta, run_mean, run_var, False, momentum, eps,
                                  name="batchnorm2d_forward")
    out[f"{tag}, eval mode: output (normalize with the running statistics)"] = y
    out[f"{tag}, eval mode: running mean returned (unchanged)"] = m2
    out[f"{tag}, eval mode: running var returned (unchanged)"] = v2


@probe("bn-forward", rtol=1e-5, atol=1e-8, ops=NORM_OPS)
def bn_forward(ns, rng):
    f, out = need(ns, "batchnorm2d_forward"), {}
    c = int(rng.integers(2, 6))
    for shapes, momentum, eps in [([(8, 3, 4, 4), (5, 3, 4, 4), (8, 3, 4, 4)], 0.1, 1e-5),
                                  ([(2, 5, 3, 2), (1, 5, 6, 6), (4, 5, 1, 1), (3, 5, 2, 7)], 0.35, 1e-3),
                                  ([(16, 1, 5, 5)], 1.0, 0.5),
                                  ([(6, 4, 3, 3)] * 3, 0.01, 1e-5),
                                  ([(int(rng.integers(2, 9)), c, 3, 2)] * 2,
                                   float(rng.uniform(0.05, 0.9)), 1e-4)]:
        tag = f"momentum {momentum:.3g}, eps {eps:g}"
        _forward_case(f, rng, shapes, momentum, eps, out, tag)
    return out


# ----------------------------------------------------------------------------- Task 4
@probe("bn-backward", rtol=1e-5, atol=1e-8, ops=NORM_OPS + NORM_BACKWARD_OPS)
def bn_backward(ns, rng):
    f, out = need(ns, "batchnorm2d_backward"), {}
    for shape, eps, scale in [((8, 3, 4, 4), 1e-5, 3.0), ((5, 2, 3, 3), 1e-5, 3.0),
                              ((1, 4, 5, 3), 1e-3, 3.0), ((7, 1, 1, 1), 1e-5, 0.01),
                              ((3, 6, 2, 8), 0.5, 3.0),
                              ((int(rng.integers(2, 6)), 3, 2, 5), 1e-5, 1.0)]:
        C = shape[1]
        x = torch.tensor(rng.standard_normal(shape)) * scale + 1
        gamma = torch.tensor(rng.uniform(0.5, 1.5, C))
        dout = torch.tensor(rng.standard_normal(shape))
        # the cache of Task 4's contract (x_hat, gamma, inv_std), built here
        mu, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), correction=0)
        inv_std = 1.0 / torch.sqrt(var + eps)
        cache = ((x - mu.view(1, -1, 1, 1)) * inv_std.view(1, -1, 1, 1), gamma, inv_std)
        dx, dgamma, dbeta = call_unchanged(f, dout, cache, name="batchnorm2d_backward")
        tag = f"{list(shape)}, eps {eps:g}, random upstream gradient"
        out[f"{tag}: dbeta"], out[f"{tag}: dgamma"] = dbeta, dgamma
        out[f"{tag}: dx (three paths: direct, through the mean, through the variance)"] = dx
    return out


@probe("bn-question")
def bn_question(ns, rng):
    v = need(ns, "ANSWER_ZERO_GRAD")
    return {"type of ANSWER_ZERO_GRAD (a str)": type(v).__name__,
            "ANSWER_ZERO_GRAD": v.strip().lower() if type(v) is str else None}


# ----------------------------------------------------------------------------- Task 6
def _kinds(net):
    try:
        return [type(m).__name__ for m in net]
    except TypeError:
        return [type(net).__name__]


def _loop_case(ns, rng, n_in, width, depth, n_out, N, epochs, lr, batch_size, out):
    make, train, predict = need(ns, "make_bn_net"), need(ns, "train_bn_net"), need(ns, "predict")
    seed = int(rng.integers(1000))
    torch.manual_seed(seed)
    net = make(n_in, width, depth, n_out)
    tag = f"N={N}, batch {batch_size}, {epochs} epochs, make_bn_net({n_in}, {width}, {depth}, {n_out})"
    out[f"{tag}: the layers"] = _kinds(net)
    X = torch.tensor(rng.standard_normal((N, n_in)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, n_out, N))
    hist = call_unchanged(lambda X_, y_: train(net, X_, y_, epochs, lr, batch_size, seed), X, y,
                          name="train_bn_net (X and y)")
    hist = hist if isinstance(hist, list) else [hist]
    out[f"{tag}: types of the returned losses (a list of floats)"] = \
        sorted({type(h).__name__ for h in hist})
    out[f"{tag}: mean loss of each epoch (mean over the full batches, each before its step)"] = \
        [h if type(h) is float else None for h in hist]
    out[f"{tag}: the net's state_dict() after training, entry by entry"] = \
        [v.detach().double() for v in net.state_dict().values()]
    labels = call_unchanged(predict, net, X, name="predict (in eval mode the net's buffers do not change)")
    out[f"{tag}: predict (the classes of eval mode)"] = labels
    out[f"{tag}: predict on a batch of one"] = call_unchanged(predict, net, X[:1], name="predict")


ACC_BAR = 0.9  # the hidden test's bar: validation accuracy of the digits net


@probe("bn-net", rtol=1e-4, atol=1e-5, score=[
    {"predictions": "digits net (5 x 48, batch 43, 8 epochs): classes of held-out digits",
     "truth": "held-out digits: labels", "metric": "accuracy", "at_least": ACC_BAR},
    {"predictions": "digits net before training: classes of held-out digits",
     "truth": "held-out digits: labels", "metric": "accuracy", "at_most": 0.5}])
def bn_net(ns, rng):
    out = {}
    _loop_case(ns, rng, 10, 16, 2, 3, 70, 2, 0.05, 16, out)
    _loop_case(ns, rng, 7, 12, 3, 5, 129, 2, 0.1, 64, out)   # last batch: 1 example
    _loop_case(ns, rng, 5, 8, 1, 4, 40, 3, 0.02, 8, out)     # no incomplete one
    # the budget: the student's builder and loop on the digits (the grader's own copy of the
    # split: not the notebook's globals), scored on held-out digits the grader picks
    make, train, predict = need(ns, "make_bn_net"), need(ns, "train_bn_net"), need(ns, "predict")
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_digits_splits()
    X_tr, X_va, X_te = standardize(X_tr.float(), X_va.float(), X_te.float())
    X_held, y_held = torch.cat([X_va, X_te]), torch.cat([y_va, y_te])
    pick = torch.tensor(rng.choice(len(y_held), 400, replace=False))
    out["held-out digits: labels"] = y_held[pick]
    seed = int(rng.integers(1000))
    torch.manual_seed(seed)
    net = make(64, 48, 5, 10)
    out["digits net before training: classes of held-out digits"] = \
        predict(copy.deepcopy(net), X_held[pick])
    train(net, X_tr, y_tr, 8, 0.1, 43, seed)                    # 1077 = 25 * 43 + 2
    out["digits net (5 x 48, batch 43, 8 epochs): classes of held-out digits"] = \
        predict(net, X_held[pick])
    return out

