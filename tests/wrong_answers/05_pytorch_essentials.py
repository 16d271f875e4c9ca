"""Known-wrong answers and shortcuts for solutions/05_pytorch_essentials.ipynb: each must
make its task's graded test cell fail (shortcuts by the task's `forbid` rule)."""

MLP = '''
class MLP(nn.Module):
    def __init__(self, sizes, act=nn.ReLU):
        super().__init__()
%s

    def forward(self, X):
%s
'''
INIT = '''        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.acts = nn.ModuleList(act() for _ in sizes[2:])'''
FWD = '''        H = X.flatten(1)
        for k, linear in enumerate(self.linears):
            H = linear(H)
            if k < len(self.acts):
                H = self.acts[k](H)
        return H'''


def mlp(init=INIT, fwd=FWD):
    return {"answer-mlp": MLP % (init, fwd)}


EARLY = '''
def train_early_stopping(model, train_loader, val_loader, loss_fn, optimizer, max_epochs,
                         patience, device="cpu"):
    history = {"train_loss": [], "val_loss": [], "best_epoch": 0}
    best_loss, best_state = float("inf"), None
    for epoch in range(1, max_epochs + 1):
        model.train()
        total, n = 0.0, 0
        for X, y in train_loader:
            X, y = X.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            n += len(y)
        history["train_loss"].append(total / n)
        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for X, y in val_loader:
                X, y = X.to(device), y.to(device)
                total += loss_fn(model(X), y).item() * len(y)
                n += len(y)
        history["val_loss"].append(total / n)
        if history["val_loss"][-1] < best_loss:
            best_loss, history["best_epoch"] = history["val_loss"][-1], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - history["best_epoch"] >= patience:
            break
    model.load_state_dict(best_state)
    return history
'''


def early(*pairs):
    src = EARLY
    for old, new in pairs:
        assert old in src, old
        src = src.replace(old, new)
    return {"answer-early": src}


LSE = '''
class LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
%s

    @staticmethod
    def backward(ctx, grad_out):
%s

logsumexp = LogSumExp.apply
'''
LFWD = '''        m = x.max(dim=-1, keepdim=True).values
        out = (m + (x - m).exp().sum(dim=-1, keepdim=True).log()).squeeze(-1)
        ctx.save_for_backward(x, out)
        return out'''
LBWD = '''        x, out = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * (x - out.unsqueeze(-1)).exp()'''


def lse(fwd=LFWD, bwd=LBWD):
    return {"answer-lse": LSE % (fwd, bwd)}


DIGITS = '''torch.manual_seed(seed)
digits_net = MLP([64, *HIDDEN, 10]).to(device)
optimizer = torch.optim.SGD(digits_net.parameters(), lr=%s, momentum=0.9)
digits_history = train_early_stopping(digits_net, %s, %s, nn.CrossEntropyLoss(),
                                      optimizer, %s, PATIENCE, device)
'''


def digits(lr="LR", train="train_loader", val="val_loader", epochs="MAX_EPOCHS"):
    return {"answer-digits": DIGITS % (lr, train, val, epochs)}


def questions(last="77", grad="16.0", view="5"):
    return {"answer-questions": f"ANSWER_LAST_BATCH = {last}\nANSWER_GRAD = {grad}\nANSWER_VIEW = {view}\n"}


WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---- task 1: MLP
    ("mlp", "layers in a plain Python list: parameters() does not see them",
     mlp(init=INIT.replace("nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))",
                           "[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]"))),
    ("mlp", "an activation after the last layer too",
     mlp(init=INIT.replace("for _ in sizes[2:]", "for _ in sizes[1:]"))),
    ("mlp", "the act argument ignored: always ReLU",
     mlp(init=INIT.replace("act() for _", "nn.ReLU() for _"))),
    ("mlp", "no flattening: fails on [B, 1, 8, 8] images", mlp(fwd=FWD.replace("X.flatten(1)", "X"))),
    ("mlp", "softmax on the output (losses want logits)",
     mlp(fwd=FWD.replace("return H", "return torch.softmax(H, dim=1)"))),
    ("mlp", "only the first two sizes used (one hidden layer, whatever the list)",
     mlp(init='''        self.linears = nn.ModuleList([nn.Linear(sizes[0], sizes[1]), nn.Linear(sizes[1], sizes[-1])])
        self.acts = nn.ModuleList([act()])''')),
    # ---- task 2: train_early_stopping
    ("early-stopping", "model.train() only once: every epoch after the first trains in eval mode",
     early(("    for epoch in range(1, max_epochs + 1):\n        model.train()\n",
            "    model.train()\n    for epoch in range(1, max_epochs + 1):\n"))),
    ("early-stopping", "validation in training mode (no model.eval())", early(("        model.eval()\n", ""))),
    ("early-stopping", "validation records the graph (no torch.no_grad())",
     early(("        with torch.no_grad():\n", "        if True:\n"))),
    ("early-stopping", "the best weights are not restored", early(("    model.load_state_dict(best_state)\n", ""))),
    ("early-stopping", "state_dict() kept without a copy: the 'best' weights are the last ones",
     early(("copy.deepcopy(model.state_dict())", "model.state_dict()"))),
    ("early-stopping", "stops on the training loss",
     early(('if history["val_loss"][-1] < best_loss:', 'if history["train_loss"][-1] < best_loss:'),
           ('best_loss, history["best_epoch"] = history["val_loss"][-1], epoch',
            'best_loss, history["best_epoch"] = history["train_loss"][-1], epoch'))),
    ("early-stopping", "patience off by one (>)", early(('>= patience', '> patience'))),
    ("early-stopping", "never stops early", early(("            break\n", "            pass\n"))),
    ("early-stopping", "the training loss recorded after the step",
     early(("            total += loss.item() * len(y)\n            n += len(y)\n        history[\"train_loss\"]",
            "            with torch.no_grad():\n                total += loss_fn(model(X), y).item() * len(y)\n"
            "            n += len(y)\n        history[\"train_loss\"]"))),
    ("early-stopping", "plain mean of the batch losses",
     early(("            total += loss.item() * len(y)\n            n += len(y)\n        history[\"train_loss\"]",
            "            total += loss.item()\n            n += 1\n        history[\"train_loss\"]"))),
    ("early-stopping", "the losses as tensors, not floats",
     early(("total += loss.item() * len(y)", "total += loss.detach() * len(y)"))),
    ("early-stopping", "best_epoch counted from 0",
     early(('best_loss, history["best_epoch"] = history["val_loss"][-1], epoch',
            'best_loss, history["best_epoch"] = history["val_loss"][-1], epoch - 1'),
           ('epoch - history["best_epoch"] >= patience', 'epoch - 1 - history["best_epoch"] >= patience'))),
    ("early-stopping", "training batches not moved to the device (fails on a GPU)",
     early(("            X, y = X.to(device), y.to(device)\n            optimizer.zero_grad()",
            "            optimizer.zero_grad()"))),
    ("early-stopping", "shortcut: utils.training.fit and evaluate",
     {"answer-early": '''
def train_early_stopping(model, train_loader, val_loader, loss_fn, optimizer, max_epochs,
                         patience, device="cpu"):
    history = {"train_loss": [], "val_loss": [], "best_epoch": 0}
    best_loss, best_state = float("inf"), None
    for epoch in range(1, max_epochs + 1):
        h = utils.training.fit(model, train_loader, loss_fn, optimizer, epochs=1,
                               val_loader=val_loader, device=device, progress=False)
        history["train_loss"].append(h["train_loss"][0])
        history["val_loss"].append(h["val_loss"][0])
        if h["val_loss"][0] < best_loss:
            best_loss, history["best_epoch"] = h["val_loss"][0], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - history["best_epoch"] >= patience:
            break
    model.load_state_dict(best_state)
    return history
'''}),
    # ---- task 3: LogSumExp
    ("logsumexp", "no max subtraction: inf at x = 1000",
     lse(fwd='''        out = x.exp().sum(dim=-1).log()
        ctx.save_for_backward(x, out)
        return out''')),
    ("logsumexp", "one maximum for the whole batch, not one per row",
     lse(fwd=LFWD.replace("x.max(dim=-1, keepdim=True).values", "x.max()"))),
    ("logsumexp", "backward forgets grad_out",
     lse(bwd=LBWD.replace("grad_out.unsqueeze(-1) * ", ""))),
    ("logsumexp", "grad_out not broadcast over the last dimension",
     lse(bwd=LBWD.replace("grad_out.unsqueeze(-1)", "grad_out"))),
    ("logsumexp", "backward returns exp(x) / sum over the whole tensor",
     lse(bwd='''        x, out = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * x.exp() / x.exp().sum()''')),
    ("logsumexp", "shortcut: torch.logsumexp and torch.softmax",
     lse(fwd='''        ctx.save_for_backward(x)
        return torch.logsumexp(x, dim=-1)''', bwd='''        (x,) = ctx.saved_tensors
        return grad_out.unsqueeze(-1) * torch.softmax(x, dim=-1)''')),
    ("logsumexp", "shortcut: the backward by autograd inside backward",
     lse(bwd='''        x, out = ctx.saved_tensors
        with torch.enable_grad():
            xx = x.detach().requires_grad_()
            m = xx.max(dim=-1, keepdim=True).values.detach()
            y = (m + (xx - m).exp().sum(dim=-1, keepdim=True).log()).squeeze(-1)
            return torch.autograd.grad(y, xx, grad_out)[0]''')),
    # ---- task 4: the digits
    ("digits", "one epoch at a tiny learning rate", digits(lr="0.001", epochs="1")),
    ("digits", "trained and validated on the validation set", digits(train="val_loader")),
    ("digits", "digits_net never assigned", {"answer-digits": "digits_history = {}\n"}),
    # ---- task 5: questions
    ("questions", "last batch: 100 (a full one)", questions(last="100")),
    ("questions", "x.grad: only the last backward (4)", questions(grad="4.0")),
    ("questions", "the lecture's example copied: index 3", questions(view="3")),
    ("questions", "a float where an int is asked", questions(last="77.0")),
]
