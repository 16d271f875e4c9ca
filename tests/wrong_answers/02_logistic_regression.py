"""Known-wrong answers and shortcuts for solutions/02_logistic_regression.ipynb: each must lose
its task. (task id, description, {answer cell id: replacement source})."""

_SM = "def softmax_loss_grad(X, y, W, b):\n"
_SM_HEAD = '''    n_rows, n_classes = len(y), W.shape[1]
    logP = utils.functional.log_softmax(X @ W + b)
    rows = np.arange(n_rows)
    onehot = np.zeros((n_rows, n_classes))
    onehot[rows, y] = 1.0
'''
_WB = "def weighted_bce(z, y, pos_weight):\n"
_TR = "def train_softmax(X, y, num_classes, lr, epochs, batch_size, seed=0):\n"
_TR_BODY = '''    W, b = np.zeros((X.shape[1], num_classes)), np.zeros(num_classes)
    rng, losses = np.random.default_rng(seed), []
    for _ in range(epochs):
        order = {order}
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            loss, dW, db = softmax_loss_grad(X[idx], y[idx], W, b)
            {record}
            W, b = W - lr * dW, b - lr * db
            {after}
    return W, b, losses
'''


def _train(order="rng.permutation(len(y))", record="losses.append(loss)", after="pass"):
    return _TR + _TR_BODY.format(order=order, record=record, after=after)


_TUNE_HEAD = '''def accuracy_of(W, b, X, y):
    return float(np.mean((X @ W + b).argmax(axis=1) == y))


'''

WRONG = [
    # ------------------------------------------------------------ softmax-grad
    ("softmax-grad", "one-hot from y.max() + 1: a batch that misses the last classes",
     {"answer-softmax": _SM + '''    n_rows = len(y)
    logP = utils.functional.log_softmax(X @ W + b)
    Y = np.eye(y.max() + 1)[y]
    dZ = (np.exp(logP) - Y) / n_rows
    return float(-logP[np.arange(n_rows), y].mean()), X.T @ dZ, dZ.sum(axis=0)
'''}),
    ("softmax-grad", "forgot the 1/N in the gradients", {"answer-softmax": _SM + _SM_HEAD + '''
    dZ = np.exp(logP) - onehot
    return float(-logP[rows, y].mean()), X.T @ dZ, dZ.sum(axis=0)
'''}),
    ("softmax-grad", "db summed over the wrong axis", {"answer-softmax": _SM + _SM_HEAD + '''
    dZ = (np.exp(logP) - onehot) / n_rows
    return float(-logP[rows, y].mean()), X.T @ dZ, dZ.sum(axis=1)[:n_classes]
'''}),
    ("softmax-grad", "dW as (dZ.T @ X) reshaped instead of X.T @ dZ",
     {"answer-softmax": _SM + _SM_HEAD + '''
    dZ = (np.exp(logP) - onehot) / n_rows
    return float(-logP[rows, y].mean()), (dZ.T @ X).reshape(W.shape), dZ.sum(axis=0)
'''}),
    ("softmax-grad", "loss as -log(softmax): no max shift, inf/nan at logits 1000", {"answer-softmax": _SM + '''
    n_rows = len(y)
    E = np.exp(X @ W + b)
    P = E / E.sum(axis=1, keepdims=True)
    loss = -np.log(P[np.arange(n_rows), y]).mean()
    P[np.arange(n_rows), y] -= 1
    return float(loss), X.T @ P / n_rows, P.sum(axis=0) / n_rows
'''}),
    ("softmax-grad", "modifies the argument b in place",
     {"answer-softmax": _SM + _SM_HEAD + '''
    dZ = (np.exp(logP) - onehot) / n_rows
    b -= b.max()
    return float(-logP[rows, y].mean()), X.T @ dZ, dZ.sum(axis=0)
'''}),
    ("softmax-grad", "shortcut: utils.functional.softmax_cross_entropy (forbidden)", {"answer-softmax": _SM + '''
    loss, dZ = utils.functional.softmax_cross_entropy(X @ W + b, y)
    return loss, X.T @ dZ, dZ.sum(axis=0)
'''}),
    ("softmax-grad", "shortcut: torch autograd (forbidden)", {"answer-softmax": _SM + '''
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    loss = F.cross_entropy(torch.from_numpy(X) @ Wt + bt, torch.from_numpy(y))
    loss.backward()
    return loss.item(), Wt.grad.numpy(), bt.grad.numpy()
'''}),
    # ------------------------------------------------------------ wbce
    ("wbce", "through the probabilities: log(0) at z = 40", {"answer-wbce": _WB + '''
    p = utils.functional.sigmoid(z)
    loss = -np.mean(pos_weight * y * np.log(p) + (1 - y) * np.log(1 - p))
    dz = (pos_weight * y * (p - 1) + (1 - y) * p) / len(z)
    return float(loss), dz
'''}),
    ("wbce", "log(1 + exp(z)) written literally: overflows", {"answer-wbce": _WB + '''
    terms = pos_weight * y * np.log(1 + np.exp(-z)) + (1 - y) * np.log(1 + np.exp(z))
    p = utils.functional.sigmoid(z)
    return float(terms.mean()), (pos_weight * y * (p - 1) + (1 - y) * p) / len(z)
'''}),
    ("wbce", "weight on the negatives instead of the positives", {"answer-wbce": _WB + '''
    terms = y * np.logaddexp(0.0, -z) + pos_weight * (1 - y) * np.logaddexp(0.0, z)
    p = utils.functional.sigmoid(z)
    return float(terms.mean()), (y * (p - 1) + pos_weight * (1 - y) * p) / len(z)
'''}),
    ("wbce", "gradient of the unweighted loss (p - y) / N", {"answer-wbce": _WB + '''
    terms = pos_weight * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    p = utils.functional.sigmoid(z)
    return float(terms.mean()), (p - y) / len(z)
'''}),
    ("wbce", "gradient of the sum (no 1/N)", {"answer-wbce": _WB + '''
    terms = pos_weight * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    p = utils.functional.sigmoid(z)
    return float(terms.mean()), pos_weight * y * (p - 1) + (1 - y) * p
'''}),
    ("wbce", "shortcut: scipy.special.expit for the sigmoid (forbidden)", {"answer-wbce": '''
from scipy.special import expit


''' + _WB + '''
    terms = pos_weight * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    p = expit(z)
    return float(terms.mean()), (pos_weight * y * (p - 1) + (1 - y) * p) / len(z)
'''}),
    ("wbce", "shortcut: torch.sigmoid for the sigmoid (forbidden)", {"answer-wbce": _WB + '''
    terms = pos_weight * y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)
    p = torch.sigmoid(torch.from_numpy(z)).numpy()
    return float(terms.mean()), (pos_weight * y * (p - 1) + (1 - y) * p) / len(z)
'''}),
    # ------------------------------------------------------------ train
    ("train", "records the loss after the step", {"answer-train": _train(
        record="pass", after="losses.append(softmax_loss_grad(X[idx], y[idx], W, b)[0])")}),
    ("train", "no shuffling", {"answer-train": _train(order="np.arange(len(y))")}),
    ("train", "a fresh generator every epoch", {"answer-train": _train(
        order="np.random.default_rng(seed).permutation(len(y))")}),
    ("train", "K from the labels (y.max() + 1) instead of num_classes", {"answer-train": _TR + _TR_BODY.format(
        order="rng.permutation(len(y))", record="losses.append(loss)", after="pass").replace(
        "num_classes)), np.zeros(num_classes)", "y.max() + 1)), np.zeros(y.max() + 1)")}),
    ("train", "reads the notebook's BATCH_SIZE instead of the argument", {"answer-train": _train().replace(
        "range(0, len(y), batch_size)", "range(0, len(y), BATCH_SIZE)").replace(
        "start + batch_size", "start + BATCH_SIZE")}),
    ("train", "gradient ascent", {"answer-train": _train().replace("W - lr * dW, b - lr * db",
                                                                   "W + lr * dW, b + lr * db")}),
    # ------------------------------------------------------------ tune
    ("tune", "chooses the learning rate on the test set", {"answer-tune": _TUNE_HEAD + '''
runs = {lr: train_softmax(X_train, y_train, 10, lr, EPOCHS, BATCH_SIZE, seed=0) for lr in LRS}
val_accs = [accuracy_of(runs[lr][0], runs[lr][1], X_test, y_test) for lr in LRS]
best_lr = LRS[int(np.argmax(val_accs))]
W_best, b_best, losses_best = runs[best_lr]
'''}),
    ("tune", "trains on train + validation", {"answer-tune": _TUNE_HEAD + '''
X_all, y_all = np.r_[X_train, X_val], np.r_[y_train, y_val]
runs = {lr: train_softmax(X_all, y_all, 10, lr, EPOCHS, BATCH_SIZE, seed=0) for lr in LRS}
val_accs = [accuracy_of(runs[lr][0], runs[lr][1], X_val, y_val) for lr in LRS]
best_lr = LRS[int(np.argmax(val_accs))]
W_best, b_best, losses_best = runs[best_lr]
'''}),
    ("tune", "keeps the last learning rate's parameters", {"answer-tune": _TUNE_HEAD + '''
val_accs = []
for lr in LRS:
    W_best, b_best, _ = train_softmax(X_train, y_train, 10, lr, EPOCHS, BATCH_SIZE, seed=0)
    val_accs.append(accuracy_of(W_best, b_best, X_val, y_val))
best_lr = LRS[int(np.argmax(val_accs))]
'''}),
    ("tune", "tampering: fewer EPOCHS and a lower VAL_BAR (instructor names)", {"answer-tune": _TUNE_HEAD + '''
EPOCHS, VAL_BAR = 1, 0.5
runs = {lr: train_softmax(X_train, y_train, 10, lr, EPOCHS, BATCH_SIZE, seed=0) for lr in LRS}
val_accs = [accuracy_of(runs[lr][0], runs[lr][1], X_val, y_val) for lr in LRS]
best_lr = LRS[int(np.argmax(val_accs))]
W_best, b_best, losses_best = runs[best_lr]
'''}),
    # ------------------------------------------------------------ questions
    ("questions", "XOR: 0.5 (what gradient descent reaches)", {"answer-questions": '''
ANSWER_XOR_ACC = 0.5
ANSWER_SEPARABLE = "B"
'''}),
    ("questions", "separable data: A (a finite w with loss 0)", {"answer-questions": '''
ANSWER_XOR_ACC = 0.75
ANSWER_SEPARABLE = "A"
'''}),
]
