"""A small training loop, reused from lecture 05 on (earlier lectures write it by hand).

``fit`` returns a history dict ``{"train_loss": [...], "val_loss": [...], "val_acc": [...]}``
with one value per epoch, which ``utils.plotting.plot_history`` draws.
"""
from __future__ import annotations


def accuracy(logits, y) -> float:
    """Share of rows whose arg-max over classes equals the label. logits [B, K], y [B]."""
    return (logits.argmax(dim=1) == y).sum().item() / len(y)


def evaluate(model, loader, loss_fn, device="cpu", metrics=None) -> dict:
    """Mean loss (and each metric) of ``model`` over ``loader``, in eval mode, no grad.

    Batch values are weighted by batch size, so the result is the mean over examples.
    """
    import torch

    metrics = {"acc": accuracy} if metrics is None else metrics
    was_training = model.training
    model.eval()
    totals = {"loss": 0.0, **{k: 0.0 for k in metrics}}
    n = 0
    with torch.no_grad():
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            out = model(X)
            b = len(y)
            totals["loss"] += loss_fn(out, y).item() * b
            for k, m in metrics.items():
                totals[k] += m(out, y) * b
            n += b
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got an empty loader")
    return {k: v / n for k, v in totals.items()}


def fit(model, train_loader, loss_fn, optimizer, epochs: int = 10, val_loader=None,
        device="cpu", metrics=None, scheduler=None, progress: bool = True) -> dict:
    """Train ``model`` for ``epochs`` passes over ``train_loader``.

    Each step is the five-line loop of lecture 05: forward, loss, ``zero_grad``,
    ``backward``, ``step``. After each epoch the model is evaluated on ``val_loader`` (if
    given). Returns the history; ``progress`` shows a ``tqdm.auto`` bar (a widget in
    Jupyter, plain text elsewhere).
    """
    from tqdm.auto import trange

    metrics = {"acc": accuracy} if metrics is None else metrics
    model.to(device)
    history: dict[str, list[float]] = {"train_loss": []}
    bar = trange(epochs, desc="epochs", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        total, n = 0.0, 0
        for X, y in train_loader:
            X, y = X.to(device), y.to(device)
            loss = loss_fn(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            n += len(y)
        if scheduler is not None:
            scheduler.step()
        history["train_loss"].append(total / n)
        if val_loader is not None:
            for k, v in evaluate(model, val_loader, loss_fn, device, metrics).items():
                history.setdefault(f"val_{k}", []).append(v)
        bar.set_postfix(loss=f"{total / n:.3g}")
    return history
