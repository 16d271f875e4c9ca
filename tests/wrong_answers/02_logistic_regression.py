"""Known-wrong answers for solutions/02_logistic_regression.ipynb.

Each entry is (task id, description, {answer cell id: replacement source}); the graded test
cell of that task must fail when the answer cell is replaced by the wrong source.
"""

_SIGMOID = 'def sigmoid(z):\n    z = np.asarray(z, dtype=np.float64)\n'
_BCE = 'def bce_with_logits(z, y):\n'
_GRAD = 'def logreg_loss_grad(X, y, w, b):\n'
_GD = 'def train_logreg(X, y, lr, steps):\n'
_SOFTMAX = 'def softmax(Z):\n'
_CE = 'def softmax_loss_grad(X, y, W, b):\n'
_DIGITS = 'def train_softmax(X, y, num_classes, lr, steps):\n'

_GD_BODY = (
    '    w, b = np.zeros(X.shape[1]), 0.0\n'
    '    losses = []\n'
    '    for _ in range(steps):\n'
    '        loss, dw, db = logreg_loss_grad(X, y, w, b)\n'
    '        losses.append(loss)\n'
    '        {update}\n'
    '    return w, b, losses\n'
)
_DIGITS_BODY = (
    '    W, b = np.zeros((X.shape[1], num_classes)), np.zeros(num_classes)\n'
    '    losses = []\n'
    '    for _ in range({steps}):\n'
    '        loss, dW, db = softmax_loss_grad(X, y, W, b)\n'
    '        losses.append(loss)\n'
    '        {update}\n'
    '    return W, b, losses\n'
)
_CE_HEAD = (
    '    N, K = len(y), W.shape[1]\n'
    '    Z = X @ W + b\n'
    '    Zs = Z - Z.max(axis=1, keepdims=True)\n'
    '    log_P = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))\n'
    '    P, Y = np.exp(log_P), np.eye(K)[y]\n'
    '    loss = -log_P[np.arange(N), y].mean()\n'
)

WRONG = [
    # ---------------------------------------------------------------- sigmoid
    ("sigmoid", "naive formula: exp(-z) overflows for z = -1000",
     {"answer-sigmoid": _SIGMOID + '    return 1.0 / (1.0 + np.exp(-z))\n'}),
    ("sigmoid", "np.where over two naive branches: both are evaluated and overflow",
     {"answer-sigmoid": _SIGMOID +
      '    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-z)), np.exp(z) / (1.0 + np.exp(z)))\n'}),
    ("sigmoid", "1 - sigmoid(|z|) for negative z: cancellation rounds tiny values to 0",
     {"answer-sigmoid": _SIGMOID + '    s = 1.0 / (1.0 + np.exp(-np.abs(z)))\n'
                                   '    return np.where(z >= 0, s, 1.0 - s)\n'}),
    ("sigmoid", "the two branches of the stable form swapped",
     {"answer-sigmoid": _SIGMOID + '    e = np.exp(-np.abs(z))\n'
                                   '    return np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))\n'}),
    # ---------------------------------------------------------------- bce
    ("bce", "sum instead of mean (forgot the 1/N)",
     {"answer-bce": _BCE + '    return float(np.sum(np.logaddexp(0.0, z) - y * z))\n'}),
    ("bce", "through probabilities: log(0) for confident logits",
     {"answer-bce": _BCE + '    p = sigmoid(z)\n'
                           '    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))\n'}),
    ("bce", "log(1 + exp(z)) written literally: overflows to inf",
     {"answer-bce": _BCE + '    return float(np.mean(np.log(1 + np.exp(z)) - y * z))\n'}),
    ("bce", "labels swapped: (1 - y) z instead of y z",
     {"answer-bce": _BCE + '    return float(np.mean(np.logaddexp(0.0, z) - (1 - y) * z))\n'}),
    ("bce", "sign error: + y z",
     {"answer-bce": _BCE + '    return float(np.mean(np.logaddexp(0.0, z) + y * z))\n'}),
    # ---------------------------------------------------------------- bce-grad
    ("bce-grad", "sign error: y - p instead of p - y",
     {"answer-bce-grad": _GRAD + '    z = X @ w + b\n    p = sigmoid(z)\n'
      '    return bce_with_logits(z, y), X.T @ (y - p) / len(y), float(np.mean(y - p))\n'}),
    ("bce-grad", "forgot the 1/N in dw",
     {"answer-bce-grad": _GRAD + '    z = X @ w + b\n    p = sigmoid(z)\n'
      '    return bce_with_logits(z, y), X.T @ (p - y), float(np.mean(p - y))\n'}),
    ("bce-grad", "db summed instead of averaged",
     {"answer-bce-grad": _GRAD + '    z = X @ w + b\n    p = sigmoid(z)\n'
      '    return bce_with_logits(z, y), X.T @ (p - y) / len(y), float(np.sum(p - y))\n'}),
    ("bce-grad", "forgot the bias in the logits",
     {"answer-bce-grad": _GRAD + '    z = X @ w\n    p = sigmoid(z)\n'
      '    return bce_with_logits(z, y), X.T @ (p - y) / len(y), float(np.mean(p - y))\n'}),
    ("bce-grad", "MSE-style extra factor p (1 - p) in the gradient",
     {"answer-bce-grad": _GRAD + '    z = X @ w + b\n    p = sigmoid(z)\n    g = (p - y) * p * (1 - p)\n'
      '    return bce_with_logits(z, y), X.T @ g / len(y), float(np.mean(g))\n'}),
    ("bce-grad", "wrong axis: X @ (p - y) instead of X.T @ (p - y)",
     {"answer-bce-grad": _GRAD + '    z = X @ w + b\n    p = sigmoid(z)\n'
      '    return bce_with_logits(z, y), X @ (p - y) / len(y), float(np.mean(p - y))\n'}),
    # ---------------------------------------------------------------- gd
    ("gd", "forgot to update the bias",
     {"answer-gd": _GD + _GD_BODY.format(update='w = w - lr * dw')}),
    ("gd", "gradient ascent: + lr * grad",
     {"answer-gd": _GD + _GD_BODY.format(update='w, b = w + lr * dw, b + lr * db')}),
    ("gd", "divides by N again: the step is N times too small",
     {"answer-gd": _GD + _GD_BODY.format(
         update='w, b = w - lr * dw / len(y), b - lr * db / len(y)')}),
    ("gd", "records the loss after the update instead of before",
     {"answer-gd": _GD + '    w, b = np.zeros(X.shape[1]), 0.0\n    losses = []\n'
      '    for _ in range(steps):\n        loss, dw, db = logreg_loss_grad(X, y, w, b)\n'
      '        w, b = w - lr * dw, b - lr * db\n'
      '        losses.append(logreg_loss_grad(X, y, w, b)[0])\n    return w, b, losses\n'}),
    ("gd", "starts from w = 1 instead of w = 0",
     {"answer-gd": _GD + _GD_BODY.replace('np.zeros(X.shape[1])', 'np.ones(X.shape[1])')
      .format(update='w, b = w - lr * dw, b - lr * db')}),
    # ---------------------------------------------------------------- softmax
    ("softmax", "no max subtraction: exp(1000) overflows",
     {"answer-softmax": _SOFTMAX + '    E = np.exp(Z)\n'
                                   '    return E / E.sum(axis=1, keepdims=True)\n'}),
    ("softmax", "normalised over the wrong axis (columns)",
     {"answer-softmax": _SOFTMAX + '    E = np.exp(Z - Z.max(axis=0, keepdims=True))\n'
                                   '    return E / E.sum(axis=0, keepdims=True)\n'}),
    ("softmax", "subtracts the global maximum: rows far below it become 0/0",
     {"answer-softmax": _SOFTMAX + '    E = np.exp(Z - Z.max())\n'
                                   '    return E / E.sum(axis=1, keepdims=True)\n'}),
    # ---------------------------------------------------------------- softmax-ce
    ("softmax-ce", "forgot the 1/N in the gradients",
     {"answer-softmax-ce": _CE + _CE_HEAD + '    return float(loss), X.T @ (P - Y), (P - Y).sum(axis=0)\n'}),
    ("softmax-ce", "db summed over the wrong axis",
     {"answer-softmax-ce": _CE + _CE_HEAD +
      '    dZ = (P - Y) / N\n    return float(loss), X.T @ dZ, dZ.sum(axis=1)\n'}),
    ("softmax-ce", "forgot to subtract the one-hot labels",
     {"answer-softmax-ce": _CE + _CE_HEAD + '    dZ = P / N\n'
      '    return float(loss), X.T @ dZ, dZ.sum(axis=0)\n'}),
    ("softmax-ce", "loss as log(softmax): infinite for a confident wrong prediction",
     {"answer-softmax-ce": _CE + _CE_HEAD.replace(
         'loss = -log_P[np.arange(N), y].mean()', 'loss = -np.log(softmax(Z)[np.arange(N), y]).mean()') +
      '    dZ = (P - Y) / N\n    return float(loss), X.T @ dZ, dZ.sum(axis=0)\n'}),
    ("softmax-ce", "loss averaged over N * K entries instead of N examples",
     {"answer-softmax-ce": _CE + _CE_HEAD.replace(
         'loss = -log_P[np.arange(N), y].mean()', 'loss = -(Y * log_P).mean()') +
      '    dZ = (P - Y) / N\n    return float(loss), X.T @ dZ, dZ.sum(axis=0)\n'}),
    # ---------------------------------------------------------------- digits
    ("digits", "gradient ascent: + lr * grad",
     {"answer-digits": _DIGITS + _DIGITS_BODY.format(
         steps='steps', update='W, b = W + lr * dW, b + lr * db')}),
    ("digits", "divides by N again: the step is N times too small",
     {"answer-digits": _DIGITS + _DIGITS_BODY.format(
         steps='steps', update='W, b = W - lr * dW / len(y), b - lr * db / len(y)')}),
    ("digits", "a single step instead of `steps`",
     {"answer-digits": _DIGITS + _DIGITS_BODY.format(
         steps='1', update='W, b = W - lr * dW, b - lr * db')}),
]
