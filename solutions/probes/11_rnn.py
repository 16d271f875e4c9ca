"""Probes of seminar 11 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import numpy as np
import torch

from coursekit.probe import need, probe
from utils.checks import call_unchanged

# the visible tests' helpers (references against nn.RNNCell, autograd, nn.GRU, a reference
# sampler) and the notebook's own training run of Task 8 (the probe trains the student's
# model itself, under its own seed)
SKIP = ("cell-check", "backward-check", "gru-check", "lengths-check", "sample-check",
        "sample-freq", "lm-train", "lm-check")

# torch._VF's recurrent kernels (what nn.RNN/RNNCell/GRU/GRUCell/LSTM and torch.rnn_tanh_cell,
# torch.gru_cell ... dispatch), measured under a TorchDispatchMode
RNN_OPS = ("aten::_thnn_fused_gru_cell", "aten::_thnn_fused_lstm_cell",
           "aten::mkldnn_rnn_layer",
           "aten::_cudnn_rnn", "aten::miopen_rnn")
# autograd's formula of tanh (what .backward / torch.autograd.grad through the step runs)
BACKWARD_OPS = ("aten::tanh_backward", "aten::_thnn_fused_gru_cell_backward",
                "aten::mkldnn_rnn_layer_backward")
PACK_OPS = ("aten::_pack_padded_sequence",)
LSTM_OPS = ("aten::_thnn_fused_lstm_cell",
            "aten::mkldnn_rnn_layer")


def _t(rng, *shape, scale=1.0):
    return torch.from_numpy(scale * rng.standard_normal(shape))


@probe("rnn-cell", rtol=1e-10, atol=1e-12, ops=RNN_OPS)
def rnn_cell(ns, rng):
    f, out = need(ns, "rnn_cell_forward"), {}
    for B, D, H, steps, scale in [(4, 3, 5, 1, 1.0), (2, 6, 3, 3, 1.0), (1, 1, 7, 2, 1.0),
                                  (3, 8, 2, 1, 30.0)]:
        W_xh, W_hh, b = _t(rng, H, D) / D ** 0.5, _t(rng, H, H) / H ** 0.5, _t(rng, H)
        h, hs = _t(rng, B, H), []
        for _ in range(steps):
            got = call_unchanged(f, _t(rng, B, D, scale=scale), h, W_xh, W_hh, b,
                                 name="rnn_cell_forward")
            if not (isinstance(got, tuple) and len(got) == 2):
                raise TypeError("rnn_cell_forward must return a pair (h, cache)")
            h = got[0]
            hs.append(h)
        tag = f"B={B}, D={D}, H={H}" + (f", inputs x{scale:g}" if scale != 1 else "")
        out[f"h at each of {steps} steps ({tag}; tanh(x W_xh^T + h W_hh^T + b))"] = hs
    return out


@probe("rnn-backward", rtol=1e-8, atol=1e-10, ops=BACKWARD_OPS)
def rnn_backward(ns, rng):
    forward, f, out = need(ns, "rnn_cell_forward"), need(ns, "rnn_cell_backward"), {}
    for B, D, H, scale in [(4, 3, 5, 1.0), (1, 6, 2, 1.0), (7, 2, 9, 1.0), (3, 4, 4, 20.0)]:
        x, h_prev = _t(rng, B, D, scale=scale), _t(rng, B, H)
        W_xh, W_hh, b = _t(rng, H, D) / D ** 0.5, _t(rng, H, H) / H ** 0.5, _t(rng, H)
        _, cache = forward(x, h_prev, W_xh, W_hh, b)
        got = call_unchanged(f, _t(rng, B, H), cache, name="rnn_cell_backward")
        if not (isinstance(got, tuple) and len(got) == 5):
            raise TypeError("rnn_cell_backward must return five tensors: dx, dh_prev, dW_xh, "
                            "dW_hh, db")
        tag = f"B={B}, D={D}, H={H}" + (" (saturated units)" if scale != 1 else "")
        for name, g in zip(["dx", "dh_prev", "dW_xh", "dW_hh", "db"], got, strict=True):
            out[f"{name} ({tag})"] = g
    return out


@probe("gru-params", rtol=0, atol=0)
def gru_params(ns, rng):
    n = need(ns, "ANSWER_GRU_PARAMS")
    return {"type of ANSWER_GRU_PARAMS (an int)": type(n).__name__,
            "ANSWER_GRU_PARAMS (3 blocks per layer, each with W_ih, W_hh and two biases; "
            "layer 2 reads the 20 hidden units of layer 1)": str(n) if type(n) is int else n}


def _gru_weights(rng, D, H, bias_scale):
    return (_t(rng, 3 * H, D) / H ** 0.5, _t(rng, 3 * H, H) / H ** 0.5,
            _t(rng, 3 * H, scale=bias_scale / H ** 0.5),
            _t(rng, 3 * H, scale=bias_scale / H ** 0.5))


@probe("gru-cell", rtol=1e-9, atol=1e-11, ops=RNN_OPS)
def gru_cell(ns, rng):
    f, out = need(ns, "gru_cell"), {}
    for B, T, D, H, bias_scale in [(4, 5, 3, 6, 1.0), (1, 3, 7, 2, 10.0), (3, 30, 2, 5, 1.0),
                                   (2, 4, 5, 5, 5.0)]:
        params = _gru_weights(rng, D, H, bias_scale)
        h, hs = _t(rng, B, H), []
        for _ in range(T):
            h = call_unchanged(f, _t(rng, B, D), h, *params, name="gru_cell")
            hs.append(h)
        out[f"h at each of {T} steps (B={B}, D={D}, H={H}, biases x{bias_scale:g}; does "
            "yours hold for B > 1, with every bias?)"] = hs
    return out


@probe("gru-lengths", rtol=1e-9, atol=1e-11, ops=RNN_OPS + PACK_OPS)
def gru_lengths(ns, rng):
    f, out = need(ns, "gru_last_state"), {}
    cases = [([3, 5, 1, 5], 5, 3, 4), ([1], 1, 2, 3), ([2], 6, 2, 3),
             ([7, 2, 7, 4, 1, 6], 7, 2, 6), ([4, 4], 4, 5, 2)]
    T = int(rng.integers(3, 9))
    cases.append((rng.integers(1, T + 1, int(rng.integers(2, 6))).tolist(), T, 3, 4))
    for lengths, T, D, H in cases:
        params = _gru_weights(rng, D, H, 1.0)
        lengths_t = torch.tensor(lengths, dtype=torch.int64)
        X = _t(rng, len(lengths), T, D)
        for b, n in enumerate(lengths):
            X[b, n:] = _t(rng, T - n, D, scale=100.0)  # padding: anything
        got = call_unchanged(f, X, lengths_t, *params, name="gru_last_state")
        out[f"states after each sequence's own last step (lengths {lengths}, T={T}, H={H}; "
            "does the padding change them? is the state kept, not reset, after the end?)"] = got
    return out


@probe("forget-bias", rtol=5e-3, atol=0)
def forget_bias(ns, rng):
    b = need(ns, "ANSWER_FORGET_BIAS")
    return {"type of ANSWER_FORGET_BIAS (a float)": type(b).__name__,
            "ANSWER_FORGET_BIAS (sigma(b) ** 50 = 1/2)": b}


@probe("sample", rtol=0, atol=0.015)
def sample(ns, rng):
    """The same generator state gives the same ids as the solution (one multinomial call);
    over 20,000 draws, frequencies within 0.015."""
    f, out = need(ns, "sample_next"), {}
    for B, V, tau, top_k, scale in [(6, 10, 1.0, None, 3.0), (6, 10, 0.5, None, 3.0),
                                    (6, 10, 0, None, 3.0), (3, 50, 2.0, 5, 3.0),
                                    (1, 7, 0.8, 1, 3.0), (9, 94, 1.5, None, 3.0),
                                    (4, 20, 0, 3, 3.0), (5, 30, 0.7, 4, 10.0)]:
        logits = torch.from_numpy((scale * rng.standard_normal((B, V))).astype(np.float32))
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        ids = call_unchanged(lambda z, t=tau, g=gen, k=top_k: f(z, t, g, k), logits,
                             name="sample_next")  # not the generator: its state moves
        tag = f"B={B}, V={V}, temperature {tau}, top_k {top_k}"
        out[f"type and dtype of the ids ({tag}): an int64 tensor"] = \
            [type(ids).__name__, str(getattr(ids, "dtype", None))]
        out[f"ids ({tag}; divide the logits by the temperature, one torch.multinomial call "
            "for the batch)"] = ids
    row = torch.tensor([2.0, 1.0, 0.0, -1.0]) + float(rng.uniform(-0.5, 0.5))
    for tau, top_k in [(0.5, None), (2.0, None), (1.0, 2)]:
        ids = f(row.repeat(20_000, 1), tau, torch.Generator().manual_seed(
            int(rng.integers(2**31))), top_k)
        out[f"frequencies over 20,000 draws of logits (2, 1, 0, -1) + c, temperature {tau}, "
            f"top_k {top_k}"] = torch.bincount(torch.as_tensor(ids), minlength=4).double() / 20_000
    return out


def _model_facts(CharGRU, rng, vocab_size, B, T, **kwargs):
    """The hidden test's checks of the interface, as facts (no reference involved)."""
    torch.manual_seed(int(rng.integers(2**31)))
    model = CharGRU(vocab_size, **kwargs).double().eval()
    x = torch.from_numpy(rng.integers(0, vocab_size - 1, (B, T)))  # the last id never read
    tag = f"CharGRU({vocab_size}{''.join(f', {k}={v}' for k, v in kwargs.items())}), B={B}, T={T}"
    got = call_unchanged(model, x, name="CharGRU.forward")
    if not (isinstance(got, tuple) and len(got) == 2):
        raise TypeError("CharGRU.forward must return a pair (logits, state)")
    out = {f"{tag}: logits shape": list(got[0].shape)}
    with torch.no_grad():
        first, state = model(x[:, :T // 2])
        second, _ = model(x[:, T // 2:], state)
        out[f"{tag}: logits read in two halves, the state passed on, equal to those at once "
            "(use the state argument as the initial state)"] = bool(torch.allclose(
                torch.cat([first, second], 1), got[0], rtol=1e-9, atol=1e-10))
        other, _ = model(x[:, T // 2:])
        out[f"{tag}: the state passed to forward changes the logits"] = \
            not bool(torch.allclose(other, second))
        emb = getattr(model, "embed", None)
        out[f"{tag}: an attribute embed, an nn.Embedding with a row per character"] = \
            isinstance(emb, torch.nn.Embedding) and emb.weight.shape[0] == vocab_size
        if out[f"{tag}: an attribute embed, an nn.Embedding with a row per character"]:
            out[f"{tag}: parameters of the embedding's shape (tied: one table)"] = sum(
                p.shape == emb.weight.shape for p in model.parameters())
            emb.weight[-1] += 1.0
            moved = (model(x)[0] - got[0]).abs().amax(dim=(0, 1)) > 1e-9
            emb.weight[-1] -= 1.0
            out[f"{tag}: logits that change with the embedding row of a character not in "
                "the input (only its own: logits = u @ embed.weight.T + c)"] = \
                [bool(moved[-1]), int(moved.sum())]
    return out


def _logits(model, x):
    model.eval()
    with torch.no_grad():
        logits, _ = model(x)
    return logits.reshape(-1, logits.shape[-1]).float().numpy()


@probe("char-gru", rtol=0, atol=0, ops=LSTM_OPS, score=[
    {"predictions": "logits after training", "truth": "next characters", "metric": "bits",
     "at_most": 2.21, "examples": "validation characters",
     "hint": "trained LM_STEPS steps with LM_LR under the grader's seed; check the model, "
             "or choose another LM_LR or sizes on validation"},
    {"predictions": "logits before training", "truth": "next characters", "metric": "bits",
     "at_least": 4.0, "examples": "validation characters",
     "hint": "CharGRU(V, hidden=LM_HIDDEN) must start untrained: the grader trains it"}])
def char_gru(ns, rng):
    """The interface facts, then CharGRU(V, hidden=LM_HIDDEN) built under the grader's seed,
    trained LM_STEPS steps by charlm.train_lm as the notebook does, scored on held-out
    windows the grader drew."""
    CharGRU, charlm, V = need(ns, "CharGRU"), need(ns, "charlm"), need(ns, "V")
    out = {}
    for vocab, B, T, kw in [(V, 3, 10, {}), (7, 2, 9, {"emb": 5, "hidden": 6}),
                            (200, 1, 4, {"emb": 16, "hidden": 32}),
                            (30, 2, 6, {"emb": 8, "hidden": 8})]:
        out.update(_model_facts(CharGRU, rng, vocab, B, T, **kw))
    # the statement's training (the notebook's lm-train cell): seed 0. Fresh seeds would not
    # do: the solution's bits per character on validation vary by about 0.2 with the seed
    seed = 0
    torch.manual_seed(seed)
    lm = CharGRU(V, hidden=need(ns, "LM_HIDDEN"))
    budget = {"CharGRU(V, hidden=LM_HIDDEN) has at most 150,000 parameters":
              charlm.n_params(lm) <= 150_000,
              "CharGRU has an nn.GRU inside": any(isinstance(m, torch.nn.GRU)
                                                  for m in lm.modules())}
    out.update(budget)
    # the whole validation split (never trained on; the bar is set on it), in an order drawn
    # by rng
    vx, vy = need(ns, "val_windows")
    pick = torch.from_numpy(rng.permutation(len(vx)))
    x, y = vx[pick], vy[pick]
    out["next characters"] = y.reshape(-1).numpy()
    out["logits before training"] = _logits(lm, x)
    if all(budget.values()):
        charlm.train_lm(lm, need(ns, "train_ids"), (x[:2], y[:2]), steps=need(ns, "LM_STEPS"),
                        batch_size=32, context=64, lr=need(ns, "LM_LR"), clip=1.0, seed=seed,
                        carry_state=True, device="cpu")
    out["logits after training"] = _logits(lm, x)
    return out
