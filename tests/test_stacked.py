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


def test_train_seeds_equals_each_seed_trained_alone_on_its_own_batch_order():
    from utils.stacked import train_seeds
    g = torch.Generator().manual_seed(3)
    X, y = torch.randn(29, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (29,), generator=g)
    X_val, y_val = torch.randn(11, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (11,), generator=g)
    seeds = [4, 7, 9]
    for make in (lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
                 lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)):
        net = StackedMLP.build(seeds, 5, 8, 2, 4, False).double()
        accs = train_seeds(net, make, X, y, X_val, y_val, epochs=3, seeds=seeds, batch_size=8)
        assert accs.shape == (3, 3)
        for m, s in enumerate(seeds):
            torch.manual_seed(s)
            ref = make_mlp(5, 8, 2, 4, False).double()
            opt, gen = make(ref.parameters()), torch.Generator().manual_seed(s)
            for epoch in range(3):
                order = torch.randperm(len(X), generator=gen)
                for i in range(0, len(X), 8):                     # the last batch (5 examples) kept
                    idx = order[i:i + 8]
                    loss = nn.functional.cross_entropy(ref(X[idx]), y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                with torch.no_grad():
                    acc = (ref(X_val).argmax(1) == y_val).double().mean().item()
                assert abs(accs[epoch, m].item() - acc) < 1e-6, (m, epoch)
            with torch.no_grad():
                torch.testing.assert_close(net.unstack(m)(X_val), ref(X_val))


def test_training_helpers_run_where_the_net_is_put_data_on_the_cpu():
    """The net on the ``meta`` device (shapes only) and the data on the CPU: a helper that
    forgot to move a batch or the validation set to ``device`` would mix devices and fail,
    on a machine without a GPU."""
    from utils.stacked import train_seeds
    g = torch.Generator().manual_seed(5)
    X, y = torch.randn(40, 5, generator=g), torch.randint(0, 4, (40,), generator=g)
    X_val, y_val = torch.randn(9, 5, generator=g), torch.randint(0, 4, (9,), generator=g)
    net = StackedMLP.build([0, 1], 5, 8, 2, 4, True)
    try:
        net.to("meta")(X)
    except (RuntimeError, NotImplementedError):
        pass                      # the premise: a forgotten .to(device) fails on meta
    else:
        raise AssertionError("a meta net applied to CPU data did not fail: the test below proves nothing")
    accs, losses = train_stacked(StackedMLP.build([0, 1], 5, 8, 2, 4, True), X, y, X_val, y_val, [0.1, 0.2],
                                 steps=6, batch_size=8, eval_every=3, device="meta")
    assert accs.device.type == "meta" and accs.shape == (2, 2) and losses.shape == (2,)
    accs = train_seeds(StackedMLP.build([0, 1], 5, 8, 2, 4, False), lambda p: torch.optim.Adam(p, lr=0.01),
                       X, y, X_val, y_val, epochs=2, seeds=[0, 1], batch_size=16, device="meta")
    assert accs.device.type == "meta" and accs.shape == (2, 2)
    accs, losses = train_seeds(StackedMLP.build([0, 1], 5, 8, 3, 4, False, act=nn.Sigmoid, residual="pre"),
                               lambda p: torch.optim.Adam(p, lr=0.01), X, y, X_val, y_val, None, [0, 1],
                               batch_size=16, device="meta", steps=4, eval_every=2, return_losses=True,
                               after_backward=lambda net: None)
    assert accs.device.type == "meta" and accs.shape == (2, 2) and losses.shape == (4, 2)


def test_training_helpers_default_to_the_nets_device_and_return_cpu_results():
    from utils.stacked import train_seeds
    g = torch.Generator().manual_seed(6)
    X, y = torch.randn(20, 5, generator=g), torch.randint(0, 3, (20,), generator=g)
    net = StackedMLP.build([0], 5, 4, 1, 3, False)
    accs = train_seeds(net, lambda p: torch.optim.SGD(p, lr=0.1), X, y, X, y, epochs=1, seeds=[0])
    assert accs.device.type == "cpu" and net.W[0].device.type == "cpu"


def test_train_seeds_by_steps_with_other_activations_and_skip_connections_equals_each_seed_alone():
    """Sigmoid, tanh and ReLU nets, plain and with pre-/post-activation skip connections, Adam,
    trained by steps across epoch ends, evaluated every few steps, each seed's gradient clipped
    by its own norm between backward and step: model m = seed m trained alone (float64)."""
    from utils.stacked import train_seeds
    g = torch.Generator().manual_seed(8)
    X, y = torch.randn(23, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (23,), generator=g)
    X_val, y_val = torch.randn(11, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (11,), generator=g)
    seeds, steps, every, bs = [2, 5, 6], 10, 4, 8           # 3 batches per epoch: steps cross 3 epoch ends
    make = lambda p: torch.optim.Adam(p, lr=0.02)            # noqa: E731
    for act, residual in ((nn.Sigmoid, None), (nn.Tanh, None), (nn.Sigmoid, "pre"), (nn.ReLU, "post")):
        clipped = []

        def clip_each(net, clipped=clipped):             # torch's rule, on each model's slice of .grad
            norms = []
            for m in range(len(seeds)):
                grads = [p.grad[m] for p in net.parameters()]
                total = torch.sqrt(sum((g ** 2).sum() for g in grads))
                for g in grads:
                    g.mul_(torch.clamp(0.5 / (total + 1e-6), max=1.0))
                norms.append(total.item())
            clipped.append(norms)
        net = StackedMLP.build(seeds, 5, 8, 4, 4, False, act=act, residual=residual).double()
        accs, losses = train_seeds(net, make, X, y, X_val, y_val, None, seeds, batch_size=bs, steps=steps,
                                   eval_every=every, after_backward=clip_each, return_losses=True)
        assert accs.shape == (steps // every, 3) and losses.shape == (steps, 3)
        for m, s in enumerate(seeds):
            torch.manual_seed(s)
            ref = make_mlp(5, 8, 4, 4, False, act=act, residual=residual).double()
            assert sum(isinstance(x, nn.Linear) for x in ref.modules()) == 5
            opt, gen = make(ref.parameters()), torch.Generator().manual_seed(s)
            for step in range(steps):
                if step % 3 == 0:
                    order = torch.randperm(len(X), generator=gen)
                idx = order[step % 3 * bs:step % 3 * bs + bs]
                loss = nn.functional.cross_entropy(ref(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5).item()
                opt.step()
                assert abs(clipped[step][m] - norm) < 1e-10, (act, residual, m, step)
                assert abs(losses[step, m].item() - loss.item()) < 1e-10, (act, residual, m, step)
                if (step + 1) % every == 0:
                    with torch.no_grad():
                        acc = (ref(X_val).argmax(1) == y_val).double().mean().item()
                    assert abs(accs[(step + 1) // every - 1, m].item() - acc) < 1e-6, (act, residual, m, step)
            with torch.no_grad():
                torch.testing.assert_close(net(X_val)[m], ref(X_val))
                torch.testing.assert_close(net.unstack(m)(X_val), ref(X_val))


def test_skip_connections_are_what_the_docstring_says_and_bad_settings_get_a_message():
    from utils.stacked import Residual
    torch.manual_seed(0)
    pre, post = make_mlp(3, 4, 2, 2, False, nn.Tanh, "pre"), make_mlp(3, 4, 2, 2, False, nn.Tanh, "post")
    x = torch.randn(5, 3)
    for net, kind in ((pre, "pre"), (post, "post")):
        first, block, last = net[0], next(m for m in net if isinstance(m, Residual)), net[-1]
        lin = block[1] if kind == "pre" else block[0]
        h = first(x)
        h = h + (lin(torch.tanh(h)) if kind == "pre" else torch.tanh(lin(h)))
        torch.testing.assert_close(net(x), last(torch.tanh(h) if kind == "pre" else h))
    for kwargs, words in ((dict(residual="both"), "residual='both'"), (dict(residual="pre", batchnorm=True), "batchnorm")):
        try:
            make_mlp(3, 4, 2, 2, **{"batchnorm": False, **kwargs})
        except ValueError as e:
            assert words in str(e)
        else:
            raise AssertionError(f"make_mlp accepted {kwargs}")
    from utils.stacked import train_seeds
    try:
        train_seeds(StackedMLP.build([0], 3, 4, 1, 2, False), lambda p: torch.optim.SGD(p, lr=0.1),
                    x, torch.zeros(5, dtype=torch.long), x, torch.zeros(5, dtype=torch.long), 2, [0], steps=3)
    except ValueError as e:
        assert "either epochs or steps" in str(e)
    else:
        raise AssertionError("train_seeds accepted both epochs and steps")
