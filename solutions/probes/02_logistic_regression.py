"""Probes of seminar 02 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import numpy as np

from coursekit.probe import need, probe
from utils.checks import call_unchanged

SKIP = ("tune-plot",)  # a plot: no probe needs it


@probe("softmax-grad", rtol=1e-8, atol=1e-12, reveal=True)  # strings: type names
def softmax_grad(ns, rng):
    f, out = need(ns, "softmax_loss_grad"), {}
    for n, d, k, labels in [(8, 5, 4, None), (6, 3, 7, [0, 0, 2, 2, 5, 5]), (1, 2, 3, [2]),
                            (13, 4, 2, None)]:
        X, W, b = rng.normal(size=(n, d)), rng.normal(size=(d, k)) * 3, rng.normal(size=k)
        y = np.array(labels) if labels is not None else rng.integers(0, k, n)
        tag = f"N={n}, K={k}, labels {sorted(set(y.tolist()))}"
        loss, dW, db = call_unchanged(f, X, y, W, b)
        out[f"type of the loss on {tag}"] = type(loss).__name__
        out[f"loss on {tag}"], out[f"db on {tag} (sum over the batch of (P - Y) / N)"] = loss, db
        out[f"dW on {tag} (X^T (P - Y) / N; K = W.shape[1])"] = dW
    big = float(rng.uniform(800, 1200))
    with np.errstate(all="ignore"):
        loss = f(np.ones((1, 1)), np.array([1]), np.array([[big, -big]]), np.zeros(2))[0]
    out[f"loss at logits ({big:.0f}, -{big:.0f}) for label 1 (subtract the row maximum)"] = loss
    return out


@probe("wbce", rtol=1e-8, atol=1e-12, reveal=True)
def wbce(ns, rng):
    f, out = need(ns, "weighted_bce"), {}
    z, y = rng.normal(0, 4, 40), rng.integers(0, 2, 40).astype(np.float64)
    z[:6], y[:6] = [40.0, -40.0, 1000.0, -1000.0, 40.0, -1000.0], [0, 1, 0, 1, 1, 0]
    cases = [(np.array([0.0]), np.array([1.0]), 3.0, "z = 0, y = 1, pos_weight 3"),
             (z, y, 2.5, "N=40 with |z| up to 1000, pos_weight 2.5")]
    for n, pw in [(3, 1.0), (17, 0.2), (1, 10.0)]:
        cases.append((rng.normal(0, 30, n), rng.integers(0, 2, n).astype(np.float64), pw,
                      f"N={n}, pos_weight {pw}"))
    for z_, y_, pw, tag in cases:
        with np.errstate(all="ignore"):
            loss, dz = call_unchanged(f, z_, y_, pw)
        out[f"type of the loss on {tag}"] = type(loss).__name__
        out[f"loss on {tag} (from the logits: log(1 + e^z) = np.logaddexp(0, z), never "
            "through the probabilities)"] = loss
        out[f"dL/dz on {tag} (the mean: divide by N)"] = dz
    return out


@probe("train", rtol=1e-7, atol=1e-10, reveal=True)
def train(ns, rng):
    f, out = need(ns, "train_softmax"), {}
    Xt, yt = need(ns, "X_train"), need(ns, "y_train")
    cases = [(Xt, yt, 10, 0.1, 1, need(ns, "BATCH_SIZE"), "the digits, one epoch")]
    for n, d, k, bs, ep in [(23, 3, 5, 4, 2), (10, 2, 3, 10, 3), (9, 4, 6, 5, 1)]:
        cases.append((rng.normal(size=(n, d)), rng.integers(0, k - 1, n), k, 0.5, ep, bs,
                      f"N={n}, K={k} (class {k - 1} absent), batch {bs}, {ep} epochs"))
    for X, y, k, lr, ep, bs, tag in cases:
        W, b, losses = call_unchanged(f, X, y, k, lr, ep, bs, seed=int(rng.integers(100)))
        out[f"types of the losses on {tag}"] = sorted({type(v).__name__ for v in losses})
        out[f"losses on {tag} (one per batch, the smaller last one included, each before "
            "its step)"] = losses
        out[f"W on {tag}"], out[f"b on {tag}"] = W, b
    return out


@probe("tune", rtol=1e-6, atol=1e-9)
def tune(ns, rng):
    return {"val_accs (each lr trained on the training set, measured on validation)":
            need(ns, "val_accs"),
            "best_lr (the highest validation accuracy)": need(ns, "best_lr"),
            "W_best (trained on the training set only, with best_lr)": need(ns, "W_best"),
            "b_best": need(ns, "b_best")}


@probe("questions", rtol=1e-9)
def questions(ns, rng):
    return {"ANSWER_XOR_ACC (try the line x1 + x2 = 0.5 and count)": need(ns, "ANSWER_XOR_ACC"),
            "ANSWER_SEPARABLE (what happens to the loss of a separating w as w is scaled up?)":
            need(ns, "ANSWER_SEPARABLE")}
