"""Plausible wrong answers for solutions/01_linear_regression.ipynb: each must lose its task."""

WRONG = [  # (task id, description, {answer cell id: replacement source})
    ("mse", "sum instead of mean (forgot 1/N)", {"answer-mse": '''
def mse(y_hat, y):
    return float(np.sum((y - y_hat) ** 2))
'''}),
    ("mse", "root mean squared error", {"answer-mse": '''
def mse(y_hat, y):
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))
'''}),
    ("grad", "missing factor 2", {"answer-grad": '''
def mse_grad(X, y, w, b):
    residual = predict(X, w, b) - y
    return X.T @ residual / len(y), float(residual.mean())
'''}),
    ("grad", "sign error (y - y_hat)", {"answer-grad": '''
def mse_grad(X, y, w, b):
    residual = y - predict(X, w, b)
    return 2 / len(y) * X.T @ residual, float(2 * residual.mean())
'''}),
    ("closed-form", "no bias column", {"answer-exact": '''
def closed_form(X, y):
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    return w, 0.0
'''}),
    ("gd", "gradient ascent", {"answer-gd": '''
def gradient_descent(X, y, lr, steps):
    w, b, history = np.zeros(X.shape[1]), 0.0, []
    for _ in range(steps):
        history.append(mse(predict(X, w, b), y))
        dw, db = mse_grad(X, y, w, b)
        w, b = w + lr * dw, b + lr * db
    return w, b, history
'''}),
    ("gd", "bias never updated", {"answer-gd": '''
def gradient_descent(X, y, lr, steps):
    w, b, history = np.zeros(X.shape[1]), 0.0, []
    for _ in range(steps):
        history.append(mse(predict(X, w, b), y))
        dw, db = mse_grad(X, y, w, b)
        w = w - lr * dw
    return w, b, history
'''}),
    ("torch", "gradients never reset (they accumulate)", {"answer-torch": '''
def train_torch(X, y, lr, steps):
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        loss = ((X @ w + b - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
    return w.detach(), b.detach()
'''}),
]
