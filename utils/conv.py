"""Helpers of lecture 10 (convolutional networks) that the lecture and the seminar share.

``conv_output_size`` is the output-size formula of ``nn.Conv2d`` / ``nn.MaxPool2d``;
``random_shift`` is the augmentation of the lecture (translate each image by a few pixels);
``train_cnn`` trains a classifier on image tensors (Adam, one-cycle learning rate, optional
shifts, on a ``device``) and returns the validation accuracy per epoch; ``predict`` and
``count_params`` are the small things every CNN experiment needs.
"""
from __future__ import annotations


def conv_output_size(n: int, kernel: int, padding: int = 0, stride: int = 1,
                     dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one axis of length ``n``:
    ``floor((n + 2 padding - dilation (kernel - 1) - 1) / stride) + 1``."""
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def count_params(net) -> int:
    """Number of trainable parameters of a module."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def random_shift(X, max_shift: int, generator=None, fill: float = 0.0):
    """Translate every image of X [N, C, H, W] by its own random (dy, dx), each in
    [-max_shift, max_shift], filling the uncovered border with ``fill`` (for standardized
    images: the standardized value of a black pixel). Returns a new tensor."""
    import torch
    import torch.nn.functional as F

    if max_shift == 0:
        return X.clone()
    s, (N, _, H, W) = max_shift, X.shape
    padded = F.pad(X, (s, s, s, s), value=fill)              # [N, C, H + 2s, W + 2s]
    dy = torch.randint(0, 2 * s + 1, (N,), generator=generator)
    dx = torch.randint(0, 2 * s + 1, (N,), generator=generator)
    out = torch.empty_like(X)
    for oy in range(2 * s + 1):                              # (2s+1)^2 groups, each one slice
        for ox in range(2 * s + 1):
            rows = ((dy == oy) & (dx == ox)).nonzero().flatten()
            out[rows] = padded[rows, :, oy:oy + H, ox:ox + W]
    return out


def predict(net, X, batch_size: int = 512, device=None):
    """Class predictions [N] of ``net`` for X, in eval mode and without gradients; the
    module's train/eval mode is restored afterwards. Batches go to ``device`` (default: the
    device of the net's first parameter); the predictions come back on the CPU, like X."""
    import torch

    if device is None:
        first = next(iter(net.parameters()), None)
        device = first.device if first is not None else "cpu"
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = torch.cat([net(X[i:i + batch_size].to(device)).argmax(1)
                         for i in range(0, len(X), batch_size)]).cpu()
    net.train(was_training)
    return out


def train_cnn(net, X_train, y_train, X_val=None, y_val=None, epochs: int = 30,
              lr: float = 3e-3, batch_size: int = 64, shift: int = 0, weight_decay: float = 0.0,
              seed: int = 0, device="cpu", progress: bool = False) -> dict:
    """Train ``net`` with Adam and a one-cycle learning-rate schedule on X_train [N, C, H, W],
    y_train [N]; each epoch sees the images shifted by up to ``shift`` pixels
    (``random_shift``) in a shuffled order drawn from a generator seeded by ``seed``. The
    border a shift uncovers gets the smallest value of X_train (for standardized digits: the
    background).

    One-cycle (``torch.optim.lr_scheduler.OneCycleLR``, stepped after every batch): the
    learning rate rises from ``lr / 25`` to ``lr`` over the first 30 % of the steps, then
    falls along a cosine to ``lr / 25 / 10^4``. The net and every batch live on ``device``
    (the data may stay on the CPU); ``progress`` prints one text line per epoch (epoch,
    loss, validation accuracy, seconds so far).

    Returns ``{"train_loss": [...], "val_acc": [...], "lr": [...]}``: the loss and the
    validation accuracy once per epoch (``val_acc`` only when X_val is given), the learning
    rate of every step. The net is left in eval mode, on ``device``.
    """
    import time

    import torch
    import torch.nn.functional as F

    net.to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(X_train) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    history: dict[str, list[float]] = {"train_loss": [], "lr": []}
    fill, t0 = X_train.min().item(), time.perf_counter()
    for epoch in range(epochs):
        net.train()
        X_epoch = random_shift(X_train, shift, gen, fill) if shift else X_train
        perm, total = torch.randperm(len(X_train), generator=gen), 0.0
        for i in range(0, len(X_train), batch_size):
            idx = perm[i:i + batch_size]
            X, y = X_epoch[idx].to(device), y_train[idx].to(device)
            loss = F.cross_entropy(net(X), y)
            opt.zero_grad()
            loss.backward()
            history["lr"].append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        history["train_loss"].append(total / len(X_train))
        line = f"epoch {epoch + 1}/{epochs}: training loss {history['train_loss'][-1]:.4f}"
        if X_val is not None:
            acc = (predict(net, X_val, device=device) == y_val).float().mean().item()
            history.setdefault("val_acc", []).append(acc)
            line += f", validation accuracy {acc:.4f}"
        if progress:
            print(f"{line} ({time.perf_counter() - t0:.0f} s)", flush=True)
    net.eval()
    return history
