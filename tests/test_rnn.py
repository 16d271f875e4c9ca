"""utils.rnn: the memory task and M recurrent models stacked block-diagonally."""
import pytest
import torch
import torch.nn.functional as F

from utils.rnn import KINDS, StackedRecurrent, memory_batch, train_memory


def test_memory_batch():
    gen = torch.Generator().manual_seed(0)
    x, y = memory_batch(50, 7, n_signal=3, n_noise=2, generator=gen)
    assert x.shape == (50, 7, 5) and y.shape == (50,)
    sym = x.argmax(-1)
    assert torch.equal(sym[:, 0], y) and (y < 3).all()
    assert (sym[:, 1:] >= 3).all() and torch.equal(x.sum(-1), torch.ones(50, 7))


def _block(net, m):
    """The weights of model m of ``net`` as a separate torch module of hidden size H."""
    cls, gates = KINDS[net.kind]
    H, MH = net.H, net.M * net.H
    rows = torch.cat([torch.arange(g * MH + m * H, g * MH + (m + 1) * H) for g in range(gates)])
    single = cls(net.rnn.input_size, H, batch_first=True)
    with torch.no_grad():
        single.weight_ih_l0.copy_(net.rnn.weight_ih_l0[rows])
        single.weight_hh_l0.copy_(net.rnn.weight_hh_l0[rows][:, m * H:(m + 1) * H])
        single.bias_ih_l0.copy_(net.rnn.bias_ih_l0[rows])
        single.bias_hh_l0.copy_(net.rnn.bias_hh_l0[rows])
    return single


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_stacked_equals_separate_models(kind):
    net = StackedRecurrent(kind, 6, 5, 3, seeds=[3, 4, 5], gate_bias=1.0).double()
    x = torch.randn(4, 9, 6, dtype=torch.float64)
    out = net(x)
    assert out.shape == (3, 4, 3)
    y = torch.tensor([0, 2, 1, 1])
    F.cross_entropy(out.flatten(0, 1), y.repeat(3), reduction="sum").backward()
    for m in range(3):
        single = _block(net, m).double()
        h, _ = single(x)
        ref = h[:, -1] @ net.head_w[m] + net.head_b[m]
        torch.testing.assert_close(out[m], ref)
        # the block's gradient is the separate model's gradient of its own loss
        F.cross_entropy(ref, y, reduction="sum").backward()
        H, MH = net.H, net.M * net.H
        gates = KINDS[kind][1]
        rows = torch.cat([torch.arange(g * MH + m * H, g * MH + (m + 1) * H) for g in range(gates)])
        torch.testing.assert_close(net.rnn.weight_hh_l0.grad[rows][:, m * H:(m + 1) * H],
                                   single.weight_hh_l0.grad)
    off = net.rnn.weight_hh_l0.grad * (1 - net.mask)
    assert off.abs().max() == 0 and (net.rnn.weight_hh_l0 * (1 - net.mask)).abs().max() == 0


def test_blocks_are_seeded_and_torch_scaled():
    a = StackedRecurrent("lstm", 4, 8, 2, seeds=[7, 8])
    b = StackedRecurrent("lstm", 4, 8, 2, seeds=[8])
    torch.testing.assert_close(_block(a, 1).weight_hh_l0, _block(b, 0).weight_hh_l0)
    assert a.rnn.weight_ih_l0.abs().max() <= 8 ** -0.5
    # gate_bias: +b on the forget gate, -b on the input gate (chrono init), LSTM order i, f, g, o
    c = StackedRecurrent("lstm", 4, 8, 2, seeds=[7, 8], gate_bias=3.0)
    diff = c.rnn.bias_ih_l0 - a.rnn.bias_ih_l0
    torch.testing.assert_close(diff, torch.cat([torch.full((16,), -3.0), torch.full((16,), 3.0),
                                                torch.zeros(32)]))


def test_train_memory_solves_short_sequences():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: more threads only spin (30x slower on a loaded machine)
    try:
        accs = train_memory("gru", 4, seeds=[0, 1], steps=150, hidden=8, gate_bias=1.0)
    finally:
        torch.set_num_threads(threads)
    assert len(accs) == 2 and all(type(a) is float for a in accs)
    assert min(accs) > 0.9


def test_memory_batch_is_seeded_with_four_and_four_symbols_by_default():
    x, y = memory_batch(500, 6, generator=torch.Generator().manual_seed(1))
    x2, y2 = memory_batch(500, 6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x, x2) and torch.equal(y, y2) and x.shape == (500, 6, 8)
    assert set(y.tolist()) == {0, 1, 2, 3} and set(x[:, 1:].argmax(-1).flatten().tolist()) == {4, 5, 6, 7}


def test_read_out_is_seeded_per_model_and_torch_scaled_and_gru_gets_its_gate_bias():
    a = StackedRecurrent("gru", 4, 16, 3, seeds=[7, 8])
    b = StackedRecurrent("gru", 4, 16, 3, seeds=[8, 7])
    torch.testing.assert_close(a.head_w[0], b.head_w[1])
    torch.testing.assert_close(a.head_b[1], b.head_b[0])
    bound = 16 ** -0.5
    w = torch.cat([a.head_w.flatten(), a.head_b.flatten()])
    assert w.abs().max() <= bound and w.min() < -bound / 2 and w.max() > bound / 2
    assert len(set(a.head_b.flatten().tolist())) == a.head_b.numel()
    g = StackedRecurrent("gru", 4, 16, 3, seeds=[7, 8], gate_bias=2.0)
    diff = g.rnn.bias_ih_l0 - a.rnn.bias_ih_l0
    torch.testing.assert_close(diff[32:64], torch.full((32,), 2.0))  # the update gate z
    assert diff[:32].abs().max() == 0 and diff[64:].abs().max() == 0


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_train_memory_puts_the_models_and_every_batch_on_device(kind):
    # The meta device holds shapes, no values: torch's recurrent kernels refuse a batch on
    # one device with parameters on another ("not at the same device"), so reaching the
    # first read of a value (the accuracies' .tolist()) means that the models and every
    # batch went to the device.
    with pytest.raises(RuntimeError, match="meta tensor"):
        train_memory(kind, T=5, seeds=(0, 1), steps=2, hidden=4, eval_size=8, device="meta")
    with pytest.raises(RuntimeError, match="not at the same device"):  # what a forgotten .to gives
        StackedRecurrent(kind, 8, 4, 4, (0,)).to("meta")(memory_batch(2, 5)[0])
