"""Helpers of unit 11 (recurrent networks): the long-range memory task and several
independently initialised recurrent models trained at once on it.

The task (``memory_batch``): a sequence of ``T`` one-hot symbols whose first symbol is one
of ``n_signal`` values and whose other ``T - 1`` symbols are noise drawn from ``n_noise``
other values; the target, read at the last step, is the first symbol. Chance is
``1 / n_signal``; solving it means carrying one symbol through ``T - 1`` noisy steps.

``StackedRecurrent`` runs M models of one kind (``nn.RNN``, ``nn.GRU`` or ``nn.LSTM``,
hidden size H each) as one torch module of hidden size M*H whose recurrent weight is kept
block-diagonal, so the M models never see each other's state: one C++ recurrence instead
of M Python-level runs. Each block is initialised as torch initialises a model of hidden
size H (uniform in +-1/sqrt(H)), from its own seed; the loss is the sum of the M models'
losses, so each block's gradient is its own model's gradient (``tests/test_rnn.py``
checks both against M separate models).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KINDS = {"rnn": (nn.RNN, 1), "gru": (nn.GRU, 3), "lstm": (nn.LSTM, 4)}


def memory_batch(batch_size: int, T: int, n_signal: int = 4, n_noise: int = 4,
                 generator: torch.Generator | None = None):
    """Inputs [B, T, n_signal + n_noise] (one-hot; step 0 carries the signal, steps
    1..T-1 noise symbols) and targets [B] (the signal, in 0..n_signal-1)."""
    y = torch.randint(0, n_signal, (batch_size,), generator=generator)
    sym = torch.randint(n_signal, n_signal + n_noise, (batch_size, T), generator=generator)
    sym[:, 0] = y
    return F.one_hot(sym, n_signal + n_noise).float(), y


class StackedRecurrent(nn.Module):
    """M independent one-layer recurrent models of one ``kind`` ("rnn", "gru", "lstm"),
    hidden size ``hidden`` each, with a linear read-out of the last hidden state.

    forward(x [B, T, n_in]) -> logits [M, B, n_out]. ``gate_bias`` is added to the bias
    of the LSTM's forget gate or the GRU's update gate z (0: torch's default init)."""

    def __init__(self, kind: str, n_in: int, hidden: int, n_out: int, seeds,
                 gate_bias: float = 0.0):
        super().__init__()
        cls, gates = KINDS[kind]
        M, H = len(seeds), hidden
        self.kind, self.M, self.H = kind, M, H
        self.rnn = cls(n_in, M * H, batch_first=True)
        self.head_w = nn.Parameter(torch.empty(M, H, n_out))
        self.head_b = nn.Parameter(torch.empty(M, 1, n_out))
        # unit u of the M*H units belongs to model u // H; row r of a gate matrix is unit r % (M*H)
        model_of_row = (torch.arange(gates * M * H) % (M * H)) // H
        mask = (model_of_row[:, None] == torch.arange(M * H)[None, :] // H).float()
        self.register_buffer("mask", mask)
        bound = H ** -0.5
        with torch.no_grad():
            for m, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                rows = torch.nonzero(model_of_row == m).flatten()
                cols = torch.arange(m * H, (m + 1) * H)
                for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                    p = getattr(self.rnn, name)
                    idx = (rows[:, None], cols[None, :]) if name == "weight_hh_l0" else (rows,)
                    p[idx] = torch.empty_like(p[idx]).uniform_(-bound, bound, generator=gen)
                self.head_w[m] = torch.empty(H, n_out).uniform_(-bound, bound, generator=gen)
                self.head_b[m] = torch.empty(1, n_out).uniform_(-bound, bound, generator=gen)
            self.rnn.weight_hh_l0.mul_(mask)
            if gate_bias and kind in ("gru", "lstm"):
                # torch's gate order: GRU (r, z, n), LSTM (i, f, g, o): z and f both second
                self.rnn.bias_ih_l0[M * H:2 * M * H] += gate_bias
            if gate_bias and kind == "lstm":   # chrono init: input gate = "1 - forget", as the GRU's
                self.rnn.bias_ih_l0[:M * H] -= gate_bias
        self.rnn.weight_hh_l0.register_hook(lambda g: g * self.mask)

    def forward(self, x):
        out, _ = self.rnn(x)                               # (B, T, M*H)
        last = out[:, -1].view(len(x), self.M, self.H)     # (B, M, H)
        return torch.einsum("bmh,mho->mbo", last, self.head_w) + self.head_b  # (M, B, out)


def train_memory(kind: str, T: int, seeds, steps: int = 400, hidden: int = 16,
                 batch_size: int = 32, lr: float = 1e-2, gate_bias: float = 0.0,
                 n_signal: int = 4, n_noise: int = 4, data_seed: int = 0,
                 eval_size: int = 512, device="cpu") -> list[float]:
    """Train ``len(seeds)`` models of ``kind`` on the memory task of length ``T`` (Adam,
    the same batches for all, from ``data_seed``, drawn on the CPU and moved to
    ``device`` with the models); return each model's accuracy on ``eval_size`` fresh
    sequences, a list of floats in the order of ``seeds``."""
    net = StackedRecurrent(kind, n_signal + n_noise, hidden, n_signal, seeds, gate_bias).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(data_seed)
    for _ in range(steps):
        x, y = memory_batch(batch_size, T, n_signal, n_noise, gen)
        x, y = x.to(device), y.to(device)
        logits = net(x)                                    # (M, B, n_signal)
        loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(net.M), reduction="sum") / batch_size
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    x, y = memory_batch(eval_size, T, n_signal, n_noise, torch.Generator().manual_seed(10_000 + data_seed))
    with torch.no_grad():
        return (net(x.to(device)).argmax(-1) == y.to(device)).float().mean(1).tolist()
