"""utils.transformer: the block equals PyTorch's pre-norm encoder layer, the GPT is causal,
the attention maps are the weights SDPA uses, the reversal task is what it says."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils import charlm
from utils import transformer as tr


@pytest.mark.parametrize("causal", [False, True])
def test_block_equals_encoder_layer(causal):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(12, 3, 20, dropout=0.0, batch_first=True,
                                       norm_first=True).double().eval()
    block = tr.copy_from_encoder_layer(tr.Block(12, 3, 20, causal=causal).double(), layer)
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    with torch.no_grad():
        if causal:
            mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
            ref = layer(x, src_mask=mask, is_causal=True)
        else:
            ref = layer(x)
        torch.testing.assert_close(block(x), ref)


def test_gpt_is_causal_and_shapes():
    torch.manual_seed(0)
    model = tr.GPT(7, d_model=16, n_heads=2, n_layers=2, context=10).eval()
    x = torch.randint(0, 7, (3, 10))
    logits = model(x)
    assert logits.shape == (3, 10, 7)
    changed = x.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 7
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[:, :6], logits[:, :6])
        assert not torch.allclose(model(changed)[:, 6:], logits[:, 6:])
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 11, dtype=torch.long))
    with pytest.raises(ValueError, match="multiple"):
        tr.SelfAttention(10, 3)


def test_attention_maps_are_the_weights_used():
    torch.manual_seed(1)
    attn = tr.SelfAttention(8, 2).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    w = attn.weights(x)  # (B, nh, T, T)
    assert w.shape == (2, 2, 6, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6, dtype=torch.float64))
    assert (w.triu(diagonal=1) == 0).all()
    _, _, v = attn._heads(x)
    y = (w @ v).transpose(1, 2).reshape(2, 6, 8)
    torch.testing.assert_close(attn(x), attn.proj(y))


def test_reverse_batch_and_accuracy():
    x, y = tr.reverse_batch(4, 5, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert (x[:, 5] == 10).all()  # the separator
    assert (y[:, :5] == -100).all()
    torch.testing.assert_close(y[:, 5:], x[:, :5].flip(1))

    pred = y.clamp(min=0).clone()  # right on every answer symbol ...
    pred[0, 7] = (pred[0, 7] + 1) % 10  # ... but one of row 0

    class Fixed(nn.Module):
        def forward(self, inp):
            return F.one_hot(pred, 11).float()

    token_acc, seq_acc = tr.reverse_accuracy(Fixed(), x, y)
    assert seq_acc == pytest.approx(0.75) and token_acc == pytest.approx(19 / 20)


def test_train_reverse_learns_and_records():
    torch.manual_seed(0)
    model = tr.GPT(11, d_model=16, n_heads=1, n_layers=1, context=8)
    data = tr.reverse_batch(50, 4, 10, torch.Generator().manual_seed(5))
    hist = tr.train_reverse(model, 30, length=4, seed=0, eval_data=data, eval_every=10)
    assert hist["step"] == [10, 20, 30] and len(hist["loss"]) == 30
    assert hist["loss"][-1] < hist["loss"][0]
    assert all(0 <= a <= 1 for a in hist["seq_acc"] + hist["token_acc"])


def test_input_gradient_norms_see_only_the_past():
    torch.manual_seed(0)
    gpt = tr.GPT(5, d_model=8, n_heads=2, n_layers=1, context=6)
    lstm = charlm.CharLSTM(5, 4, 8)
    x, y = torch.randint(0, 5, (3, 6)), torch.randint(0, 5, (3, 6))
    for model, emb in ((gpt, gpt.tok), (lstm, lstm.embed)):
        g = tr.input_gradient_norms(model, emb, x, y)
        assert g.shape == (6,) and (g > 0).all()
        assert all(p.grad is None for p in model.parameters())


def test_input_gradient_norms_are_those_of_the_last_positions_loss():
    torch.manual_seed(1)
    lstm = charlm.CharLSTM(5, 4, 8)
    x, y = torch.randint(0, 5, (3, 6)), torch.randint(0, 5, (3, 6))
    y[:, -1] = (y[:, -2] + 1) % 5  # the last target differs from the others around it
    y[:, 1] = (y[:, -1] + 2) % 5
    g = tr.input_gradient_norms(lstm, lstm.embed, x, y)
    # independently: d loss_T / d e by autograd.grad on the embedding's output
    seen = []
    hook = lstm.embed.register_forward_hook(lambda m, i, out: seen.append(out))
    logits = tr.logits_of(lstm, x)
    hook.remove()
    (de,) = torch.autograd.grad(F.cross_entropy(logits[:, -1], y[:, -1]), seen[0])
    torch.testing.assert_close(g, de.norm(dim=-1).mean(0))


def _reverse_twin(twin, steps, length, n_symbols, batch_size, lr, clip, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(twin.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, y = tr.reverse_batch(batch_size, length, n_symbols, gen)
        loss = F.cross_entropy(twin(x).flatten(0, 1), y.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(twin.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kwargs, twin_args", [
    ({}, (8, 10, 64, 3e-3, 1.0, 0)),  # the defaults
    ({"length": 3, "n_symbols": 4, "batch_size": 5, "lr": 0.05, "clip": 0.02, "seed": 2},
     (3, 4, 5, 0.05, 0.02, 2)),
])
def test_train_reverse_is_the_clipped_adamw_loop_on_fresh_batches(kwargs, twin_args):
    torch.manual_seed(0)
    model = tr.GPT(11, d_model=8, n_heads=2, n_layers=1, context=16)
    twin = tr.GPT(11, d_model=8, n_heads=2, n_layers=1, context=16)
    twin.load_state_dict(model.state_dict())
    hist = tr.train_reverse(model, 3, **kwargs)
    assert hist["loss"] == pytest.approx(_reverse_twin(twin, 3, *twin_args))
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert hist["step"] == hist["token_acc"] == hist["seq_acc"] == []  # no eval_data


def test_gpt_defaults():
    gpt = tr.GPT(7)
    assert gpt.tok.weight.shape == (7, 64) and gpt.pos.weight.shape == (64, 64)
    assert len(gpt.blocks) == 2 and gpt.blocks[0].attn.n_heads == 4
    assert gpt.blocks[0].ff[0].out_features == 256 and gpt.blocks[0].attn.causal
    with pytest.raises(ValueError, match="a sequence of 65 > context 64 positions"):
        gpt(torch.zeros(1, 65, dtype=torch.long))


class _OnDevice(nn.Module):
    """A tiny causal model that refuses any input not on its parameters' device."""

    def __init__(self, v=11):
        super().__init__()
        self.table = nn.Embedding(v, v)

    def forward(self, x):
        if x.device != self.table.weight.device:
            raise AssertionError(f"a batch on {x.device}, the parameters on {self.table.weight.device}")
        return self.table(x)


def test_train_reverse_puts_the_model_every_batch_and_the_eval_data_on_device():
    # On the meta device tensors have shapes and no values: a batch or eval_data left on the
    # CPU fails in _OnDevice (and a model left on the CPU with its batches moved would fail
    # the same way), so this run passes only if every tensor goes to `device`.
    eval_data = tr.reverse_batch(6, 3, 10, torch.Generator().manual_seed(0))
    model = _OnDevice()
    hist = tr.train_reverse(model, 2, length=3, batch_size=4, eval_data=eval_data, device="meta")
    assert model.table.weight.device.type == "meta"  # the model was moved
    assert hist["step"] == [2] and len(hist["loss"]) == 2
    assert all(v != v for v in hist["loss"] + hist["token_acc"])  # NaN: no values on meta
    # a GPT too (its position ids are made where its input is)
    gpt = tr.GPT(11, d_model=8, n_heads=2, n_layers=1, context=6).to("meta")
    tr.train_reverse(gpt, 1, length=3, batch_size=4, eval_data=eval_data)  # device: the model's
    # without `device`, the model stays where it is, and on the CPU the values are real
    model = _OnDevice()
    hist = tr.train_reverse(model, 2, length=3, batch_size=4, eval_data=eval_data)
    assert model.table.weight.device.type == "cpu" and 0.0 <= hist["token_acc"][0] <= 1.0
    # a model on meta given CPU data directly fails with the clear message
    with pytest.raises(AssertionError, match="a batch on cpu, the parameters on meta"):
        tr.reverse_accuracy(_OnDevice().to("meta"), *eval_data)
