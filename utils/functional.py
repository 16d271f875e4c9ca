"""Numerically stable building blocks in NumPy, taught once (lectures 02 and 04) and
reused everywhere else from here, so that no notebook writes them again.

Shapes: ``Z`` is [N, K] logits, ``y`` is [N] integer labels in 0..K-1.
"""
from __future__ import annotations

import numpy as np


def sigmoid(z):
    """sigma(z) = 1 / (1 + e^-z) without overflow: e^-|z| never exceeds 1 (lecture 02)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(Z):
    """log softmax over the last axis, shifted by the row maximum (no overflow)."""
    Z = np.asarray(Z, dtype=np.float64)
    shifted = Z - Z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(Z):
    """Row-wise softmax [N, K] -> [N, K], rows sum to 1."""
    return np.exp(log_softmax(Z))


def softmax_cross_entropy(Z, y):
    """Mean cross-entropy of logits ``Z`` [N, K] against labels ``y`` [N], and its gradient
    dL/dZ = (softmax(Z) - onehot(y)) / N [N, K] (lecture 04). Returns ``(loss, dZ)``."""
    y = np.asarray(y)
    n = len(y)
    logp = log_softmax(Z)
    loss = float(-logp[np.arange(n), y].mean())
    dZ = np.exp(logp)
    dZ[np.arange(n), y] -= 1
    return loss, dZ / n


def standardize(X_train, *others, eps: float = 1e-12):
    """Scale features to mean 0 and standard deviation 1 using the *training* statistics
    only, and apply the same shift and scale to ``others`` (validation, test).

    Works on NumPy arrays and torch tensors (per column, over axis 0). A column that is
    constant in training (e.g. a border pixel of the digits that no training image
    inks) is only centred (std taken as 1): dividing by a tiny std would turn a little
    ink in a test image into a feature of millions.
    Returns ``(X_train_std, *others_std)``.
    """
    mean = X_train.mean(0)
    # the population std (ddof 0) for both: torch's default would be the unbiased one
    std = X_train.std(0, correction=0) if hasattr(X_train, "detach") else X_train.std(0)
    std = std + (std <= eps) * 1.0
    out = [(X - mean) / std for X in (X_train, *others)]
    return tuple(out) if others else out[0]
