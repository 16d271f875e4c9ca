"""Character-level language models for units 11 and 12: one LSTM model, one training loop,
one evaluation in bits per character and one sampler, shared by the recurrent and the
Transformer unit so that their figures are comparable.

A model takes ids ``x`` [B, T] and returns next-character logits [B, T, V]; a recurrent
model also takes and returns its state: ``forward(x, state=None) -> (logits, state)``.
Both kinds are accepted everywhere here.

Same text for every figure: a model is scored (``evaluate_bpc``) on the targets of
``text.eval_windows(split, context)``, by default every window of the split, and the
baselines (``text.bigram_bpc`` ...) take the same pair of windows, so that a model and
its baselines are always measured on the same characters.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from utils import text


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> linear read-out, batch first."""

    def __init__(self, vocab_size: int, emb: int = 64, hidden: int = 128, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb)
        self.lstm = nn.LSTM(emb, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)  # (B, T, hidden)
        return self.head(h), state  # (B, T, V)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward(model, x, state=None):
    """``(logits, state)`` for either kind of model (``state`` is None for a stateless one)."""
    out = model(x) if state is None else model(x, state)
    return out if isinstance(out, tuple) else (out, None)


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _windows(evaluate, context, n_windows):
    """The pair (x, y) of ``text.eval_windows``: given as such, or cut from 1-D ids."""
    if isinstance(evaluate, tuple):
        text._scored(evaluate)  # checks the pair's shape
        return tuple(torch.as_tensor(a) for a in evaluate)
    return text.eval_windows(evaluate, context, n_windows)


@torch.no_grad()
def evaluate_bpc(model, ids, context: int = 64, n_windows: int | None = None,
                 batch_size: int = 64, device=None) -> float:
    """Mean cross-entropy in bits per character on the targets of
    ``text.eval_windows(ids, context, n_windows)``: by default every non-overlapping window
    of the split, each read from a fresh state. ``ids`` may also be that pair ``(x, y)``
    itself (then ``context`` and ``n_windows`` are not used): pass the same pair to
    ``text.bigram_bpc`` and the model and the baseline are scored on the same characters.
    Batches go to ``device`` (default: where the model's parameters are). Puts the model
    in eval mode and restores the mode it had."""
    x, y = _windows(ids, context, n_windows)
    device = _device_of(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            logits, _ = forward(model, xb)
            total += F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum").item()
        return text.nats_to_bpc(total / y.numel())
    finally:
        model.train(was_training)


def _device_of(model) -> torch.device:
    param = next(model.parameters(), None)
    return torch.device("cpu") if param is None else param.device


def _stream_batches(ids, batch_size: int, context: int):
    """Truncated BPTT: the text cut into ``batch_size`` parallel streams, read left to
    right in chunks of ``context``; yields (x, y) [B, T] forever, wrapping around."""
    data = torch.as_tensor(ids)
    length = (len(data) - 1) // batch_size
    xs = data[:length * batch_size].view(batch_size, length)
    ys = data[1:length * batch_size + 1].view(batch_size, length)
    while True:
        for start in range(0, length - context + 1, context):
            yield xs[:, start:start + context], ys[:, start:start + context], start == 0


def train_lm(model, train_ids, val_ids, steps: int, batch_size: int = 32, context: int = 64,
             lr: float = 3e-3, clip: float | None = 1.0, seed: int = 0,
             eval_every: int | None = None, carry_state: bool = False,
             weight_decay: float = 0.01, val_windows: int | None = None, device=None) -> dict:
    """Train ``model`` for ``steps`` AdamW steps on next-character prediction.

    Batches are random windows of ``train_ids`` (``seed`` fixes them), or, with
    ``carry_state=True`` (recurrent models), truncated backpropagation through time: the
    text in ``batch_size`` streams read in order, the state carried from one chunk to the
    next but detached, so gradients stop at the chunk boundary. Gradients are clipped to
    norm ``clip``. Every ``eval_every`` steps (default: only at the end) the mean training
    loss since the last evaluation and the validation loss (``evaluate_bpc`` on
    ``text.eval_windows(val_ids, context, val_windows)``: by default the whole split; or
    pass that pair as ``val_ids``) are recorded, in bits per character. The model and every
    batch are put on ``device`` (default: where the model's parameters already are).
    Returns ``{"step", "train_bpc", "val_bpc": lists, "seconds": float}`` (wall time,
    machine-dependent: never print it in a compared output)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = _device_of(model) if device is None else torch.device(device)
    model.to(device)
    val = _windows(val_ids, context, val_windows)  # cut once, checked before training
    eval_every = eval_every or steps
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    stream = _stream_batches(train_ids, batch_size, context) if carry_state else None
    history = {"step": [], "train_bpc": [], "val_bpc": [], "seconds": 0.0}
    state, running, count = None, 0.0, 0
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        if carry_state:
            x, y, restart = next(stream)
            state = None if restart else _detach(state)
        else:
            x, y = text.random_windows(train_ids, batch_size, context, generator)
            state = None  # independent windows: each starts from a fresh state
        x, y = x.to(device), y.to(device)
        logits, state = forward(model, x, state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        running, count = running + loss.item(), count + 1
        if step % eval_every == 0 or step == steps:
            history["step"].append(step)
            history["train_bpc"].append(text.nats_to_bpc(running / count))
            history["val_bpc"].append(evaluate_bpc(model, val, device=device))
            running, count = 0.0, 0
    history["seconds"] = time.perf_counter() - start
    return history


@torch.no_grad()
def sample(model, vocab, prompt: str, n_chars: int, temperature: float = 1.0,
           generator: torch.Generator | None = None, context: int = 64) -> str:
    """``prompt`` followed by ``n_chars`` characters drawn one at a time from
    softmax(logits / temperature); ``temperature=0`` takes the most likely character.
    A recurrent model carries its state; a stateless one sees the last ``context``
    characters. Runs where the model's parameters are; eval mode during sampling, the
    previous mode restored."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    was_training = model.training
    model.eval()
    try:
        device = _device_of(model)
        seq = torch.as_tensor(vocab.encode(prompt)).view(1, -1).to(device)
        logits, state = forward(model, seq[:, -context:])
        out = []
        for _ in range(n_chars):
            last = logits[0, -1]
            if temperature == 0:
                nxt = last.argmax().view(1)
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                # drawn on the CPU, where ``generator`` lives: the same draws on any device
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(device)
            out.append(int(nxt))
            if state is not None:
                logits, state = forward(model, nxt.view(1, 1), state)
            else:
                seq = torch.cat([seq, nxt.view(1, 1)], dim=1)
                logits, _ = forward(model, seq[:, -context:])
        return prompt + vocab.decode(out)
    finally:
        model.train(was_training)


def uniform_bpc(vocab_size: int) -> float:
    """Bits per character of guessing uniformly: log2 V."""
    return math.log2(vocab_size)
