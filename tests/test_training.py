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
