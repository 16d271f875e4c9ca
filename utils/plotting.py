"""Plots used across lectures: training curves, 2-D decision boundaries, image grids, and
a loss surface with an optimizer's path. Each function draws on ``ax`` (a new figure when
omitted) and returns the axes, so notebooks can combine them."""
from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(5, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


_SPLITS = {"train": "training", "val": "validation", "test": "test"}
_METRICS = {"loss": "loss", "acc": "accuracy", "err": "error"}


def history_label(key: str) -> str:
    """A readable name for a history key: ``train_loss`` -> "training loss",
    ``val_acc`` -> "validation accuracy"; other keys with ``_`` read as words."""
    split, _, metric = key.partition("_")
    if split in _SPLITS and metric:
        return f"{_SPLITS[split]} {_METRICS.get(metric, metric.replace('_', ' '))}"
    return key.replace("_", " ")


def plot_history(history: dict, keys=None, ax=None, title: str | None = None, logy=False,
                 labels=None, ylabel: str | None = None):
    """Curves of a training history ``{"train_loss": [...], "val_acc": [...], ...}`` (what
    ``utils.training.fit`` returns) against the epoch number. ``keys`` picks the curves;
    the legend reads "training loss", "validation accuracy" (or ``labels``, one per key),
    and the y-axis is named after the metric ("loss", "accuracy") unless ``ylabel`` says
    otherwise."""
    ax = _axes(ax)
    keys = list(keys or [k for k in history if k != "epoch"])
    labels = list(labels) if labels is not None else [history_label(k) for k in keys]
    for k, label in zip(keys, labels, strict=True):
        values = history[k]
        ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                label=label)
    ax.set_xlabel("epoch")
    if ylabel is None:  # the metric the curves share, else a generic name
        metrics = {k.partition("_")[2] or k for k in keys}
        ylabel = _METRICS.get(metrics.pop(), "value") if len(metrics) == 1 else "value"
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_decision_boundary(predict, X, y, ax=None, title: str | None = None,
                           resolution: int = 200, margin: float = 0.5, colorbar: bool = True):
    """Colour the plane by ``predict`` (a function from [n, 2] NumPy points to [n] labels,
    or to [n] probabilities of class 1) and scatter the data ``X`` [n, 2], ``y`` [n].
    A probability map gets a colour bar "p(class 1)" (``colorbar=False`` leaves it out)."""
    ax = _axes(ax)
    X = np.asarray(X)
    y = np.asarray(y)
    x0 = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, resolution)
    x1 = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    grid = np.c_[g0.ravel(), g1.ravel()]
    z = np.asarray(predict(grid), dtype=float).reshape(g0.shape)
    n_classes = int(y.max()) + 1
    if n_classes == 2 and z.min() >= 0 and z.max() <= 1:  # probabilities: show p and p=0.5
        filled = ax.contourf(g0, g1, z, levels=np.linspace(0, 1, 11), cmap="RdBu_r",
                             alpha=0.35)
        ax.contour(g0, g1, z, levels=[0.5], colors="k", linewidths=1.5)
        if colorbar:
            ax.figure.colorbar(filled, ax=ax, label="p(class 1)", ticks=[0, 0.25, 0.5, 0.75, 1])
    else:
        ax.contourf(g0, g1, z, levels=np.arange(n_classes + 1) - 0.5, cmap="tab10",
                    vmin=0, vmax=9, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=14, edgecolors="k",
               linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def show_images(images, labels=None, ncols: int = 10, cmap="gray", scale: float = 1.0):
    """A grid of images [N, H, W] or [N, C, H, W] (tensor or array) with optional titles
    ``labels`` (a list of strings or numbers). Returns the figure."""
    import matplotlib.pyplot as plt

    images = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    if images.ndim == 4:  # [N, C, H, W] -> [N, H, W, C], a single channel squeezed
        images = images.transpose(0, 2, 3, 1)
        if images.shape[-1] == 1:
            images = images[..., 0]
    n = len(images)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows * 1.15),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    fig.tight_layout()
    return fig


def plot_loss_surface(f, path=None, xlim=(-2, 2), ylim=(-2, 2), ax=None, levels=30,
                      logscale=True, title: str | None = None, label: str | None = None):
    """Contours of a 2-D loss ``f(x, y)`` (vectorised over NumPy arrays) and, optionally,
    an optimizer's ``path``: an array [steps, 2] of visited points. Call again with
    ``ax=`` and another ``path`` to compare optimizers on the same surface."""
    ax = _axes(ax, figsize=(6, 5))
    if not ax.collections:  # draw the surface once per axes
        gx, gy = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
        z = f(gx, gy)
        if logscale:
            z = np.log10(z - z.min() + 1e-3)
        ax.contour(gx, gy, z, levels=levels, cmap="viridis", linewidths=0.7)
    if path is not None:
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], "o-", ms=2.5, lw=1.2, label=label)
        ax.plot(*path[-1], "k*", ms=9)
        if label:
            ax.legend()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    return ax
