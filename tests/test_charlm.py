"""utils.charlm: the shared character-model pieces of units 11 and 12."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from utils import charlm, text

TEXT = "the cat sat on the mat. " * 60  # a periodic text: easy to learn, easy to check


@pytest.fixture
def data():
    vocab = text.Vocab(TEXT)
    ids = vocab.encode(TEXT)
    return vocab, ids[:1200], ids[1200:]


class Bigram(nn.Module):
    """A stateless model: logits of the next character from the current one only."""

    def __init__(self, v):
        super().__init__()
        self.table = nn.Embedding(v, v)

    def forward(self, x):
        return self.table(x)


class Dropped(nn.Module):
    """Stateless, with dropout: eval mode matters."""

    def __init__(self, v):
        super().__init__()
        self.table, self.drop = nn.Embedding(v, v), nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.table(x))


def test_lstm_shapes_and_state(data):
    vocab, _, _ = data
    m = charlm.CharLSTM(len(vocab), emb=8, hidden=16, layers=2)
    logits, (h, c) = m(torch.zeros(3, 5, dtype=torch.long))
    assert logits.shape == (3, 5, len(vocab)) and h.shape == c.shape == (2, 3, 16)
    assert charlm.n_params(m) == sum(p.numel() for p in m.parameters()) > 0


def test_evaluate_bpc_is_cross_entropy_in_bits_and_restores_mode(data):
    vocab, _, val = data
    torch.manual_seed(0)
    m = Dropped(len(vocab))
    x, y = text.fixed_windows(val, 16, 4)
    m.eval()
    expect = nn.functional.cross_entropy(m(x).flatten(0, 1), y.flatten()).item() / math.log(2)
    m.train()
    assert charlm.evaluate_bpc(m, val, context=16, n_windows=4, batch_size=3) == \
        pytest.approx(expect, rel=1e-6)  # eval mode: no dropout, batches summed correctly
    assert m.training
    m.eval()
    charlm.evaluate_bpc(m, val, context=16, n_windows=4)
    assert not m.training


@pytest.mark.parametrize("carry", [False, True])
def test_training_learns_the_periodic_text(data, carry):
    vocab, train, val = data
    torch.manual_seed(0)
    m = charlm.CharLSTM(len(vocab), emb=8, hidden=32)
    before = charlm.evaluate_bpc(m, val, context=16, n_windows=8)
    hist = charlm.train_lm(m, train, val, steps=120, batch_size=8, context=16, lr=1e-2,
                           eval_every=40, carry_state=carry, val_windows=8)
    assert hist["step"] == [40, 80, 120] and len(hist["train_bpc"]) == 3
    assert before > 3 and hist["val_bpc"][-1] < 0.5 < hist["val_bpc"][0] + 1
    assert hist["seconds"] > 0


def test_training_is_reproducible_and_the_seed_matters(data):
    vocab, train, val = data
    runs = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        m = Bigram(len(vocab))
        runs.append(charlm.train_lm(m, train, val, steps=5, batch_size=4, context=8,
                                    seed=seed, eval_every=1)["train_bpc"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_truncated_bptt_streams_are_contiguous():
    ids = np.arange(101)
    batches = charlm._stream_batches(ids, batch_size=4, context=5)
    x0, y0, first = next(batches)
    x1, _, again = next(batches)
    assert first and not again
    assert x0.shape == (4, 5) and torch.equal(y0[:, :-1], x0[:, 1:])
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # the next chunk continues each stream
    assert x0[1, 0] == 25  # stream 2 starts a quarter into the text


def test_clipping_bounds_the_update():
    torch.manual_seed(0)
    m = Bigram(4)
    ids = np.array([0, 1, 2, 3] * 50)
    before = m.table.weight.detach().clone()
    charlm.train_lm(m, ids, ids, steps=1, batch_size=2, context=4, lr=1.0, clip=1e-3,
                    weight_decay=0.0)
    # Adam's first step moves every weight with a gradient by about lr, clipped or not;
    # compare the clipped gradient instead
    m2 = Bigram(4)
    x, y = text.fixed_windows(ids, 4, 2)
    loss = nn.functional.cross_entropy(m2(x).flatten(0, 1), y.flatten())
    loss.backward()
    total = nn.utils.clip_grad_norm_(m2.parameters(), 1e-3)
    assert total > 1e-3 and m2.table.weight.grad.norm() <= 1e-3 * 1.001
    assert not torch.equal(before, m.table.weight)


def test_sample_is_seeded_greedy_and_keeps_the_prompt(data):
    vocab, train, val = data
    torch.manual_seed(0)
    m = charlm.CharLSTM(len(vocab), emb=8, hidden=32)
    charlm.train_lm(m, train, val, steps=150, batch_size=8, context=16, lr=1e-2)
    a = charlm.sample(m, vocab, "the ", 40, 1.0, torch.Generator().manual_seed(3))
    b = charlm.sample(m, vocab, "the ", 40, 1.0, torch.Generator().manual_seed(3))
    assert a == b and a.startswith("the ") and len(a) == 44
    greedy = charlm.sample(m, vocab, "the ", 20, temperature=0)
    assert greedy == "the " + TEXT[4:24]  # the learned text, character for character
    assert m.training
    stateless = charlm.sample(Bigram(len(vocab)), vocab, "ca", 10, 0.5,
                              torch.Generator().manual_seed(0), context=1)
    assert len(stateless) == 12
    with pytest.raises(ValueError, match="temperature"):
        charlm.sample(m, vocab, "a", 1, -1.0)


def test_high_temperature_spreads_the_samples(data):
    vocab, _, _ = data
    torch.manual_seed(0)
    m = Bigram(len(vocab))
    with torch.no_grad():
        m.table.weight.copy_(torch.eye(len(vocab)) * 8)  # strongly prefers repeating
    cold = charlm.sample(m, vocab, "t", 200, 0.2, torch.Generator().manual_seed(0))
    hot = charlm.sample(m, vocab, "t", 200, 50.0, torch.Generator().manual_seed(0))
    assert len(set(cold)) == 1 and len(set(hot)) > len(vocab) // 2
    assert charlm.uniform_bpc(len(vocab)) == pytest.approx(math.log2(len(vocab)))


def _bigram_pair(v):
    torch.manual_seed(0)
    m = Bigram(v)
    twin = Bigram(v)
    twin.load_state_dict(m.state_dict())
    return m, twin


def test_train_lm_with_its_defaults_is_the_adamw_loop_on_random_windows(data):
    import torch.nn.functional as F

    vocab, train, val = data
    m, twin = _bigram_pair(len(vocab))
    hist = charlm.train_lm(m, train, val, steps=3)  # defaults: see the twin below
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(twin.parameters(), lr=3e-3, weight_decay=0.01)
    losses = []
    for _ in range(3):
        x, y = text.random_windows(train, 32, 64, gen)
        loss = F.cross_entropy(twin(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    torch.testing.assert_close(m.table.weight, twin.table.weight)
    assert hist["step"] == [3]
    assert hist["train_bpc"] == [pytest.approx(np.mean(losses) / math.log(2))]
    x, y = text.fixed_windows(val, 64)  # evaluate_bpc's defaults: every window of the split
    with torch.no_grad():
        bpc = F.cross_entropy(twin(x).flatten(0, 1), y.flatten()).item() / math.log(2)
    assert hist["val_bpc"] == [pytest.approx(bpc)] == [pytest.approx(charlm.evaluate_bpc(twin, val))]


def test_train_lm_clips_decays_and_records_every_eval_every_steps(data):
    import torch.nn.functional as F

    vocab, train, val = data
    m, twin = _bigram_pair(len(vocab))
    hist = charlm.train_lm(m, train, val, steps=4, batch_size=4, context=8, lr=0.5,
                           clip=0.01, seed=5, weight_decay=0.3, eval_every=2, val_windows=3)
    gen = torch.Generator().manual_seed(5)
    opt = torch.optim.AdamW(twin.parameters(), lr=0.5, weight_decay=0.3)
    losses = []
    for _ in range(4):
        x, y = text.random_windows(train, 4, 8, gen)
        loss = F.cross_entropy(twin(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(twin.parameters(), 0.01)
        opt.step()
        losses.append(loss.item())
    torch.testing.assert_close(m.table.weight, twin.table.weight)
    assert hist["step"] == [2, 4]
    assert hist["train_bpc"] == pytest.approx([np.mean(losses[:2]) / math.log(2),
                                               np.mean(losses[2:]) / math.log(2)])
    assert hist["val_bpc"][-1] == pytest.approx(charlm.evaluate_bpc(twin, val, 8, 3))
    unclipped, _ = _bigram_pair(len(vocab))
    charlm.train_lm(unclipped, train, val, steps=4, batch_size=4, context=8, lr=0.5,
                    clip=None, seed=5, weight_decay=0.3, eval_every=2, val_windows=3)
    assert not torch.allclose(unclipped.table.weight, m.table.weight)


def test_train_lm_carries_the_state_detached_through_the_streams(data):
    import torch.nn.functional as F

    vocab, train, val = data
    torch.manual_seed(0)
    m = charlm.CharLSTM(len(vocab), emb=4, hidden=8)
    twin = charlm.CharLSTM(len(vocab), emb=4, hidden=8)
    twin.load_state_dict(m.state_dict())
    charlm.train_lm(m, train, val, steps=5, batch_size=4, context=100, lr=0.01,
                    carry_state=True, val_windows=2)  # 299 per stream: 2 chunks, then again
    opt = torch.optim.AdamW(twin.parameters(), lr=0.01, weight_decay=0.01)
    stream, state = charlm._stream_batches(train, 4, 100), None
    for _ in range(5):
        x, y, restart = next(stream)
        state = None if restart else tuple(s.detach() for s in state)
        logits, state = twin(x, state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(twin.parameters(), 1.0)
        opt.step()
    for p, q in zip(m.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)


class TableBigram(nn.Module):
    """The add-one bigram baseline as a model: logits = log p(next | current)."""

    def __init__(self, train, v):
        super().__init__()
        counts = torch.ones(v, v)
        counts.index_put_((torch.as_tensor(train[:-1]), torch.as_tensor(train[1:])),
                          torch.ones(len(train) - 1), accumulate=True)
        self.table = nn.Embedding.from_pretrained((counts / counts.sum(1, keepdim=True)).log(),
                                                  freeze=False)

    def forward(self, x):
        return self.table(x)


@pytest.mark.parametrize("context, n_windows", [(16, None), (7, None), (16, 3)])
def test_model_and_baseline_are_scored_on_the_same_characters(data, context, n_windows):
    # a model that IS the bigram baseline gets the baseline's figure exactly, whether the
    # windows are passed or cut by evaluate_bpc itself: the two score the same targets
    vocab, train, val = data
    val = np.concatenate([val, np.random.default_rng(0).integers(0, len(vocab), 200)])
    model = TableBigram(train, len(vocab))
    windows = text.eval_windows(val, context, n_windows)
    baseline = text.bigram_bpc(train, windows, len(vocab))
    assert charlm.evaluate_bpc(model, windows) == pytest.approx(baseline, rel=1e-5)
    assert charlm.evaluate_bpc(model, val, context, n_windows) == pytest.approx(baseline, rel=1e-5)
    if n_windows is None:  # the default is the whole split
        assert charlm.evaluate_bpc(model, val, context) == pytest.approx(baseline, rel=1e-5)
    hist = charlm.train_lm(model, train, windows, steps=1, lr=0.0, weight_decay=0.0)
    assert hist["val_bpc"] == [pytest.approx(baseline, rel=1e-5)]  # lr 0: the table unchanged


def test_evaluate_bpc_refuses_a_bad_pair_with_a_clear_message(data):
    vocab, _, val = data
    x, y = text.eval_windows(val, 8)
    with pytest.raises(ValueError, match="pair"):
        charlm.evaluate_bpc(Bigram(len(vocab)), (x, y[:, :3]))
    with pytest.raises(ValueError, match="needs at least"):
        charlm.train_lm(Bigram(len(vocab)), val, val[:5], steps=1, context=8)


class OnDevice(nn.Module):
    """Stateless, and refuses any input that is not where its parameters are."""

    def __init__(self, v):
        super().__init__()
        self.table = nn.Embedding(v, v)

    def forward(self, x, state=None):
        if x.device != self.table.weight.device:
            raise AssertionError(f"a batch on {x.device}, the parameters on {self.table.weight.device}")
        return self.table(x), state


def test_training_helpers_put_the_model_and_every_batch_on_device(data):
    # The meta device holds shapes, no values: a batch left on the CPU while the parameters
    # live there fails in OnDevice, and so would a model left on the CPU with a batch moved.
    # Training on meta fails only where a value is read: at the first loss.item().
    vocab, train, val = data
    for carry in (False, True):
        model = OnDevice(len(vocab))
        with pytest.raises((RuntimeError, NotImplementedError), match="meta tensor"):
            charlm.train_lm(model, train, val, steps=2, batch_size=4, context=8,
                            carry_state=carry, device="meta")
        assert model.table.weight.device.type == "meta"  # the model was moved
    with pytest.raises((RuntimeError, NotImplementedError), match="meta tensor"):
        charlm.evaluate_bpc(OnDevice(len(vocab)).to("meta"), val, context=8)
    with pytest.raises((RuntimeError, NotImplementedError), match="meta tensor"):
        charlm.sample(OnDevice(len(vocab)).to("meta"), vocab, "the", 3, 1.0,
                      torch.Generator().manual_seed(0))
    # and on the CPU, where nothing is moved, the same model trains and samples
    model = OnDevice(len(vocab))
    charlm.train_lm(model, train, val, steps=2, batch_size=4, context=8, device="cpu")
    assert len(charlm.sample(model, vocab, "the", 3, 1.0, torch.Generator().manual_seed(0))) == 6
