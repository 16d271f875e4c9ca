"""A small decoder-only Transformer for unit 12, and the reversal task that shows what
attention does better than recurrence.

The lecture builds attention, multi-head attention, positional encoding and a block by
hand and checks each against PyTorch; the models trained in the notebook use the
versions here (``F.scaled_dot_product_attention`` inside, about 1.5x the steps per
second of a hand-written masked softmax on a CPU). Shapes: B batch, T time, C = d_model,
nh heads, hs = C // nh head size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused input projection ``qkv`` (C -> 3C, the
    layout of ``nn.MultiheadAttention.in_proj_weight``: rows q, then k, then v) and an
    output projection ``proj``."""

    def __init__(self, d_model: int, n_heads: int, causal: bool = True):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not a multiple of n_heads={n_heads}")
        self.n_heads, self.causal = n_heads, causal
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _heads(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # 3 x (B, T, C)
        return [t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
                for t in (q, k, v)]

    def forward(self, x):
        """x [B, T, C] -> [B, T, C]."""
        B, T, C = x.shape
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    @torch.no_grad()
    def weights(self, x):
        """The attention weights [B, nh, T, T] (rows: queries, columns: keys)."""
        q, k, _ = self._heads(x)
        logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if self.causal:
            T = x.shape[1]
            logits = logits.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        return logits.softmax(dim=-1)


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(ln1(x)), then x + ff(ln2(x)); ReLU in the
    feed-forward part, no dropout (the layout of ``nn.TransformerEncoderLayer`` with
    ``norm_first=True``)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, causal: bool = True):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, causal)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))


@torch.no_grad()
def copy_from_encoder_layer(block: Block, layer: nn.TransformerEncoderLayer) -> Block:
    """Copy the weights of ``layer`` into ``block`` (same sizes); returns ``block``."""
    pairs = [(block.attn.qkv.weight, layer.self_attn.in_proj_weight),
             (block.attn.qkv.bias, layer.self_attn.in_proj_bias),
             (block.attn.proj.weight, layer.self_attn.out_proj.weight),
             (block.attn.proj.bias, layer.self_attn.out_proj.bias),
             (block.ln1.weight, layer.norm1.weight), (block.ln1.bias, layer.norm1.bias),
             (block.ln2.weight, layer.norm2.weight), (block.ln2.bias, layer.norm2.bias),
             (block.ff[0].weight, layer.linear1.weight), (block.ff[0].bias, layer.linear1.bias),
             (block.ff[2].weight, layer.linear2.weight), (block.ff[2].bias, layer.linear2.bias)]
    for mine, theirs in pairs:
        mine.copy_(theirs)
    return block


class GPT(nn.Module):
    """Decoder-only character model: token + learned position embeddings, ``n_layers``
    causal pre-norm blocks, a final LayerNorm and a linear read-out.
    forward(x [B, T] ids) -> logits [B, T, V]; T <= context."""

    def __init__(self, vocab_size: int, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
                 context: int = 64, d_ff: int | None = None):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, x):
        T = x.shape[1]
        if T > self.context:
            raise ValueError(f"a sequence of {T} > context {self.context} positions")
        h = self.tok(x) + self.pos(torch.arange(T, device=x.device))  # (B, T, C)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h))  # (B, T, V)

    @torch.no_grad()
    def attention_maps(self, x):
        """Attention weights of every layer: a list of [B, nh, T, T]."""
        h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))
        maps = []
        for block in self.blocks:
            maps.append(block.attn.weights(block.ln1(h)))
            h = block(h)
        return maps


# ---------------------------------------------------------------- the reversal task
def reverse_batch(batch_size: int, length: int, n_symbols: int, generator):
    """Sequences ``x_1..x_L SEP x_L..x_1`` of symbols 0..n_symbols-1 (SEP = n_symbols),
    read left to right by a causal model. Returns inputs [B, 2L] and targets [B, 2L]
    (the next symbol), with -100 (ignored by ``F.cross_entropy``) where the next symbol
    is part of the random input rather than of the answer. On the CPU (the generator's
    device): move them to the model's device."""
    digits = torch.randint(0, n_symbols, (batch_size, length), generator=generator)
    sep = torch.full((batch_size, 1), n_symbols)
    seq = torch.cat([digits, sep, digits.flip(1)], dim=1)  # (B, 2L + 1)
    x, y = seq[:, :-1], seq[:, 1:].clone()
    y[:, :length] = -100  # positions that would predict the input (and SEP): not scored
    return x, y


def _scalar(t) -> float:
    """A 0-d tensor as a float; NaN for a tensor on the ``meta`` device (no data: the tests
    run the training helpers there to prove every tensor goes to the model's device)."""
    return float("nan") if t.is_meta else t.item()


def logits_of(model, x):
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def reverse_accuracy(model, x, y):
    """(token accuracy, sequence accuracy) on the answer positions, with the true prefix
    given (teacher forcing). A sequence is right when every answer symbol is the argmax,
    which is exactly when greedy decoding reproduces the whole reversed sequence. ``x``
    must be where the model is."""
    was_training = model.training
    model.eval()
    try:
        pred = logits_of(model, x).argmax(-1)
    finally:
        model.train(was_training)
    y = y.to(pred.device)
    scored = y != -100
    correct = (pred == y) | ~scored
    token_acc = (correct & scored).sum() / scored.sum()  # no boolean indexing: runs on meta too
    return _scalar(token_acc.float()), _scalar(correct.all(1).float().mean())


def train_reverse(model, steps: int, length: int = 8, n_symbols: int = 10, batch_size: int = 64,
                  lr: float = 3e-3, clip: float = 1.0, seed: int = 0, eval_data=None,
                  eval_every: int | None = None, device=None) -> dict:
    """AdamW on fresh random batches of the reversal task for ``steps`` steps (the batches
    depend only on ``seed``: drawn on the CPU, then moved to ``device``). The model, its
    batches and ``eval_data`` go to ``device`` (default: where the model's parameters
    are). Returns ``{"loss": [per step, nats per answer symbol],
    "step", "token_acc", "seq_acc": [every eval_every steps on eval_data = (x, y)]}``."""
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    if eval_data is not None:
        eval_data = tuple(t.to(device) for t in eval_data)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    eval_every = eval_every or steps
    history = {"loss": [], "step": [], "token_acc": [], "seq_acc": []}
    model.train()
    for step in range(1, steps + 1):
        x, y = reverse_batch(batch_size, length, n_symbols, generator)
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(logits_of(model, x).flatten(0, 1), y.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history["loss"].append(_scalar(loss))
        if eval_data is not None and (step % eval_every == 0 or step == steps):
            token_acc, seq_acc = reverse_accuracy(model, *eval_data)
            history["step"].append(step)
            history["token_acc"].append(token_acc)
            history["seq_acc"].append(seq_acc)
    return history


def input_gradient_norms(model, embedding: nn.Module, x, y):
    """How much the loss at the LAST position depends on the input at each position:
    ``||d loss_T / d e_t||`` for the embedding output e_t, averaged over the batch; [T].
    ``embedding`` is the model's token-embedding module (its output is e)."""
    store = []

    def keep(module, inputs, out):  # returns None: the output is left as it is
        out.retain_grad()
        store.append(out)

    hook = embedding.register_forward_hook(keep)
    try:
        logits = logits_of(model, x)
        F.cross_entropy(logits[:, -1], y[:, -1]).backward()
    finally:
        hook.remove()
    model.zero_grad(set_to_none=True)
    return store[0].grad.norm(dim=-1).mean(0)  # (T,)
