"""utils.conv: the output-size formula against torch, shifts, predict, train_cnn."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils import conv


@pytest.mark.parametrize("n,k,p,s,d", [(8, 3, 0, 1, 1), (8, 3, 1, 1, 1), (28, 5, 2, 2, 1),
                                       (7, 2, 0, 2, 1), (9, 3, 1, 3, 2), (5, 5, 0, 1, 1)])
def test_conv_output_size_matches_torch(n, k, p, s, d):
    out = F.conv2d(torch.zeros(1, 1, n, n + 1), torch.zeros(1, 1, k, k), padding=p, stride=s, dilation=d)
    assert out.shape[-2:] == (conv.conv_output_size(n, k, p, s, d), conv.conv_output_size(n + 1, k, p, s, d))


def test_count_params():
    assert conv.count_params(nn.Conv2d(3, 5, 3)) == 3 * 5 * 9 + 5


def test_random_shift_moves_each_image_within_range():
    X = torch.zeros(50, 2, 6, 7)
    X[:, :, 3, 3] = 1.0                                      # one lit pixel per image
    gen = torch.Generator().manual_seed(0)
    Y = conv.random_shift(X, 1, gen)
    assert Y.shape == X.shape and X[:, :, 3, 3].eq(1).all()  # input unchanged
    pos = Y[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 7, pos % 7
    assert rows.sub(3).abs().le(1).all() and cols.sub(3).abs().le(1).all()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 5    # several different shifts
    assert torch.equal(Y[:, 0], Y[:, 1])                     # same shift for all channels
    assert torch.equal(conv.random_shift(X, 0), X)


def test_random_shift_fills_with_zeros():
    X = torch.ones(20, 1, 4, 4)
    Y = conv.random_shift(X, 2, torch.Generator().manual_seed(1))
    assert Y.sum() < X.sum() and set(Y.unique().tolist()) <= {0.0, 1.0}


def test_predict_uses_eval_mode_and_restores_it():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 30), nn.Dropout(0.5), nn.Linear(30, 3))
    X = torch.randn(700, 4)
    net.eval()
    expected = net(X).argmax(1)
    net.train()
    assert torch.equal(conv.predict(net, X, batch_size=256), expected)
    assert net.training


def test_train_cnn_learns_a_separable_task_reproducibly():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 1, 6, 6, generator=gen)
    y = (X[:, 0, :3].sum((1, 2)) > X[:, 0, 3:].sum((1, 2))).long()

    def run(shift):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
        return net, conv.train_cnn(net, X[:150], y[:150], X[150:], y[150:], epochs=15, lr=1e-2, shift=shift)

    net, h = run(0)
    assert len(h["train_loss"]) == 15 and len(h["val_acc"]) == 15
    assert h["train_loss"][-1] < h["train_loss"][0] and h["val_acc"][-1] > 0.8
    assert not net.training
    (_, h1), (_, h2) = run(1), run(1)                        # shifts drawn from the seeded generator
    assert h1 == h2 and h1 != h


def test_random_shift_fill_value():
    X = torch.zeros(30, 1, 5, 5)
    Y = conv.random_shift(X, 1, torch.Generator().manual_seed(2), fill=-0.5)
    assert set(Y.unique().tolist()) == {-0.5, 0.0}


def test_conv_output_size_defaults_are_torchs():
    x = torch.zeros(1, 1, 9, 9)
    assert torch.nn.Conv2d(1, 1, 3)(x).shape[-1] == conv.conv_output_size(9, 3) == 7
    assert torch.nn.MaxPool2d(2, stride=1)(x).shape[-1] == conv.conv_output_size(9, 2) == 8


def _twin_train(twin, X, y, X_val, y_val, epochs, lr, batch_size, shift, weight_decay, seed):
    """train_cnn's documented loop, written out: Adam + one-cycle, shifted and shuffled."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(twin.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(X) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    hist = {"train_loss": [], "val_acc": [], "lr": []}
    for _ in range(epochs):
        twin.train()
        Xe = conv.random_shift(X, shift, gen, X.min().item()) if shift else X
        perm, total = torch.randperm(len(X), generator=gen), 0.0
        for i in range(0, len(X), batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(twin(Xe[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            hist["lr"].append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        hist["train_loss"].append(total / len(X))
        twin.eval()
        with torch.no_grad():
            hist["val_acc"].append((twin(X_val).argmax(1) == y_val).float().mean().item())
    return hist


def _pair():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(25, 8), nn.Dropout(0.2), nn.Linear(8, 3))
    twin = nn.Sequential(nn.Flatten(), nn.Linear(25, 8), nn.Dropout(0.2), nn.Linear(8, 3))
    twin.load_state_dict(net.state_dict())
    return net, twin


def test_train_cnn_is_adam_with_one_cycle_on_shifted_shuffled_batches():
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(70, 1, 5, 5, generator=gen) + 1, torch.randint(0, 3, (70,), generator=gen)
    net, twin = _pair()
    torch.manual_seed(1)
    hist = conv.train_cnn(net, X, y, X[:20], y[:20], epochs=2, lr=0.05, batch_size=32,
                          shift=1, weight_decay=0.01, seed=4)
    torch.manual_seed(1)  # the same dropout masks
    want = _twin_train(twin, X, y, X[:20], y[:20], 2, 0.05, 32, 1, 0.01, 4)
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert hist["train_loss"] == pytest.approx(want["train_loss"])
    assert hist["val_acc"] == pytest.approx(want["val_acc"]) and not net.training
    assert hist["lr"] == want["lr"] and len(hist["lr"]) == 6       # 2 epochs of 3 batches
    # the defaults: lr 3e-3, batches of 64, no shift, no weight decay, seed 0
    net, twin = _pair()
    torch.manual_seed(1)
    hist = conv.train_cnn(net, X, y, epochs=1)
    torch.manual_seed(1)
    want = _twin_train(twin, X, y, X[:1], y[:1], 1, 3e-3, 64, 0, 0.0, 0)
    for p, q in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert set(hist) == {"train_loss", "lr"} and hist["train_loss"] == pytest.approx(want["train_loss"])
    assert hist["lr"] == want["lr"]


def test_random_shift_is_seeded_and_reaches_every_offset():
    X = torch.zeros(200, 1, 5, 5)
    X[:, :, 2, 2] = 1.0
    a = conv.random_shift(X, 1, torch.Generator().manual_seed(4))
    b = conv.random_shift(X, 1, torch.Generator().manual_seed(4))
    c = conv.random_shift(X, 1, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    pos = a[:, 0].flatten(1).argmax(1)
    assert set(zip((pos // 5).tolist(), (pos % 5).tolist(), strict=True)) == {
        (r, k) for r in (1, 2, 3) for k in (1, 2, 3)}  # all nine shifts by -1, 0, +1


def _tiny_task():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(40, 1, 6, 6, generator=gen)
    return X, (X[:, 0, :3].sum((1, 2)) > 0).long()


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(72, 2))


def _fails_only_on_meta_data(fn):
    """Run fn; it must stop at the first call that needs numbers from a meta tensor (.item(),
    .cpu()), i.e. after every forward and backward ran on meta: a CPU tensor meeting meta
    weights would have raised 'not on the expected device' first."""
    with pytest.raises((RuntimeError, NotImplementedError)) as info:
        fn()
    assert "meta" in str(info.value) and "expected device" not in str(info.value), str(info.value)


def test_train_cnn_puts_the_net_and_every_batch_on_its_device():
    # the net's parameters on the meta device (no data, no arithmetic): forward, loss, backward
    # and the Adam step run only if every batch and its labels were moved there too
    X, y = _tiny_task()
    _fails_only_on_meta_data(lambda: conv.train_cnn(_small_cnn(), X, y, epochs=1, batch_size=16,
                                                     device="meta", shift=1))
    # what a forgotten .to(device) would do: a CPU batch (or CPU labels) meets meta tensors
    with pytest.raises(RuntimeError, match="expected device"):
        _small_cnn().to("meta")(X[:4])
    with pytest.raises(RuntimeError, match="expected device"):
        F.cross_entropy(torch.zeros(4, 2, device="meta"), y[:4])
    net = _small_cnn()
    h = conv.train_cnn(net, X, y, X, y, epochs=2, batch_size=16, device="cpu")
    assert next(net.parameters()).device.type == "cpu" and len(h["val_acc"]) == 2


def test_predict_sends_batches_to_the_net_device_and_returns_cpu_predictions():
    X, _ = _tiny_task()
    _fails_only_on_meta_data(lambda: conv.predict(_small_cnn().to("meta"), X))
    _fails_only_on_meta_data(lambda: conv.predict(_small_cnn().to("meta"), X, device="meta"))
    out = conv.predict(_small_cnn(), X, batch_size=7)
    assert out.device.type == "cpu" and out.dtype == torch.int64 and out.shape == (40,)


def test_train_cnn_follows_the_one_cycle_schedule_and_prints_progress(capsys):
    X, y = _tiny_task()
    h = conv.train_cnn(_small_cnn(), X, y, X, y, epochs=4, lr=0.01, batch_size=10, progress=True)
    lrs = torch.tensor(h["lr"])                                 # 4 epochs x 4 batches
    assert len(lrs) == 16 and abs(lrs[0].item() - 0.01 / 25) < 1e-9
    # the peak sits at step 0.3 * 16 - 1 = 3.8, between two steps: the nearest is within 0.1 %
    assert lrs.argmax().item() == 4 and abs(lrs.max().item() - 0.01) < 1e-3 * 0.01
    assert (lrs[:5].diff() > 0).all() and (lrs[4:].diff() < 0).all()
    assert lrs[-1].item() == pytest.approx(0.01 / 25 / 1e4)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch 1/4: training loss ") and "validation accuracy" in lines[-1]
    h_quiet = conv.train_cnn(_small_cnn(), X, y, epochs=1, batch_size=10)
    assert capsys.readouterr().out == "" and "val_acc" not in h_quiet
