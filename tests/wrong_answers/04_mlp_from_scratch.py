"""Plausible wrong answers and shortcuts for solutions/04_mlp_from_scratch.ipynb: each must
lose its task (shortcuts lose by the task's `forbid` rule)."""

PRELU = '''
class PReLU:
    def __init__(self, n_units, alpha=0.25):
        self.params = {"alpha": np.full(n_units, alpha)}
        self.grads = {}

    def forward(self, A):
%s

    def backward(self, dH):
%s
'''
FWD = '''        self.A = A
        return np.where(A > 0, A, self.params["alpha"] * A)'''
BWD = '''        self.grads = {"alpha": (dH * np.minimum(self.A, 0.0)).sum(axis=0)}
        return dH * np.where(self.A > 0, 1.0, self.params["alpha"])'''


def prelu(fwd=FWD, bwd=BWD):
    return {"answer-prelu": PRELU % (fwd, bwd)}


SEQUENTIAL = '''
class Sequential:
    def __init__(self, layers):
        self.layers = list(layers)

    def forward(self, X):
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def backward(self, dout):
%s

    def parameters(self):
        return [(layer, name) for layer in self.layers for name in layer.params]
'''
BUILD_AND_LOSS = '''
def build_mlp(n_in, hidden, n_out, seed=0):
    rng = np.random.default_rng(seed)
%s


def loss_and_grads(model, X, y):
%s
'''
BACK = '''        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout'''
BUILD = '''    layers, width = [], n_in
    for h in hidden:
        layers += [Dense(width, h, rng), PReLU(h)]
        width = h
    layers.append(Dense(width, n_out, rng))
    return Sequential(layers)'''
LOSS = '''    loss, dZ = softmax_cross_entropy(model.forward(X), y)
    model.backward(dZ)
    return loss'''


def mlp(back=BACK, build=BUILD, loss=LOSS):
    return {"answer-mlp": SEQUENTIAL % back, "answer-build": BUILD_AND_LOSS % (build, loss)}


SGD = '''
def train_sgd(model, X, y, epochs, lr, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    losses = []
%s
    return losses
'''
LOOP = '''    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            losses.append(loss_and_grads(model, X[idx], y[idx]))
            for layer, name in model.parameters():
                layer.params[name] = layer.params[name] - lr * layer.grads[name]'''


def sgd(loop):
    return {"answer-sgd": SGD % loop}


DIGITS = '''
digits_model = build_mlp(64, HIDDEN, 10, seed=seed)
%s
print(f"validation accuracy {accuracy(digits_model, X_val, y_val):.3f}")
'''

WIDTH = '''
def width_experiment(widths, X_tr, y_tr, X_va, y_va, n_classes, epochs, lr, batch_size, seed=0):
%s

width_acc = width_experiment(WIDTHS, X_train, y_train, X_val, y_val, n_classes=10,
                             epochs=WIDTH_EPOCHS, lr=LR, batch_size=BATCH_SIZE, seed=seed)
ANSWER_WIDTH = %s
ANSWER_ONE_UNIT = %r
'''
WBODY = '''    results = {}
    for w in widths:
        model = build_mlp(X_tr.shape[1], [w], n_classes, seed=seed)
        train_sgd(model, X_tr, y_tr, epochs, lr, batch_size, seed=seed)
        results[w] = accuracy(model, X_va, y_va)
    return results'''


def width(body=WBODY, answer="16", letter="B"):
    return {"answer-width": WIDTH % (body, answer, letter)}


WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---- task 1: PReLU
    ("prelu", "dalpha not summed over the batch (one row per example)",
     prelu(bwd=BWD.replace(".sum(axis=0)", ""))),
    ("prelu", "dalpha averaged over the batch", prelu(bwd=BWD.replace(".sum(axis=0)", ".mean(axis=0)"))),
    ("prelu", "dalpha without the upstream gradient",
     prelu(bwd=BWD.replace("(dH * np.minimum(self.A, 0.0))", "np.minimum(self.A, 0.0)"))),
    ("prelu", "derivative 1 at A = 0 (A >= 0)", prelu(bwd=BWD.replace("self.A > 0", "self.A >= 0"))),
    ("prelu", "forward scales the input in place",
     prelu(fwd='''        self.A = A.copy()
        A[A < 0] *= self.params["alpha"][np.nonzero(A < 0)[1]]
        return A''')),
    ("prelu", "backward overwrites the upstream gradient in place",
     prelu(bwd='''        self.grads = {"alpha": (dH * np.minimum(self.A, 0.0)).sum(axis=0)}
        dH[self.A <= 0] *= 0.25
        return dH''')),
    ("prelu", "the slope read as the first unit's for every unit",
     prelu(fwd=FWD.replace('self.params["alpha"] * A', 'self.params["alpha"][0] * A'),
           bwd=BWD.replace('1.0, self.params["alpha"])', '1.0, self.params["alpha"][0])'))),
    ("prelu", "shortcut: the backward by torch autograd",
     prelu(bwd='''        import torch
        A = torch.tensor(self.A, requires_grad=True)
        alpha = torch.tensor(self.params["alpha"], requires_grad=True)
        torch.nn.functional.prelu(A, alpha).backward(torch.tensor(dH))
        self.grads = {"alpha": alpha.grad.numpy()}
        return A.grad.numpy()''')),
    # ---- task 2: Sequential, build_mlp, loss_and_grads
    ("mlp", "backward walks the layers forward, not in reverse",
     mlp(back=BACK.replace("reversed(self.layers)", "self.layers"))),
    ("mlp", "a PReLU after the last layer too",
     mlp(build=BUILD.replace("layers.append(Dense(width, n_out, rng))",
                             "layers += [Dense(width, n_out, rng), PReLU(n_out)]"))),
    ("mlp", "a new rng for every layer (the weights of all layers start from one seed)",
     mlp(build=BUILD.replace("Dense(width, h, rng)", "Dense(width, h, np.random.default_rng(seed))"))),
    ("mlp", "hidden widths ignored: 64 units hard-coded",
     mlp(build=BUILD.replace("[Dense(width, h, rng), PReLU(h)]", "[Dense(width, 64, rng), PReLU(64)]")
         .replace("width = h", "width = 64"))),
    ("mlp", "returns a 0-d array, not a float",
     mlp(loss=LOSS.replace("return loss", "return np.array(loss)"))),
    ("mlp", "backward given the probabilities instead of dL/dZ",
     mlp(loss='''    loss, dZ = softmax_cross_entropy(model.forward(X), y)
    P = np.exp(model.forward(X) - model.forward(X).max(axis=1, keepdims=True))
    model.backward(P / P.sum(axis=1, keepdims=True))
    return loss''')),
    ("mlp", "shortcut: the gradients by torch autograd",
     mlp(loss='''    import torch
    leaves, forward = torch_twin(model)
    model.forward(X)
    loss = torch.nn.functional.cross_entropy(forward(X), torch.tensor(y))
    loss.backward()
    for layer, p in zip(model.layers, leaves):
        layer.grads = {k: v.grad.numpy() for k, v in p.items()}
    return loss.item()''')),
    # ---- task 3: train_sgd
    ("sgd", "no shuffling: batches in the order of the data",
     sgd(LOOP.replace("rng.permutation(len(X))", "np.arange(len(X))"))),
    ("sgd", "one permutation for all epochs",
     sgd("    order = rng.permutation(len(X))\n" + LOOP.replace(
         "        order = rng.permutation(len(X))\n", ""))),
    ("sgd", "the loss recorded after the update",
     sgd(LOOP.replace("            losses.append(loss_and_grads(model, X[idx], y[idx]))\n",
                      "            loss_and_grads(model, X[idx], y[idx])\n")
         + "\n            losses.append(float(softmax_cross_entropy(model.forward(X[idx]), y[idx])[0]))")),
    ("sgd", "gradient ascent (sign error)", sgd(LOOP.replace("] - lr *", "] + lr *"))),
    ("sgd", "reads the notebook's BATCH_SIZE instead of its argument",
     sgd(LOOP.replace("batch_size", "BATCH_SIZE"))),
    ("sgd", "drops the last, smaller batch",
     sgd(LOOP.replace("range(0, len(X), batch_size)", "range(0, len(X) - batch_size + 1, batch_size)"))),
    ("sgd", "shuffles X in place",
     sgd(LOOP.replace("        order = rng.permutation(len(X))\n",
                      "        order = rng.permutation(len(X))\n        X[:] = X[order]\n        y[:] = y[order]\n"
                      "        order = np.arange(len(X))\n"))),
    ("sgd", "shortcut: torch.optim.SGD on a torch copy",
     sgd('''    import torch
    leaves, forward = torch_twin(model)
    opt = torch.optim.SGD([p for layer in leaves for p in layer.values()], lr=lr)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(forward(X[idx]), torch.tensor(y[idx]))
            losses.append(loss.item())
            loss.backward()
            opt.step()
    for layer, p in zip(model.layers, leaves):
        layer.params = {k: v.detach().numpy().copy() for k, v in p.items()}''')),
    # ---- task 4: the digits
    ("digits", "one epoch at a tiny learning rate: far from trained",
     {"answer-digits": DIGITS % "digits_losses = train_sgd(digits_model, X_train, y_train, 1, 0.001, 32)"}),
    ("digits", "never trained", {"answer-digits": DIGITS % "digits_losses = [2.3]"}),
    ("digits", "digits_model never assigned",
     {"answer-digits": "digits_losses = []\n"}),
    # ---- task 5: the width experiment
    ("width", "ignores its data arguments: always the notebook's digits",
     width(body=WBODY.replace("X_tr, y_tr, epochs", "X_train, y_train, epochs")
           .replace("accuracy(model, X_va, y_va)", "accuracy(model, X_val, y_val)")
           .replace("X_tr.shape[1]", "64").replace("n_classes, seed", "10, seed"))),
    ("width", "accuracy on the training set, not the validation set",
     width(body=WBODY.replace("accuracy(model, X_va, y_va)", "accuracy(model, X_tr, y_tr)"))),
    ("width", "ANSWER_WIDTH: the width of the best accuracy", width(answer="64")),
    ("width", "ANSWER_ONE_UNIT: 'too few epochs'", width(letter="A")),
    # ---- task 6: the questions
    ("questions", "forgot the PReLU slopes",
     {"answer-questions": "ANSWER_PARAMS = 2826 - 48\nANSWER_STEPS = 85\n"}),
    ("questions", "steps: the last, smaller batch not counted",
     {"answer-questions": "ANSWER_PARAMS = 2826\nANSWER_STEPS = 5 * (1077 // 64)\n"}),
    ("questions", "a float where an int is asked",
     {"answer-questions": "ANSWER_PARAMS = 2826.0\nANSWER_STEPS = 85\n"}),
]
