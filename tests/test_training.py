import torch
from torch import nn

from utils.data import make_blobs, make_loaders
from utils.training import accuracy, evaluate, fit


def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == 2 / 3


def test_evaluate_weights_batches_by_size():
    model = nn.Identity()
    X = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]])
    y = torch.tensor([0, 0, 0, 0])
    _, loader = make_loaders(X, y, X, y)
    loader = torch.utils.data.DataLoader(loader.dataset, batch_size=3)  # batches of 3 and 1
    res = evaluate(model, loader, nn.CrossEntropyLoss())
    assert abs(res["acc"] - 0.75) < 1e-9
    expected = nn.CrossEntropyLoss()(X, y).item()
    assert abs(res["loss"] - expected) < 1e-6


def test_fit_learns_separable_blobs_and_returns_history():
    torch.manual_seed(0)
    X, y = make_blobs(200, std=0.5, seed=0)
    X = torch.tensor(X, dtype=torch.float32)
    y = torch.tensor(y)
    train, test = make_loaders(X[:150], y[:150], X[150:], y[150:], batch_size=32)
    model = nn.Linear(2, 2)
    hist = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.5),
               epochs=5, val_loader=test, progress=False)
    assert set(hist) == {"train_loss", "val_loss", "val_acc"}
    assert all(len(v) == 5 for v in hist.values())
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert hist["val_acc"][-1] > 0.95


# ---------------------------------------------------------------- modes, scheduler, steps
class _ModeRecorder(nn.Module):
    """A linear layer behind dropout and batch norm that records the mode of every call."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm1d(2), nn.Dropout(0.5), nn.Linear(2, 2))
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        return self.net(x)


def _blob_loaders(batch_size=32):
    X, y = make_blobs(96, std=0.5, seed=0)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    return make_loaders(X[:64], y[:64], X[64:], y[64:], batch_size=batch_size)


def test_evaluate_runs_in_eval_mode_without_grad_and_restores_the_mode():
    torch.manual_seed(0)
    model = _ModeRecorder()
    _, test = _blob_loaders()
    stats = model.net[0].running_mean.clone()
    grad_seen = {"requires_grad": lambda out, y: float(out.requires_grad)}
    first = evaluate(model, test, nn.CrossEntropyLoss(), metrics=grad_seen)
    again = evaluate(model, test, nn.CrossEntropyLoss(), metrics=grad_seen)
    assert model.modes == [False, False] and model.training  # eval inside, train after
    assert first == again and first["requires_grad"] == 0.0  # no dropout noise, no graph
    assert torch.equal(model.net[0].running_mean, stats)  # batch norm statistics untouched
    model.eval()
    evaluate(model, test, nn.CrossEntropyLoss())
    assert not model.training  # a model in eval mode stays in it


def test_fit_trains_in_train_mode_and_evaluates_in_eval_mode():
    torch.manual_seed(0)
    model = _ModeRecorder().eval()  # fit must switch it to training itself
    train, test = _blob_loaders(batch_size=32)  # 2 training batches, 1 validation batch
    fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1),
        epochs=2, val_loader=test, progress=False)
    assert model.modes == [True, True, False] * 2


def test_fit_steps_the_scheduler_once_per_epoch():
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.8)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    fit(model, _blob_loaders()[0], nn.CrossEntropyLoss(), opt, epochs=3, scheduler=sched,
        progress=False)
    assert opt.param_groups[0]["lr"] == 0.8 * 0.5 ** 3


def test_fit_is_the_five_line_loop_and_reports_the_mean_loss_per_example():
    X, y = make_blobs(10, std=0.5, seed=1)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=7)
    torch.manual_seed(0)
    model, twin = nn.Linear(2, 2), nn.Linear(2, 2)
    twin.load_state_dict(model.state_dict())
    loss_fn = nn.CrossEntropyLoss()
    start = loss_fn(model(X), y).item()
    hist = fit(model, loader, loss_fn, torch.optim.SGD(model.parameters(), lr=0.0),
               epochs=1, progress=False)
    assert abs(hist["train_loss"][0] - start) < 1e-6  # batches of 7 and 3, weighted
    opt = torch.optim.SGD(twin.parameters(), lr=0.3)
    fit(model, loader, loss_fn, torch.optim.SGD(model.parameters(), lr=0.3), epochs=2,
        progress=False)
    for _ in range(2):
        for xb, yb in loader:
            loss = loss_fn(twin(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


def test_evaluate_and_fit_report_the_metrics_asked_for_and_refuse_an_empty_loader():
    import pytest

    model = nn.Linear(2, 2)
    train, test = _blob_loaders()
    res = evaluate(model, test, nn.CrossEntropyLoss(), metrics={})
    assert set(res) == {"loss"}
    wrong = {"err": lambda out, y: 1.0 - accuracy(out, y)}
    res = evaluate(model, test, nn.CrossEntropyLoss(), metrics=wrong)
    assert set(res) == {"loss", "err"}
    assert res["err"] == 1.0 - evaluate(model, test, nn.CrossEntropyLoss())["acc"]
    hist = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1),
               epochs=2, val_loader=test, metrics=wrong, progress=False)
    assert set(hist) == {"train_loss", "val_loss", "val_err"} and len(hist["val_err"]) == 2
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 2),
                                                                       torch.zeros(0).long()))
    with pytest.raises(ValueError, match="empty loader"):
        evaluate(model, empty, nn.CrossEntropyLoss())


def test_fit_shows_a_progress_bar_only_when_asked(capfd):
    model = nn.Linear(2, 2)
    train, _ = _blob_loaders()
    args = (model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1))
    fit(*args, epochs=2, progress=False)
    out, err = capfd.readouterr()
    assert out == err == ""  # nothing in a stored notebook output
    fit(*args, epochs=2, progress=True)
    out, err = capfd.readouterr()
    assert "epochs" in out + err and "loss=" in out + err


def test_fit_shows_its_bar_by_default_with_the_epochs_mean_loss(capfd):
    import re

    model = nn.Linear(2, 2)
    train, _ = _blob_loaders()
    hist = fit(model, train, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1),
               epochs=2)
    out, err = capfd.readouterr()
    assert re.search(r"(^|\r)epochs: ", out + err)
    assert f"loss={hist['train_loss'][-1]:.3g}" in out + err
