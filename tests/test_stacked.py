import torch
from torch import nn

from utils.stacked import StackedMLP, make_mlp, train_stacked


def reference_run(seed, lr, X, y, X_val, steps, batch_size, batchnorm, drop_last):
    """make_mlp + torch.optim.SGD on the batches train_stacked uses."""
    torch.manual_seed(seed)
    net = make_mlp(5, 8, 3, 4, batchnorm).double()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    gen, step = torch.Generator().manual_seed(0), 0
    while step < steps:
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            if (drop_last and len(idx) < batch_size) or step == steps:
                break
            net.train()
            loss = nn.functional.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    net.eval()
    with torch.no_grad():
        return net(X_val), loss.item()


def test_each_stacked_model_equals_its_own_torch_run():
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(37, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (37,), generator=g)
    X_val, y_val = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (9,), generator=g)
    for batchnorm in (False, True):
        for drop_last in (False, True):
            seeds, lrs = [3, 4, 5], [0.01, 0.1, 0.05]
            net = StackedMLP.build(seeds, 5, 8, 3, 4, batchnorm).double()
            accs, losses = train_stacked(net, X, y, X_val, y_val, lrs, steps=7, batch_size=8,
                                         drop_last=drop_last, eval_every=7)
            assert accs.shape == (1, 3)
            net.eval()
            with torch.no_grad():
                out = net(X_val)
            for m, (s, lr) in enumerate(zip(seeds, lrs, strict=True)):
                ref, ref_loss = reference_run(s, lr, X, y, X_val, 7, 8, batchnorm, drop_last)
                torch.testing.assert_close(out[m], ref)
                assert abs(losses[m].item() - ref_loss) < 1e-10
                acc = (ref.argmax(1) == y_val).double().mean()
                assert abs(accs[0, m].item() - acc.item()) < 1e-6
                with torch.no_grad():
                    torch.testing.assert_close(net.unstack(m).eval()(X_val), ref)


def test_build_with_init_redraws_every_linear_weight():
    net = StackedMLP.build([0, 1], 5, 8, 2, 3, False, init=lambda w: w.fill_(0.5))
    assert all(bool((W == 0.5).all()) for W in net.W)


def test_train_stacked_defaults_batches_of_64_dropping_the_last_evaluated_every_10_steps():
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(150, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (150,), generator=g)
    X_val, y_val = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (9,), generator=g)
    seeds, lrs = [3, 4], [0.02, 0.05]
    net = StackedMLP.build(seeds, 5, 8, 3, 4, True).double()
    accs, losses = train_stacked(net, X, y, X_val, y_val, lrs, steps=20)
    assert accs.shape == (2, 2)  # evaluated after steps 10 and 20
    net.eval()
    with torch.no_grad():
        out = net(X_val)
    for m, (s, lr) in enumerate(zip(seeds, lrs, strict=True)):
        ref, ref_loss = reference_run(s, lr, X, y, X_val, 20, 64, True, True)
        torch.testing.assert_close(out[m], ref)
        assert abs(losses[m].item() - ref_loss) < 1e-10
    net.train()
    assert net.unstack(0).training and not net.eval().unstack(1).training
