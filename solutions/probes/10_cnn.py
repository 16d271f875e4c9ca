"""Probes of seminar 10 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import math

import numpy as np
import torch

from coursekit.probe import need, probe
from utils.checks import call_unchanged

# the visible tests' helpers (references, timings) and the notebook's own training run of
# Task 6 (the probe trains the student's network itself, under its own seed)
SKIP = ("conv-check", "pool-check", "pool-backward-check", "module-check", "predict-check",
        "train-run")

# What F.conv2d, nn.Conv2d, torch.conv2d, F.unfold and their aliases dispatch (measured
# under a TorchDispatchMode), and the other dimensionalities and backends of the primitive.
CONV_OPS = ("aten::convolution", "aten::_convolution", "aten::convolution_overrideable",
            "aten::mkldnn_convolution", "aten::_slow_conv2d_forward", "aten::slow_conv3d_forward", "aten::slow_conv_dilated2d",
            "aten::slow_conv_dilated3d", "aten::slow_conv_transpose2d",
            "aten::slow_conv_transpose3d", "aten::_nnpack_spatial_convolution",
            "aten::cudnn_convolution", "aten::miopen_convolution", "aten::im2col",
            "aten::col2im", "aten::_conv_depthwise2d", "aten::conv_tbc")
POOL_OPS = ("aten::max_pool2d_with_indices",
            "aten::max_pool3d_with_indices", "aten::mkldnn_max_pool2d",
            "aten::mkldnn_max_pool3d", "aten::quantized_max_pool1d",
            "aten::quantized_max_pool2d", "aten::quantized_max_pool3d",
            "aten::adaptive_max_pool2d",
            "aten::adaptive_max_pool3d", "aten::fractional_max_pool2d",
            "aten::fractional_max_pool3d", "aten::max_unpool2d", "aten::max_unpool3d")
# autograd's formulas of max-pooling (and of the unfold/max a student's forward may use)
POOL_BACKWARD_OPS = POOL_OPS + (
    "aten::max_pool2d_with_indices_backward", "aten::max_pool3d_with_indices_backward",
    "aten::max_pool2d_backward", "aten::adaptive_max_pool2d_backward",
    "aten::adaptive_max_pool3d_backward", "aten::fractional_max_pool2d_backward",
    "aten::mkldnn_max_pool2d_backward", "aten::unfold_backward")


def _seed(rng):
    torch.manual_seed(int(rng.integers(2**31)))


def _t(rng, *shape):
    return torch.from_numpy(rng.standard_normal(shape))


def _said(answer):
    """An int answer as its text: compared exactly, and a wrong one's message does not
    reveal the expected number."""
    return str(answer) if type(answer) is int else answer


@probe("shapes-question", rtol=0, atol=0)
def shapes_question(ns, rng):
    size, params = need(ns, "ANSWER_SIZE"), need(ns, "ANSWER_PARAMS")
    return {"type of ANSWER_SIZE (an int)": type(size).__name__,
            "type of ANSWER_PARAMS (an int)": type(params).__name__,
            "ANSWER_SIZE (floor((n + 2p - d(k-1) - 1) / s) + 1: padding on both sides, "
            "dilation widens the kernel, floor, then + 1)": _said(size),
            "ANSWER_PARAMS (F * C * k * k weights plus F biases)": _said(params)}


@probe("conv2d", rtol=1e-10, atol=1e-12, ops=CONV_OPS, timed=10.0)
def conv2d(ns, rng):
    f, out = need(ns, "conv2d"), {}
    cases = [(2, 3, 4, 7, 9, 3, 3, 1, 0, True), (3, 2, 5, 8, 8, 3, 3, 2, 1, True),
             (1, 1, 2, 6, 5, 5, 3, 3, 2, True), (4, 3, 1, 9, 11, 2, 4, 2, 0, False),
             (2, 5, 3, 5, 5, 1, 1, 1, 0, True), (1, 2, 3, 12, 7, 3, 3, 3, 1, True),
             (2, 1, 2, 4, 4, 3, 3, 1, 3, False),
             (int(rng.integers(1, 4)), 3, 2, int(rng.integers(6, 12)), int(rng.integers(6, 12)),
              3, 2, int(rng.integers(1, 4)), int(rng.integers(0, 3)), True)]
    for N, C, F_, H, W, kh, kw, s, p, bias in cases:
        X, Wt = _t(rng, N, C, H, W), _t(rng, F_, C, kh, kw)
        b = _t(rng, F_) if bias else None
        tag = (f"conv2d on X {N}x{C}x{H}x{W}, W {F_}x{C}x{kh}x{kw}, stride {s}, padding {p}, "
               f"bias {bias} (H_out = floor((H + 2p - kh) / s) + 1; no kernel flip; padding on "
               "every side)")
        out[tag] = call_unchanged(f, X, Wt, b, s, p, name="conv2d")
    # the speed case: a loop over output positions takes seconds here (timed by the grader)
    Y = f(_t(rng, 1, 1, 300, 300), _t(rng, 2, 1, 3, 3), None, 1, 1)
    out["conv2d on a 300x300 image, padding 1 (vectorize it: no Python loop over output "
        "positions): its shape"] = list(Y.shape)
    out["... and its mean"] = float(Y.mean())
    return out


def _pool_input(rng, N, C, H, W, ties):
    if ties:  # small integers: many equal maxima
        return torch.from_numpy(rng.integers(0, 3, (N, C, H, W)).astype(np.float64))
    return _t(rng, N, C, H, W)


POOL_CASES = [(2, 3, 6, 8, 2, None, False), (2, 2, 7, 7, 3, 2, False), (1, 1, 9, 10, 2, 3, False),
              (3, 2, 5, 9, 3, 1, False), (2, 4, 8, 6, 2, None, True), (1, 3, 11, 5, 4, 2, False),
              (3, 2, 6, 7, 3, 1, True), (2, 2, 7, 9, 3, None, True)]


def _pool_tag(N, C, H, W, k, s, ties):
    return (f"X {N}x{C}x{H}x{W}, kernel {k}, stride {s if s is not None else 'default = kernel'}"
            f"{', ties (the first maximum)' if ties else ''}")


@probe("maxpool-forward", rtol=0, atol=0, ops=POOL_OPS)
def maxpool_forward(ns, rng):
    f, out = need(ns, "maxpool_forward"), {}
    for N, C, H, W, k, s, ties in POOL_CASES:
        X = _pool_input(rng, N, C, H, W, ties)
        got = call_unchanged(f, *((X, k) if s is None else (X, k, s)), name="maxpool_forward")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise TypeError("maxpool_forward must return (out, cache)")
        out[f"maxpool_forward on {_pool_tag(N, C, H, W, k, s, ties)} "
            "(output size floor((H - k) / s) + 1)"] = got[0]
    return out


@probe("maxpool-backward", rtol=1e-12, atol=1e-12, ops=POOL_BACKWARD_OPS)
def maxpool_backward(ns, rng):
    forward, f, out = need(ns, "maxpool_forward"), need(ns, "maxpool_backward"), {}
    for N, C, H, W, k, s, ties in POOL_CASES:
        X = _pool_input(rng, N, C, H, W, ties)
        pooled, cache = forward(X, k) if s is None else forward(X, k, s)
        dout = _t(rng, *pooled.shape)
        dX = call_unchanged(f, dout, cache, name="maxpool_backward")
        tag = _pool_tag(N, C, H, W, k, s, ties)
        out[f"dtype of dX on {tag} (dout is float64: create dX with dout's dtype)"] = \
            str(getattr(dX, "dtype", type(dX).__name__))
        out[f"dX on {tag} (one pixel per window, the first maximum; overlaps summed)"] = dX
    return out


def _fill(net, rng):
    """Every parameter drawn from rng, by sorted name: the same values in the student's
    module and the solution's when their parameters have the same names and shapes."""
    with torch.no_grad():
        for _, p in sorted(net.named_parameters()):
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))) /
                    math.sqrt(max(1, p[0].numel() if p.dim() > 1 else p.numel())))


@probe("cnn-module", rtol=1e-9, atol=1e-10)
def cnn_module(ns, rng):
    DigitCNN, out = need(ns, "DigitCNN"), {}
    for C, K, H, W, width, predict in [(1, 10, 8, 8, 4, True), (3, 10, 32, 32, 8, False),
                                       (1, 7, 28, 20, 3, False), (2, 3, 9, 13, 5, False),
                                       (3, 4, 10, 6, 6, True)]:
        tag = f"DigitCNN({C}, {K}, ({H}, {W}), {width})"
        _seed(rng)
        net = DigitCNN(C, K, (H, W), width).double()
        out[f"{tag}: parameters [name, shape] (conv1, conv2, fc: the flattened size floors "
            "twice)"] = [[n, list(p.shape)] for n, p in sorted(net.named_parameters())]
        out[f"{tag}: dropout p"] = float(getattr(getattr(net, "dropout", None), "p", -1.0))
        _fill(net, rng)
        X = torch.from_numpy(rng.standard_normal((5, C, H, W)))
        net.eval()
        out[f"{tag}: eval-mode logits (conv, ReLU, pool 2x2; conv, ReLU, pool 2x2; "
            "flatten, dropout, fc)"] = call_unchanged(net, X, name="DigitCNN.forward")
        if predict:
            X = torch.from_numpy(3 * rng.standard_normal((400, C, H, W)))
            for mode in (True, False):
                net.train(mode)
                torch.manual_seed(int(rng.integers(2**31)))
                y_hat = net.predict(X)
                where = f"{tag}: predict in {'train' if mode else 'eval'} mode"
                out[f"{where}: its type and dtype (an int64 tensor of classes)"] = \
                    [type(y_hat).__name__, str(getattr(y_hat, "dtype", None))]
                out[f"{where}: builds no graph (torch.no_grad())"] = bool(
                    not getattr(y_hat, "requires_grad", True) and
                    getattr(y_hat, "grad_fn", 1) is None)
                out[f"{where}: the classes (the eval-mode argmax: dropout off)"] = \
                    torch.as_tensor(y_hat).detach().double()
                out[f"{where}: the mode it leaves the module in (restore it)"] = \
                    "train" if net.training else "eval"
    return out


def _digits_subset(ns, rng):
    """The validation split (the notebook never trains on it; the bar is set on it), in an
    order drawn by rng."""
    X, y = need(ns, "X_val"), need(ns, "y_val")
    idx = torch.from_numpy(rng.permutation(len(X)))
    return X[idx], y[idx]


def _classes(net, X):
    net.eval()
    with torch.no_grad():
        return np.asarray(net(X).argmax(1).cpu().numpy(), dtype=np.int64)


SEEDS = (0, 1)  # the statement's: "for the seed below and for another seed" (the hidden test's)


@probe("digit-net", rtol=0, atol=0, score=[
    {"predictions": f"classes after training with seed {seed}", "truth": "labels",
     "metric": "accuracy", "at_least": 0.975, "examples": "validation digits",
     "hint": "trained by train_cnn with TRAIN; another design or learning rate within the "
             "budget, chosen on validation?"} for seed in SEEDS] + [
    {"predictions": "classes before training", "truth": "labels", "metric": "accuracy",
     "at_most": 0.5, "examples": "validation digits",
     "hint": "make_digit_net() must return an untrained network: the grader trains it"}])
def digit_net(ns, rng):
    """make_digit_net() built and trained with TRAIN by the lecture's train_cnn under each of
    the statement's seeds, scored on the validation split (the hidden test's bar, 0.975 for
    each seed). Fresh seeds would not do: over 8 of them the solution reaches 0.978-0.993 on
    validation, the lecture's learning rate 3e-3 (a known-wrong answer) 0.967-0.981."""
    make, TRAIN = need(ns, "make_digit_net"), need(ns, "TRAIN")
    count_params, train_cnn = need(ns, "count_params"), need(ns, "train_cnn")
    max_epochs, max_params = need(ns, "MAX_EPOCHS"), need(ns, "MAX_PARAMS")
    X, y = _digits_subset(ns, rng)
    out = {"labels": y.numpy().astype(np.int64)}
    for seed in SEEDS:
        torch.manual_seed(seed)
        net = make()
        ok = {f"TRAIN has at most MAX_EPOCHS = {max_epochs} epochs":
              isinstance(TRAIN, dict) and TRAIN.get("epochs", 30) <= max_epochs,
              "the network has at least one nn.Conv2d":
              any(isinstance(m, torch.nn.Conv2d) for m in net.modules()),
              f"the network has at most MAX_PARAMS = {max_params:,} parameters":
              count_params(net) <= max_params}
        out.update(ok)
        if seed == SEEDS[0]:
            out["classes before training"] = _classes(net, X)
        if all(ok.values()):  # the budget holds: train (else the facts above lose the task)
            train_cnn(net, need(ns, "X_train"), need(ns, "y_train"), seed=seed, device="cpu",
                      **{k: v for k, v in TRAIN.items()
                         if k not in ("seed", "device", "progress")})
        out[f"classes after training with seed {seed}"] = _classes(net, X)
    return out
