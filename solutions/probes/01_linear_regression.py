"""Probes of seminar 01 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import numpy as np

import utils.data
from coursekit.probe import need, probe
from utils.checks import call_unchanged

SKIP = ("sgd-plot", "degree-plot")  # plots: no probe needs them


@probe("ridge-grad", rtol=1e-8, atol=1e-10, reveal=True)  # strings: type names
def ridge_grad(ns, rng):
    f, out = need(ns, "ridge_loss_grad"), {}
    X, y = need(ns, "X"), need(ns, "y")
    cases = [(X, y, 0.25, "the notebook's data")]
    for n, d, lam in [(7, 2, 0.0), (31, 5, 3.0), (1, 4, 0.5)]:
        cases.append((rng.standard_normal((n, d)), rng.standard_normal(n), lam,
                      f"N={n}, D={d}, lam={lam}"))
    for X_, y_, lam, tag in cases:
        w, b = rng.standard_normal(X_.shape[1]), float(rng.normal())
        loss, dw, db = call_unchanged(f, X_, y_, w, b, lam)
        out[f"types of (loss, db) on {tag}"] = (type(loss).__name__, type(db).__name__)
        hint = " (is the penalty lam * ||w||^2, without b?)" if tag == cases[0][3] else \
            " (the mean over this X's rows?)"
        out[f"loss on {tag}{hint}"], out[f"dw on {tag}"] = loss, dw
        out[f"db on {tag} (the bias is not penalised)"] = db
    return out


@probe("ridge-fit", rtol=1e-6, atol=1e-8, reveal=True)
def ridge_fit(ns, rng):
    f, out = need(ns, "ridge_fit"), {}
    for n, d, lam in [(9, 4, 0.3), (40, 2, 0.0), (5, 8, 2.0), (50, 3, 0.01)]:
        X = rng.standard_normal((n, d)) * rng.uniform(0.1, 10, d)
        y = X @ rng.standard_normal(d) + 3.0 + rng.standard_normal(n)
        w, b = call_unchanged(f, X, y, lam)
        out[f"type of b on N={n}, D={d}, lam={lam}"] = type(b).__name__
        out[f"w on N={n}, D={d}, lam={lam}"], out[f"b on N={n}, D={d}, lam={lam}"] = w, b
    x = np.sort(rng.uniform(0, 1, 50))
    V = np.vander(x, 11, increasing=True)  # cond ~ 1e7: X^T X squares it
    w, b = f(V[:, 1:], V @ rng.standard_normal(11), 0.0)
    out["(b, w) on a degree-10 polynomial design, lam = 0 (lstsq, not X^T X)"] = np.r_[b, w]
    return out


@probe("sgd", rtol=1e-8, atol=1e-10, reveal=True)
def sgd(ns, rng):
    f, out = need(ns, "minibatch_sgd"), {}
    cases = [(need(ns, "X"), need(ns, "y"), 0.05, 20, 16, "the notebook's data")]
    for n, d, bs, ep in [(37, 2, 8, 3), (10, 4, 10, 2), (23, 1, 5, 2)]:
        cases.append((rng.standard_normal((n, d)), rng.standard_normal(n) + 1.0, 0.1, ep, bs,
                      f"N={n}, batch {bs}"))
    for X, y, lr, epochs, bs, tag in cases:
        w, b, losses = call_unchanged(f, X, y, lr, epochs, bs, seed=int(rng.integers(100)))
        out[f"types of the losses on {tag}"] = sorted({type(v).__name__ for v in losses})
        out[f"batch losses on {tag} (one per step, the smaller last batch included; "
            "the batch's MSE before the step)"] = losses
        out[f"(w, b) on {tag} (the gradient of the batch's mean: 1/|B|)"] = np.r_[w, b]
    return out


@probe("degree", rtol=1e-6, atol=1e-10, reveal=True)
def degree(ns, rng):
    f, out = need(ns, "poly_val_mse"), {}
    Xa, ya, Xb, yb = (need(ns, k) for k in ("X_tr", "y_tr", "X_val", "y_val"))
    for k in [0, 1, 3]:
        v = call_unchanged(f, Xa, ya, Xb, yb, k)
        out[f"type of the validation MSE of degree {k}"] = type(v).__name__
        out[f"validation MSE of degree {k} (fitted on train, with the constant column)"] = v
    coefs = tuple(rng.uniform(-2, 2, 3))
    xa, ya2 = utils.data.make_polynomial(13, coefs=coefs, noise=0.1, seed=int(rng.integers(99)))
    xb, yb2 = utils.data.make_polynomial(9, coefs=coefs, noise=0.1, seed=int(rng.integers(99)))
    for k in [2, 5]:
        out[f"validation MSE on other data, degree {k}"] = call_unchanged(f, xa, ya2, xb, yb2, k)
    best = need(ns, "best_degree")
    out["type of best_degree"] = type(best).__name__
    out["best_degree (the lowest validation MSE: choose on validation, not on train or "
        "test)"] = best
    out["test_mse (the chosen degree, fitted on train, evaluated on test)"] = \
        need(ns, "test_mse")
    return out


@probe("lr", rtol=1e-6)
def lr(ns, rng):
    lr_max = need(ns, "ANSWER_LR_MAX")
    return {"type of ANSWER_LR_MAX": type(lr_max).__name__,
            "ANSWER_LR_MAX (2 / the largest eigenvalue of H, bias included)": lr_max,
            "ANSWER_ZIGZAG": need(ns, "ANSWER_ZIGZAG")}
