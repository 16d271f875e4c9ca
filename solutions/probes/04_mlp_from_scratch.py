"""Probes of seminar 04 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process. NumPy only here: the
answers may not dispatch a torch operator (``NUMPY_ONLY``), and neither does a probe."""
from functools import partial

import numpy as np

from coursekit.probe import need, probe
from utils.checks import call_unchanged

SKIP = ("twin", "digits-plot", "width-plot")  # the tests' torch reference; plots

# ATen operators a torch shortcut of tasks 1-5 dispatches (autograd through F.prelu,
# F.cross_entropy, a torch twin of the network, torch.optim.SGD plain, multi-tensor or fused;
# the kernels they reach, not the composite names decomposed before the recorder sees them);
# the answers are NumPy only (the forbid rule's "torch"), so none of them may run. Tensor
# creation from NumPy (aten::lift_fresh, aten::_to_copy) is left out: the data cell does it.
NUMPY_ONLY = (
    "aten::_prelu_kernel", "aten::_prelu_kernel_backward",
    "aten::leaky_relu", "aten::leaky_relu_backward", "aten::relu", "aten::threshold_backward",
    "aten::where", "aten::mm", "aten::addmm", "aten::bmm", "aten::linear",
    "aten::add", "aten::add_", "aten::sub", "aten::mul", "aten::mul_", "aten::sum",
    "aten::exp", "aten::log", "aten::t",
    "aten::log_softmax", "aten::_log_softmax", "aten::_log_softmax_backward_data",
    "aten::softmax", "aten::_softmax", "aten::_softmax_backward_data",
    "aten::nll_loss_forward", "aten::nll_loss_backward",
    "aten::_foreach_add_", "aten::_foreach_mul_", "aten::_fused_sgd_",
)


def _prelu_case(PReLU, A, alpha, G):
    layer = PReLU(A.shape[1])
    layer.params["alpha"] = alpha.copy()
    H = call_unchanged(layer.forward, A, name="PReLU.forward")
    dA = call_unchanged(layer.backward, G, name="PReLU.backward")
    grads = layer.grads if type(layer.grads) is dict else {}
    return H, dA, grads.get("alpha")


@probe("prelu", rtol=1e-12, atol=1e-14, ops=NUMPY_ONLY)
def prelu(ns, rng):
    PReLU, out = need(ns, "PReLU"), {}
    kink = rng.normal(size=(6, 4))
    kink[0, :2] = 0.0  # the kink, exactly
    kink[3, 1:] = 0.0
    cases = [(np.array([[-2.0, 0.0, 3.0]]), np.full(3, 0.25), np.ones((1, 3)),
              "the hand example A = [[-2, 0, 3]], alpha 0.25"),
             (kink, rng.uniform(0.05, 0.5, 4), rng.normal(size=(6, 4)),
              "6 x 4 with exact zeros in A (A = 0 takes the slope)"),
             (rng.normal(size=(50, 3)), rng.uniform(-0.5, 0.5, 3), rng.normal(size=(50, 3)),
              "a batch of 50, slopes of both signs (sum dalpha over the batch)"),
             (rng.normal(size=(1, 7)), rng.uniform(0.0, 1.0, 7), rng.normal(size=(1, 7)),
              "a batch of one, 7 units (one slope per unit)")]
    for A, alpha, G, tag in cases:
        H, dA, dalpha = _prelu_case(PReLU, A, alpha, G)
        out[f"H on {tag}"], out[f"dL/dA on {tag}"] = H, dA
        out[f"grads['alpha'] = dL/dalpha on {tag}"] = dalpha
    return out


# (n_in, hidden, n_out, N, labels) of the networks the mlp probe builds
MLP_CASES = [(5, [7, 6], 4, 8, None), (3, [4], 2, 1, [1]),
             (6, [5, 5, 4], 5, 9, [0, 2, 2, 0, 1, 0, 2, 1, 1])]


@probe("mlp", rtol=1e-10, atol=1e-12, ops=NUMPY_ONLY)
def mlp(ns, rng):
    build, loss_and_grads, out = need(ns, "build_mlp"), need(ns, "loss_and_grads"), {}
    for n_in, hidden, n_out, n, labels in MLP_CASES:
        seed = int(rng.integers(1000))
        X = rng.normal(size=(n, n_in))
        y = np.array(labels) if labels is not None else rng.integers(0, n_out, n)
        alphas = [rng.uniform(0.0, 0.5, h) for h in hidden]  # slopes other than 0.25
        tag = f"build_mlp({n_in}, {hidden}, {n_out}), N={n}"
        if labels is not None and len(set(labels)) < n_out:
            tag += f", classes {sorted(set(range(n_out)) - set(labels))} absent"
        model = build(n_in, hidden, n_out, seed=seed)
        kinds = [type(layer).__name__ for layer in model.layers]
        out[f"{tag}: the layers (Dense -> PReLU per hidden width, then Dense)"] = kinds
        out[f"{tag}: W of each Dense layer (one rng, in order)"] = \
            [layer.params.get("W") for layer in model.layers if type(layer).__name__ == "Dense"]
        slopes = iter(alphas)
        for layer in model.layers:
            if "alpha" in layer.params:
                layer.params["alpha"] = next(slopes, layer.params["alpha"])
        loss = call_unchanged(partial(loss_and_grads, model), X, y,
                              name="loss_and_grads")
        out[f"{tag}: type of the loss"] = type(loss).__name__
        out[f"{tag}: loss"] = loss
        out[f"{tag}: grads of every layer, in order"] = [
            {name: (layer.grads.get(name) if type(layer.grads) is dict else None)
             for name in layer.params} for layer in model.layers]
    return out


@probe("sgd", rtol=1e-8, atol=1e-12, ops=NUMPY_ONLY)
def sgd(ns, rng):
    build, train, out = need(ns, "build_mlp"), need(ns, "train_sgd"), {}
    for n, n_in, hidden, k, epochs, lr, bs in [(40, 5, [6, 4], 3, 2, 0.3, 16),
                                               (30, 4, [5], 4, 3, 0.2, 7),
                                               (12, 3, [4, 3], 2, 2, 0.5, 12)]:
        X, y, seed = rng.normal(size=(n, n_in)), rng.integers(0, k, n), int(rng.integers(1000))
        tag = f"N={n}, batch {bs}, {epochs} epochs, lr {lr}"
        model = build(n_in, hidden, k, seed=seed)
        losses = call_unchanged(partial(train, model), X, y, epochs, lr, bs, seed,
                                name="train_sgd")
        out[f"type of the result on {tag} (a list of floats)"] = \
            (type(losses).__name__, sorted({type(v).__name__ for v in losses}))
        out[f"the loss of every step on {tag} (a new permutation each epoch, each loss "
            "before its update)"] = list(losses)
        out[f"the parameters after training on {tag}"] = [dict(layer.params)
                                                          for layer in model.layers]
    return out


@probe("digits", rtol=0, atol=1e-9, ops=NUMPY_ONLY, score=[
    {"predictions": "untrained: predicted test labels", "truth": "test labels",
     "metric": "accuracy", "at_most": 0.4, "examples": "test images",
     "hint": "build_mlp must return an untrained network (weights drawn from its rng)"},
    {"predictions": "trained by the grader: predicted test labels", "truth": "test labels",
     "metric": "accuracy", "at_least": 0.9, "examples": "test images",
     "hint": "build_mlp(64, HIDDEN, 10) trained by your train_sgd for EPOCHS epochs at LR "
             "(the statement's budget) must learn the digits"},
    {"predictions": "digits_model: predicted validation labels (all 270)",
     "truth": "validation labels", "metric": "accuracy", "at_least": 0.95,
     "examples": "validation images", "hint": "if the loss stalls, raise the learning rate "
     "or train more epochs; if it jumps or becomes nan, lower it"},
    {"predictions": "digits_model: predicted training labels (all 1,077: trained on X_train?)",
     "truth": "training labels", "metric": "accuracy", "at_least": 0.93,
     "examples": "training images", "hint": "train digits_model on X_train"}])
def digits(ns, rng):
    """The student's builder and SGD loop trained afresh by the grader on the training split
    (the statement's budget: HIDDEN, EPOCHS, LR, BATCH_SIZE), scored on 300 test images the
    notebook never trains on; and the answer cell's digits_model on the validation set
    (the bar) and the training set (trained on X_train)."""
    build, train = need(ns, "build_mlp"), need(ns, "train_sgd")
    X_tr, y_tr, X_va, y_va = (need(ns, k) for k in ("X_train", "y_train", "X_val", "y_val"))
    X_te, y_te = need(ns, "X_test"), need(ns, "y_test")
    seed = int(rng.integers(2**31))
    te = np.sort(rng.choice(len(y_te), size=300, replace=False))
    model = build(64, need(ns, "HIDDEN"), 10, seed=seed)
    out = {"test labels": y_te[te].astype(np.int64),
           "untrained: predicted test labels": model.forward(X_te[te]).argmax(axis=1)}
    train(model, X_tr.copy(), y_tr.copy(), need(ns, "EPOCHS"), need(ns, "LR"),
          need(ns, "BATCH_SIZE"), seed)
    out["trained by the grader: predicted test labels"] = model.forward(X_te[te]).argmax(axis=1)
    net, losses = need(ns, "digits_model"), need(ns, "digits_losses")
    out["type of digits_model (a Sequential from build_mlp)"] = type(net).__name__
    out["digits_losses: finite losses, at least one"] = bool(
        len(losses) > 0 and np.isfinite(np.asarray(losses, dtype=np.float64)).all())
    out["validation labels"], out["training labels"] = y_va.astype(np.int64), \
        y_tr.astype(np.int64)
    out["digits_model: predicted validation labels (all 270)"] = net.forward(X_va).argmax(axis=1)
    out["digits_model: predicted training labels (all 1,077: trained on X_train?)"] = \
        net.forward(X_tr).argmax(axis=1)
    excess = (out["digits_model: predicted validation labels (all 270)"] == y_va).mean() - \
        (out["digits_model: predicted training labels (all 1,077: trained on X_train?)"]
         == y_tr).mean()
    out["how far digits_model's validation accuracy exceeds its training accuracy beyond "
        "0.02 (0 unless it was trained on the validation set)"] = max(0.0, float(excess) - 0.02)
    return out


@probe("width", rtol=1e-12, atol=1e-12, ops=NUMPY_ONLY)
def width(ns, rng):
    f, acc = need(ns, "width_experiment"), need(ns, "width_acc")
    out = {"the keys of width_acc (WIDTHS, in order)": list(acc) if type(acc) is dict else None,
           "types of the accuracies in width_acc": sorted({type(a).__name__ for a in
                                                          (acc.values() if type(acc) is dict
                                                           else ())})}
    for n, d, k, ws, epochs, bs in [(60, 3, 3, [2, 5], 2, 8), (50, 4, 4, [1, 3, 8], 3, 10)]:
        X, y, seed = rng.normal(size=(n, d)), rng.integers(0, k, n), int(rng.integers(100))
        m = 2 * n // 3
        got = call_unchanged(f, ws, X[:m], y[:m], X[m:], y[m:], n_classes=k, epochs=epochs,
                             lr=0.1, batch_size=bs, seed=seed, name="width_experiment")
        out[f"width_experiment({ws}) on other data ({d} features, {k} classes, {n - m} "
            "validation rows): {width: validation accuracy} (use the arguments)"] = \
            {str(w): a for w, a in got.items()} if type(got) is dict else got
    out["ANSWER_WIDTH: read it off your table again"] = _answer(need(ns, "ANSWER_WIDTH"))
    out["type of ANSWER_WIDTH"] = type(need(ns, "ANSWER_WIDTH")).__name__
    out["ANSWER_ONE_UNIT"] = need(ns, "ANSWER_ONE_UNIT")
    return out


def _answer(value):
    """A question's answer as its repr: compared exactly, and a wrong one is told so without
    the right number (the types are compared on their own)."""
    return repr(value) if type(value) in (int, float) else value


@probe("questions", rtol=0, atol=0)
def questions(ns, rng):
    params, steps = need(ns, "ANSWER_PARAMS"), need(ns, "ANSWER_STEPS")
    return {"types of (ANSWER_PARAMS, ANSWER_STEPS)": (type(params).__name__,
                                                       type(steps).__name__),
            "ANSWER_PARAMS (W [n_in, n_out], b [n_out] for 3 Dense layers and one slope per "
            "hidden unit)": _answer(params),
            "ANSWER_STEPS (ceil(1077 / 64) steps per epoch: the last, smaller batch is a "
            "step)": _answer(steps)}
