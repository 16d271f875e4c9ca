"""Known-wrong answers and shortcuts for solutions/01_linear_regression.ipynb: each must lose
its task. (task id, description, {answer cell id: replacement source})."""

_RG = "def ridge_loss_grad(X, y, w, b, lam):\n"
_FIT = "def ridge_fit(X, y, lam):\n"
_SGD = "def minibatch_sgd(X, y, lr, epochs, batch_size, seed=0):\n"
_SGD_BODY = '''    n_rows = len(y)
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = {order}
        for start in range(0, n_rows, batch_size):
            idx = order[start:start + batch_size]
            r = X[idx] @ w + b - y[idx]
            {record}
            w = w - lr * 2 / {size} * (X[idx].T @ r)
            b = b - lr * 2 * float(np.mean(r))
            {after}
    return w, b, losses
'''


def _sgd(order="rng.permutation(n_rows)", record="losses.append(float(np.mean(r ** 2)))",
         size="len(idx)", after="pass"):
    return _SGD + _SGD_BODY.format(order=order, record=record, size=size, after=after)


_POLY = '''def poly_val_mse(X_train, y_train, X_val, y_val, degree):
    V_train = np.vander(X_train[:, 0], degree + 1, increasing=True)
    coef = np.linalg.lstsq(V_train, y_train, rcond=None)[0]
    resid = np.vander(X_val[:, 0], degree + 1, increasing=True) @ coef - y_val
    return float(np.mean(resid ** 2))


'''

WRONG = [
    # ------------------------------------------------------------ ridge-grad
    ("ridge-grad", "penalty gradient lam * w (forgot the 2)", {"answer-ridge-grad": _RG + '''
    r = X @ w + b - y
    return float(np.mean(r ** 2) + lam * np.sum(w ** 2)), 2 / len(y) * X.T @ r + lam * w, float(2 * np.mean(r))
'''}),
    ("ridge-grad", "the bias penalised too", {"answer-ridge-grad": _RG + '''
    r = X @ w + b - y
    loss = np.mean(r ** 2) + lam * (np.sum(w ** 2) + b ** 2)
    return float(loss), 2 / len(y) * X.T @ r + 2 * lam * w, float(2 * np.mean(r) + 2 * lam * b)
'''}),
    ("ridge-grad", "divides by the notebook's global N", {"answer-ridge-grad": _RG + '''
    r = X @ w + b - y
    return float(np.sum(r ** 2) / N + lam * np.sum(w ** 2)), 2 / N * X.T @ r + 2 * lam * w, float(2 * np.sum(r) / N)
'''}),
    ("ridge-grad", "returns a 0-d array, not a float", {"answer-ridge-grad": _RG + '''
    r = X @ w + b - y
    return np.mean(r ** 2) + lam * np.sum(w ** 2), 2 / len(y) * X.T @ r + 2 * lam * w, 2 * np.mean(r)
'''}),
    ("ridge-grad", "modifies w in place", {"answer-ridge-grad": _RG + '''
    r = X @ w + b - y
    loss = np.mean(r ** 2) + lam * np.sum(w ** 2)
    w *= 2 * lam
    return float(loss), 2 / len(y) * X.T @ r + w, float(2 * np.mean(r))
'''}),
    # ------------------------------------------------------------ ridge-fit
    ("ridge-fit", "normal equation with solve: forms X^T X", {"answer-ridge-fit": _FIT + '''
    N, D = X.shape
    xm, ym = X.mean(0), y.mean()
    Xc = X - xm
    w = np.linalg.solve(Xc.T @ Xc + N * lam * np.eye(D), Xc.T @ (y - ym))
    return w, float(ym - xm @ w)
'''}),
    ("ridge-fit", "penalty lam instead of N lam", {"answer-ridge-fit": _FIT + '''
    N, D = X.shape
    A = np.vstack([np.c_[X, np.ones(N)], np.c_[np.sqrt(lam) * np.eye(D), np.zeros(D)]])
    theta = np.linalg.lstsq(A, np.r_[y, np.zeros(D)], rcond=None)[0]
    return theta[:-1], float(theta[-1])
'''}),
    ("ridge-fit", "the bias penalised (a penalty row for b too)", {"answer-ridge-fit": _FIT + '''
    N, D = X.shape
    A = np.vstack([np.c_[X, np.ones(N)], np.sqrt(N * lam) * np.eye(D + 1)])
    theta = np.linalg.lstsq(A, np.r_[y, np.zeros(D + 1)], rcond=None)[0]
    return theta[:-1], float(theta[-1])
'''}),
    ("ridge-fit", "shortcut: sklearn's Ridge (forbidden)", {"answer-ridge-fit": _FIT + '''
    from sklearn.linear_model import Ridge
    if lam == 0:
        theta = np.linalg.lstsq(np.c_[X, np.ones(len(y))], y, rcond=None)[0]
        return theta[:-1], float(theta[-1])
    m = Ridge(alpha=len(y) * lam).fit(X, y)
    return m.coef_, float(m.intercept_)
'''}),
    ("ridge-fit", "shortcut: np.linalg.inv via an alias (forbidden)", {"answer-ridge-fit": '''
from numpy.linalg import inv as invert


''' + _FIT + '''
    N, D = X.shape
    A = np.vstack([np.c_[X, np.ones(N)], np.c_[np.sqrt(N * lam) * np.eye(D), np.zeros(D)]])
    t = np.r_[y, np.zeros(D)]
    if lam > 0:
        theta = invert(A.T @ A) @ A.T @ t
    else:
        theta = np.linalg.lstsq(A, t, rcond=None)[0]
    return theta[:-1], float(theta[-1])
'''}),
    # ------------------------------------------------------------ sgd
    ("sgd", "divides by the full N instead of the batch size", {"answer-sgd": _sgd(size="n_rows")}),
    ("sgd", "no shuffling: batches in the original order", {"answer-sgd": _sgd(order="np.arange(n_rows)")}),
    ("sgd", "a new generator every epoch (the same order every epoch)",
     {"answer-sgd": _sgd(order="np.random.default_rng(seed).permutation(n_rows)")}),
    ("sgd", "records the loss after the step", {"answer-sgd": _sgd(
        record="pass", after="losses.append(float(np.mean((X[idx] @ w + b - y[idx]) ** 2)))")}),
    ("sgd", "drops the last, smaller batch", {"answer-sgd": _sgd().replace(
        "range(0, n_rows, batch_size)", "range(0, n_rows - batch_size + 1, batch_size)")}),
    ("sgd", "reads the global batch size 16 instead of the argument", {"answer-sgd": _sgd().replace(
        "range(0, n_rows, batch_size)", "range(0, n_rows, 16)").replace(
        "start + batch_size", "start + 16")}),
    # ------------------------------------------------------------ degree
    ("degree", "chooses the degree on the training MSE", {"answer-degree": _POLY + '''
train_mses = [poly_val_mse(X_tr, y_tr, X_tr, y_tr, k) for k in DEGREES]
best_degree = DEGREES[int(np.argmin(train_mses))]
test_mse = poly_val_mse(X_tr, y_tr, X_te, y_te, best_degree)
'''}),
    ("degree", "chooses the degree on the test set", {"answer-degree": _POLY + '''
test_mses = [poly_val_mse(X_tr, y_tr, X_te, y_te, k) for k in DEGREES]
best_degree = DEGREES[int(np.argmin(test_mses))]
test_mse = min(test_mses)
'''}),
    ("degree", "no constant column (np.vander without the 1)", {"answer-degree": _POLY.replace(
        "degree + 1, increasing=True)", "degree + 1, increasing=True)[:, 1:]") + '''
val_mses = [poly_val_mse(X_tr, y_tr, X_val, y_val, k) for k in DEGREES]
best_degree = DEGREES[int(np.argmin(val_mses))]
test_mse = poly_val_mse(X_tr, y_tr, X_te, y_te, best_degree)
'''}),
    ("degree", "best_degree is a NumPy integer index, test refitted on train + validation",
     {"answer-degree": _POLY + '''
val_mses = [poly_val_mse(X_tr, y_tr, X_val, y_val, k) for k in DEGREES]
best_degree = np.argmin(val_mses)
test_mse = poly_val_mse(np.r_[X_tr, X_val], np.r_[y_tr, y_val], X_te, y_te, best_degree)
'''}),
    # ------------------------------------------------------------ lr
    ("lr", "1 / lambda_max (forgot the 2) and answer D", {"answer-lr": '''
Xt_ = np.c_[X_lr, np.ones(len(X_lr))]
ANSWER_LR_MAX = float(1 / np.linalg.eigvalsh(2 / len(X_lr) * Xt_.T @ Xt_).max())
ANSWER_ZIGZAG = "D"
'''}),
    ("lr", "the Hessian without the bias column", {"answer-lr": '''
ANSWER_LR_MAX = float(2 / np.linalg.eigvalsh(2 / len(X_lr) * X_lr.T @ X_lr).max())
ANSWER_ZIGZAG = "B"
'''}),
    ("lr", "right number, answer A (the loss oscillates)", {"answer-lr": '''
Xt_ = np.c_[X_lr, np.ones(len(X_lr))]
ANSWER_LR_MAX = float(2 / np.linalg.eigvalsh(2 / len(X_lr) * Xt_.T @ Xt_).max())
ANSWER_ZIGZAG = "A"
'''}),
    ("lr", "tampering: rebinds check_close to accept anything", {"answer-lr": '''
check_close = lambda *args, **kwargs: None
ANSWER_LR_MAX = 1.0
ANSWER_ZIGZAG = "B"
'''}),
]
