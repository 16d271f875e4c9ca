"""Plausible wrong answers for solutions/04_mlp_from_scratch.ipynb: each must lose its task."""

WRONG = [  # (task id, description, {answer cell id: replacement source})
    ("dense-forward", "forgot the bias", {"answer-dense-forward": '''
def dense_forward(X, W, b):
    Z = X @ W
    cache = (X, W)
    return Z, cache
'''}),
    ("dense-forward", "X @ W.T (weights taken as [out, in])", {"answer-dense-forward": '''
def dense_forward(X, W, b):
    Z = X @ W.T + b
    cache = (X, W)
    return Z, cache
'''}),
    ("dense-backward", "db averaged over the batch instead of summed", {"answer-dense-backward": '''
def dense_backward(dZ, cache):
    X, W = cache
    return dZ @ W.T, X.T @ dZ, dZ.mean(axis=0)
'''}),
    ("dense-backward", "dW = dZ^T X (transposed)", {"answer-dense-backward": '''
def dense_backward(dZ, cache):
    X, W = cache
    return dZ @ W.T, dZ.T @ X, dZ.sum(axis=0)
'''}),
    ("dense-backward", "dW with a 1/B factor (the mean is already in the loss)", {"answer-dense-backward": '''
def dense_backward(dZ, cache):
    X, W = cache
    return dZ @ W.T, X.T @ dZ / len(X), dZ.sum(axis=0)
'''}),
    ("relu-forward", "clips the input in place", {"answer-relu-forward": '''
def relu_forward(A):
    A[A < 0] = 0.0
    return A, A
'''}),
    ("relu-forward", "leaky instead of ReLU", {"answer-relu-forward": '''
def relu_forward(A):
    return np.maximum(0.01 * A, A), A
'''}),
    ("relu-backward", "operator precedence: dH * A > 0", {"answer-relu-backward": '''
def relu_backward(dH, cache):
    A = cache
    return dH * A > 0
'''}),
    ("relu-backward", "forgot the upstream gradient", {"answer-relu-backward": '''
def relu_backward(dH, cache):
    A = cache
    return (A > 0) * 1.0
'''}),
    ("relu-backward", "derivative 1 at A = 0", {"answer-relu-backward": '''
def relu_backward(dH, cache):
    A = cache
    return dH * (A >= 0)
'''}),
    ("softmax-ce", "gradient without the 1/B", {"answer-ce": '''
def softmax_cross_entropy(Z, y):
    B = len(y)
    Z = Z - Z.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    dZ = np.exp(log_p)
    dZ[np.arange(B), y] -= 1
    return float(-log_p[np.arange(B), y].mean()), dZ
'''}),
    ("softmax-ce", "no max subtraction (overflows at large logits)", {"answer-ce": '''
def softmax_cross_entropy(Z, y):
    B = len(y)
    p = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    dZ = p.copy()
    dZ[np.arange(B), y] -= 1
    return float(-np.log(p[np.arange(B), y]).mean()), dZ / B
'''}),
    ("softmax-ce", "softmax over the batch axis", {"answer-ce": '''
def softmax_cross_entropy(Z, y):
    B = len(y)
    Z = Z - Z.max(axis=0, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=0, keepdims=True))
    dZ = np.exp(log_p)
    dZ[np.arange(B), y] -= 1
    return float(-log_p[np.arange(B), y].mean()), dZ / B
'''}),
    ("softmax-ce", "gradient p + onehot (sign error)", {"answer-ce": '''
def softmax_cross_entropy(Z, y):
    B = len(y)
    Z = Z - Z.max(axis=1, keepdims=True)
    log_p = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    dZ = np.exp(log_p)
    dZ[np.arange(B), y] += 1
    return float(-log_p[np.arange(B), y].mean()), dZ / B
'''}),
    ("mlp-grads", "skipped the ReLU backward", {"answer-mlp": '''
def mlp_loss_and_grads(params, X, y):
    A1, cache1 = dense_forward(X, params["W1"], params["b1"])
    H1, cache_relu = relu_forward(A1)
    Z, cache2 = dense_forward(H1, params["W2"], params["b2"])
    loss, dZ = softmax_cross_entropy(Z, y)
    dH1, dW2, db2 = dense_backward(dZ, cache2)
    _, dW1, db1 = dense_backward(dH1, cache1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
'''}),
    ("mlp-grads", "first layer's backward given the second layer's cache", {"answer-mlp": '''
def mlp_loss_and_grads(params, X, y):
    A1, cache1 = dense_forward(X, params["W1"], params["b1"])
    H1, cache_relu = relu_forward(A1)
    Z, cache2 = dense_forward(H1, params["W2"], params["b2"])
    loss, dZ = softmax_cross_entropy(Z, y)
    dH1, dW2, db2 = dense_backward(dZ, cache2)
    dA1 = relu_backward(dH1, cache_relu)
    _, dW1, db1 = dense_backward(dA1, cache2)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
'''}),
    ("train", "gradient ascent (sign error in the step)", {"answer-train": '''
def sgd_step(params, grads, lr):
    for k in params:
        params[k] += lr * grads[k]


def train_mlp(params, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order, total = rng.permutation(len(X)), 0.0
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            loss, grads = mlp_loss_and_grads(params, X[idx], y[idx])
            sgd_step(params, grads, lr)
            total += loss * len(idx)
        history.append(total / len(X))
    return history
'''}),
    ("train", "the step rebinds a loop variable: params never change", {"answer-train": '''
def sgd_step(params, grads, lr):
    for p, g in zip(params.values(), grads.values()):
        p = p - lr * g


def train_mlp(params, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order, total = rng.permutation(len(X)), 0.0
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            loss, grads = mlp_loss_and_grads(params, X[idx], y[idx])
            sgd_step(params, grads, lr)
            total += loss * len(idx)
        history.append(total / len(X))
    return history
'''}),
    ("train", "trains on the first batch only, every step", {"answer-train": '''
def sgd_step(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]


def train_mlp(params, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        total = 0.0
        for i in range(0, len(X), batch_size):
            loss, grads = mlp_loss_and_grads(params, X[:batch_size], y[:batch_size])
            sgd_step(params, grads, lr)
            total += loss * batch_size
        history.append(total / len(X))
    return history
'''}),
    ("train", "one SGD step per epoch (only the last batch)", {"answer-train": '''
def sgd_step(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]


def train_mlp(params, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
        loss, grads = mlp_loss_and_grads(params, X[idx], y[idx])
        sgd_step(params, grads, lr)
        history.append(loss)
    return history
'''}),
    ("train", "epoch loss: plain mean of the batch losses (last batch is smaller)", {"answer-train": '''
def sgd_step(params, grads, lr):
    for k in params:
        params[k] -= lr * grads[k]


def train_mlp(params, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(epochs):
        order, losses = rng.permutation(len(X)), []
        for i in range(0, len(X), batch_size):
            idx = order[i:i + batch_size]
            loss, grads = mlp_loss_and_grads(params, X[idx], y[idx])
            sgd_step(params, grads, lr)
            losses.append(loss)
        history.append(np.mean(losses))
    return history
'''}),
]
