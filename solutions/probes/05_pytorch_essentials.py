"""Probes of seminar 05 (coursekit/probe.py): each calls the student's functions on inputs
drawn from the grader's seed and returns what they computed; the grader compares it with
what the solution computes on the same inputs, in another process."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import utils.data
import utils.functional
from coursekit.probe import DeviceError, need, on_meta, probe
from utils.checks import call_unchanged

# the tests' helpers and the hidden reference loop (never sent to a student's process); a plot
SKIP = ("early-probe", "early-checks", "early-reference", "digits-plot")


def _torch_seed(rng):
    torch.manual_seed(int(rng.integers(2**31)))


@probe("mlp", rtol=1e-5, atol=1e-6)
def mlp(ns, rng):
    MLP, out = need(ns, "MLP"), {}
    for sizes, act, shape in [([64, 32, 16, 10], nn.Tanh, (5, 64)),
                              ([64, 32, 10], None, (3, 1, 8, 8)),
                              ([5, 3], nn.Tanh, (4, 5)),
                              ([3, 4, 4, 4, 2], nn.ELU, (2, 3)),
                              ([6, 7, 2], nn.Sigmoid, (1, 2, 3))]:
        tag = f"MLP({sizes}{', ' + act.__name__ if act else ''}) on inputs {list(shape)}"
        X = torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32)
        _torch_seed(rng)
        model = MLP(sizes, act) if act is not None else MLP(sizes)
        names = [name for name, _ in model.named_parameters()]
        out[f"{tag}: parameter names (the Linear layers in an nn.ModuleList `linears`)"] = names
        out[f"{tag}: number of parameters"] = sum(p.numel() for p in model.parameters())
        with torch.no_grad():  # the grader's weights: the output depends on the layout only
            for p in model.parameters():
                p.copy_(torch.as_tensor(rng.uniform(-1, 1, tuple(p.shape)), dtype=p.dtype))
        out[f"{tag}: output (logits: an activation between Linear layers, none after the "
            "last)"] = call_unchanged(model, X, name=f"MLP({sizes})").detach()
        model.to(torch.float64)  # .to reaches every registered layer
        out[f"{tag}: output in float64 after model.to(torch.float64)"] = \
            model(X.double()).detach()
    return out


class _Calls(nn.Module):
    """Wraps a network; records (training mode, grad recording, batch size) of each call."""
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, []

    def forward(self, X):
        self.calls.append((self.training, torch.is_grad_enabled(), len(X)))
        return self.net(X)


def _toy_run(train_fn, n_train, n_val, batch_size, patience, lr, data_seed, **kw):
    """A small net on noisy labels (30 % random): the validation loss falls, then turns up."""
    g = torch.Generator().manual_seed(data_seed)
    X = torch.randn(n_train + n_val, 6, generator=g)
    y = (X @ torch.randn(6, 3, generator=g)).argmax(1)
    y = torch.where(torch.rand(len(y), generator=g) < 0.3,
                    torch.randint(0, 3, y.shape, generator=g), y)
    torch.manual_seed(data_seed)
    net = _Calls(nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3)))
    tr = DataLoader(TensorDataset(X[:n_train], y[:n_train]), batch_size=batch_size,
                    shuffle=True, generator=torch.Generator().manual_seed(data_seed))
    va = DataLoader(TensorDataset(X[n_train:], y[n_train:]), batch_size=7)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    history = train_fn(net, tr, va, nn.CrossEntropyLoss(), optimizer, 40, patience, **kw)
    calls = list(net.calls)
    net.eval()
    with torch.no_grad():
        val_now = sum(nn.functional.cross_entropy(net.net(Xb), yb).item() * len(yb)
                      for Xb, yb in va) / n_val
    return history, calls, net, val_now


@probe("early-stopping", rtol=1e-5, atol=1e-6)
def early_stopping(ns, rng):
    f, out = need(ns, "train_early_stopping"), {}
    for n_tr, n_va, bs, pat, lr, kw in [(40, 20, 16, 3, 0.05, {}), (50, 30, 50, 4, 0.05, {}),
                                        (60, 25, 12, 2, 0.05, {"device": "cpu"}),
                                        (30, 30, 8, 3, 0.2, {})]:
        tag = f"N = {n_tr}, batch {bs}, patience {pat}, lr {lr}"
        history, calls, net, val_now = _toy_run(f, n_tr, n_va, bs, pat, lr,
                                                int(rng.integers(2**31)), **kw)
        if not (isinstance(history, dict) and {"train_loss", "val_loss", "best_epoch"}
                <= set(history)):
            raise TypeError("return the dict {'train_loss': [...], 'val_loss': [...], "
                            "'best_epoch': e}")
        tl, vl, best = history["train_loss"], history["val_loss"], history["best_epoch"]
        out[f"{tag}: types of the losses (floats: loss.item()) and of best_epoch (an int)"] = \
            (sorted({type(v).__name__ for v in list(tl) + list(vl)}), type(best).__name__)
        out[f"{tag}: epochs run (stop when the best epoch lies `patience` epochs back)"] = \
            len(vl)
        out[f"{tag}: the network's calls in order, (model.training, grad recording, batch "
            "size): training batches in train mode with grad, validation batches in eval "
            "mode under torch.no_grad(), model.train() at the start of every epoch"] = calls
        out[f"{tag}: train_loss (the mean over the examples of the losses before each step)"] \
            = list(tl)
        out[f"{tag}: val_loss (the mean over the validation examples)"] = list(vl)
        out[f"{tag}: best_epoch (counted from 1)"] = best
        out[f"{tag}: validation loss of the returned model (restore a copy of the best "
            "weights)"] = val_now
        out[f"{tag}: the returned model's weights"] = [t.detach().clone() for t in
                                                        net.state_dict().values()]
    out["the loop with the model on the meta device (every batch moved with .to(device))"] = \
        _on_meta(f, int(rng.integers(2**31)))
    return out


def _on_meta(train_fn, seed):
    """The student's loop run once as on a GPU (coursekit.probe.on_meta): a batch not moved
    to ``device`` raises DeviceError at the student's line. There are no numbers on meta
    (the losses are NaN, so no epoch is ever the best): any other error is not the loop's."""
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(30, 6, generator=g), torch.randint(0, 3, (30,), generator=g)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    tr = DataLoader(TensorDataset(X[:20], y[:20]), batch_size=8, shuffle=True,
                    generator=torch.Generator().manual_seed(seed))
    va = DataLoader(TensorDataset(X[20:], y[20:]), batch_size=4)
    try:
        on_meta(lambda: train_fn(net, tr, va, nn.CrossEntropyLoss(),
                                 torch.optim.SGD(net.parameters(), lr=0.1), 2, 5,
                                 device="meta"), net)
    except DeviceError:
        raise
    except Exception:  # noqa: BLE001 - e.g. no best weights to load: NaN is never lower
        pass
    return "ran"


@probe("logsumexp", rtol=1e-8, atol=1e-10, ops=(
        "aten::logsumexp", "aten::softmax", "aten::_softmax", "aten::_softmax_backward_data",
        "aten::log_softmax", "aten::_log_softmax", "aten::_log_softmax_backward_data"))
def logsumexp(ns, rng):
    f, out = need(ns, "logsumexp"), {}
    r = lambda *shape: torch.as_tensor(rng.standard_normal(shape))  # noqa: E731 - float64
    big = torch.tensor([[1000.0, 1000.0, 990.0], [-1000.0, 0.0, -5.0]], dtype=torch.float64)
    cases = [(torch.zeros(1, 2, dtype=torch.float64), "[0, 0] (log 2, gradient [1/2, 1/2])"),
             (3 * r(4, 5), "a [4, 5] batch"),
             (big + torch.as_tensor(rng.uniform(-1, 1, (2, 3))),
              "|x| ~ 1000 (subtract each row's maximum)"),
             (torch.cat([r(2, 4), 800 + r(1, 4), -800 + r(1, 4)]),
              "rows of very different size (one maximum per row)"),
             (r(6), "a 1-D input (a scalar out)"), (2 * r(2, 3, 4), "a [2, 3, 4] input"),
             (r(1, 1), "one element per row"),
             (torch.tensor([[50.0, 0.0], [0.0, 50.0], [-3.0, -3.0]], dtype=torch.float32),
              "float32 at x = 50")]
    for x, tag in cases:
        x = x.detach().requires_grad_()
        value = call_unchanged(f, x, name="logsumexp")
        node = value.grad_fn
        out[f"the node logsumexp(x) records on {tag} (a LogSumExp node)"] = \
            None if node is None else node.name()
        out[f"dtype of the value on {tag}"] = str(value.dtype)
        out[f"value on {tag}"] = value.detach()
        g = torch.as_tensor(rng.standard_normal(tuple(value.shape)), dtype=x.dtype)
        f(x).backward(g)  # g: an upstream gradient, one value per row
        out[f"gradient on {tag}, times an upstream gradient (grad_out, one value per row, "
            "times the softmax)"] = x.grad.detach()
    return out


def _digit_splits():
    """The notebook's data, loaded by the grader (as the data cell does)."""
    X_tr, X_va, X_te, y_tr, y_va, y_te = utils.data.load_digits_splits()
    X_tr, X_va, X_te = utils.functional.standardize(X_tr, X_va, X_te)
    return X_tr, X_va, X_te, y_tr, y_va, y_te


def _labels(net, X):
    net.eval()
    with torch.no_grad():
        return net(X).argmax(1)


@probe("digits", rtol=0, atol=1e-4, score=[
    {"predictions": "untrained: predicted test labels", "truth": "test labels",
     "metric": "accuracy", "at_most": 0.4, "examples": "test images",
     "hint": "MLP(sizes) must start untrained (torch's initialization)"},
    {"predictions": "trained by the grader: predicted test labels", "truth": "test labels",
     "metric": "accuracy", "at_least": 0.9, "examples": "test images",
     "hint": "MLP([64, *HIDDEN, 10]) trained by your train_early_stopping (SGD, momentum 0.9, "
             "LR, MAX_EPOCHS, PATIENCE) must learn the digits"},
    {"predictions": "digits_net: predicted validation labels (all 270)",
     "truth": "validation labels", "metric": "accuracy", "at_least": 0.95,
     "examples": "validation images", "hint": "if the training loss hardly falls, raise the "
     "learning rate; if the run stops after a few epochs, check that train_early_stopping "
     "compares validation losses and counts the patience from the best epoch"},
    {"predictions": "digits_net: predicted training labels (all 1,077: trained on "
     "train_loader?)", "truth": "training labels", "metric": "accuracy", "at_least": 0.93,
     "examples": "training images", "hint": "train digits_net on train_loader"}])
def digits(ns, rng):
    """The student's MLP trained afresh by the grader with the student's
    train_early_stopping under the statement's budget (SGD, momentum 0.9, LR, MAX_EPOCHS,
    PATIENCE), scored on 300 test images the notebook never trains on; and the answer
    cell's digits_net on the validation set (the bar) and the training set."""
    MLP, train = need(ns, "MLP"), need(ns, "train_early_stopping")
    X_tr, X_va, X_te, y_tr, y_va, y_te = _digit_splits()
    seed = int(rng.integers(2**31))
    te = torch.as_tensor(np.sort(rng.choice(len(y_te), size=300, replace=False)))
    torch.manual_seed(seed)
    net = MLP([64, *need(ns, "HIDDEN"), 10])
    out = {"test labels": y_te[te], "untrained: predicted test labels": _labels(net, X_te[te])}
    bs = need(ns, "BATCH_SIZE")
    train_loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=bs, shuffle=True,
                              generator=torch.Generator().manual_seed(seed))
    val_loader = DataLoader(TensorDataset(X_va, y_va), batch_size=bs)
    optimizer = torch.optim.SGD(net.parameters(), lr=need(ns, "LR"), momentum=0.9)
    train(net, train_loader, val_loader, nn.CrossEntropyLoss(), optimizer,
          need(ns, "MAX_EPOCHS"), need(ns, "PATIENCE"), "cpu")
    out["trained by the grader: predicted test labels"] = _labels(net, X_te[te])
    mine, history = need(ns, "digits_net"), need(ns, "digits_history")
    out["digits_net is an nn.Module"] = isinstance(mine, nn.Module)
    out["validation labels"], out["training labels"] = y_va, y_tr
    out["digits_net: predicted validation labels (all 270)"] = _labels(mine, X_va)
    out["digits_net: predicted training labels (all 1,077: trained on train_loader?)"] = \
        _labels(mine, X_tr)
    excess = (out["digits_net: predicted validation labels (all 270)"] == y_va).double().mean() \
        - (out["digits_net: predicted training labels (all 1,077: trained on train_loader?)"]
           == y_tr).double().mean()
    out["how far digits_net's validation accuracy exceeds its training accuracy beyond 0.02 "
        "(0 unless it was trained on the validation set)"] = max(0.0, float(excess) - 0.02)
    with torch.no_grad():
        val = nn.functional.cross_entropy(mine(X_va), y_va).item()
    best = min(history["val_loss"])
    out["validation loss of digits_net vs the best of digits_history, relative (the best "
        "weights, validated on val_loader)"] = abs(val - best) / abs(best)
    return out


@probe("questions", rtol=0, atol=0)
def questions(ns, rng):
    """The answers as text (compared exactly; a wrong one is told so without the right
    number), ANSWER_GRAD as a float's (16 and 16.0 are both right)."""
    last, grad, view = (need(ns, k) for k in ("ANSWER_LAST_BATCH", "ANSWER_GRAD",
                                               "ANSWER_VIEW"))
    number = type(grad) in (int, float)
    return {"types of (ANSWER_LAST_BATCH, ANSWER_VIEW) (ints)": (type(last).__name__,
                                                                 type(view).__name__),
            "ANSWER_GRAD is a number": number,
            "ANSWER_LAST_BATCH (1077 examples, batches of 100)": repr(last),
            "ANSWER_GRAD (backward adds into .grad)": repr(float(grad)) if number else grad,
            "ANSWER_VIEW (the storage offset of b[2, 1])": repr(view)}
