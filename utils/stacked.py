"""Many small MLPs trained at once: a learning-rate sweep over several seeds in one run.

A sweep of M runs of a small net is dominated by per-operation overhead on a CPU, not by
arithmetic. ``StackedMLP`` keeps the weights of M independent MLPs stacked ([M, in, out])
and runs all of them with one ``torch.bmm`` per layer; each model sees the same batches and
has its own learning rate. Model m behaves exactly like ``make_mlp(...)`` built after
``torch.manual_seed(seeds[m])`` and trained with ``torch.optim.SGD(lr=lrs[m], momentum)``
(``tests/test_stacked.py`` checks it step for step), BatchNorm included: batch statistics
with the biased variance in training, running statistics (``momentum`` = weight of the
new batch, unbiased running variance) in eval mode, as ``nn.BatchNorm1d``. The activation
may be any parameter-free module (``nn.Sigmoid``, ``nn.Tanh``, ...), and the hidden layers
may sit in skip connections (``residual="pre"``: h <- h + W act(h) + b, or ``"post"``:
h <- h + act(W h + b)), the deep networks of lecture 09.

Two ways to train a stack, both on ``device`` (the model and every batch; the data may stay
on the CPU):
- ``train_stacked``: the same batches for every model, SGD with momentum, a learning rate
  per model (a learning-rate sweep);
- ``train_seeds``: any ``torch.optim`` optimizer, every model on its own batch order
  (generator seeded with its seed), so model m is exactly the run of seed m trained alone
  (every torch optimizer acts elementwise, and the loss is a sum of per-model losses).
"""
from __future__ import annotations

import torch
from torch import nn


class Residual(nn.Sequential):
    """A skip connection around its layers: x + layers(x)."""

    def forward(self, x):
        return x + super().forward(x)


RESIDUAL = (None, "pre", "post")


def make_mlp(n_in: int, width: int, depth: int, n_out: int, batchnorm: bool,
             act=nn.ReLU, residual=None) -> nn.Sequential:
    """``depth`` hidden blocks Linear -> (BatchNorm1d) -> act, then Linear to ``n_out``.

    ``act``: the activation's class (parameter-free). ``residual``: ``None`` (plain), or the
    ``depth - 1`` hidden layers after the first inside skip connections, ``"pre"``:
    h <- h + Linear(act(h)), then Linear(act(h)) to ``n_out``; ``"post"``: h <- h + act(Linear(h)),
    then Linear(h). Every variant has ``depth + 1`` Linear layers, created in the same order."""
    if residual not in RESIDUAL:
        raise ValueError(f"residual={residual!r}: one of {RESIDUAL}")
    if residual and (batchnorm or depth < 1):
        raise ValueError("residual blocks need depth >= 1 and no batchnorm")
    if residual:
        block = (lambda: Residual(act(), nn.Linear(width, width))) if residual == "pre" else \
                (lambda: Residual(nn.Linear(width, width), act()))
        first = nn.Linear(n_in, width)
        blocks = [block() for _ in range(depth - 1)]
        return nn.Sequential(first, *blocks, *([act()] if residual == "pre" else []), nn.Linear(width, n_out))
    layers, n = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(n, width)] + ([nn.BatchNorm1d(width)] if batchnorm else [])
        layers.append(act())
        n = width
    layers.append(nn.Linear(n, n_out))
    return nn.Sequential(*layers)


class StackedMLP(nn.Module):
    """M copies of ``make_mlp``'s architecture with independent weights.

    Input [B, n_in] (shared by all models) -> logits [M, B, n_out]."""

    def __init__(self, nets: list[nn.Sequential], momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in nets]
        self.batchnorm = any(isinstance(m, nn.BatchNorm1d) for m in nets[0])
        blocks = [m for m in nets[0] if isinstance(m, Residual)]
        self.residual = None if not blocks else "post" if isinstance(blocks[0][0], nn.Linear) else "pre"
        acts = [m for m in nets[0].modules() if not isinstance(m, (nn.Sequential, nn.Linear, nn.BatchNorm1d))]
        self.act = acts[0] if acts else nn.ReLU()                        # parameter-free
        self.momentum, self.eps = momentum, eps
        stack = lambda ts: nn.Parameter(torch.stack([t.detach().clone() for t in ts]))  # noqa: E731
        self.W = nn.ParameterList(stack([lin[i].weight.T for lin in linears])
                                  for i in range(len(linears[0])))       # [M, in, out]
        self.b = nn.ParameterList(stack([lin[i].bias[None] for lin in linears])
                                  for i in range(len(linears[0])))       # [M, 1, out]
        if self.batchnorm:
            widths = [W.shape[2] for W in self.W[:-1]]
            self.gamma = nn.ParameterList(nn.Parameter(torch.ones(len(nets), 1, w)) for w in widths)
            self.beta = nn.ParameterList(nn.Parameter(torch.zeros(len(nets), 1, w)) for w in widths)
            for i, w in enumerate(widths):
                self.register_buffer(f"mean{i}", torch.zeros(len(nets), 1, w))
                self.register_buffer(f"var{i}", torch.ones(len(nets), 1, w))

    @classmethod
    def build(cls, seeds, n_in: int, width: int, depth: int, n_out: int, batchnorm: bool,
              init=None, act=nn.ReLU, residual=None):
        """Model m = ``make_mlp(...)`` initialized after ``torch.manual_seed(seeds[m])``;
        ``init(weight)``, when given, then re-draws the weight of every Linear layer."""
        nets = []
        for s in seeds:
            torch.manual_seed(s)
            nets.append(make_mlp(n_in, width, depth, n_out, batchnorm, act, residual))
            with torch.no_grad():
                for lin in (m for m in nets[-1].modules() if isinstance(m, nn.Linear) and init):
                    init(lin.weight)
        return cls(nets)

    def unstack(self, m: int) -> nn.Sequential:
        """Model m as a ``make_mlp`` network (weights and running statistics copied)."""
        n_in, width, n_out = self.W[0].shape[1], self.W[0].shape[2], self.W[-1].shape[2]
        net = make_mlp(n_in, width, len(self.W) - 1, n_out, self.batchnorm, type(self.act),
                       self.residual).to(self.W[0].dtype)
        lins = [x for x in net.modules() if isinstance(x, nn.Linear)]
        bns = [x for x in net if isinstance(x, nn.BatchNorm1d)]
        with torch.no_grad():
            for i, lin in enumerate(lins):
                lin.weight.copy_(self.W[i][m].T)
                lin.bias.copy_(self.b[i][m, 0])
            for i, bn in enumerate(bns):
                bn.weight.copy_(self.gamma[i][m, 0])
                bn.bias.copy_(self.beta[i][m, 0])
                bn.running_mean.copy_(getattr(self, f"mean{i}")[m, 0])
                bn.running_var.copy_(getattr(self, f"var{i}")[m, 0])
        return net.train(self.training)

    def _norm(self, h, i):
        if self.training:
            mean, var = h.mean(1, keepdim=True), h.var(1, keepdim=True, correction=0)
            with torch.no_grad():
                m, run_mean, run_var = self.momentum, getattr(self, f"mean{i}"), getattr(self, f"var{i}")
                run_mean.mul_(1 - m).add_(m * mean)
                run_var.mul_(1 - m).add_(m * var * h.shape[1] / (h.shape[1] - 1))
        else:
            mean, var = getattr(self, f"mean{i}"), getattr(self, f"var{i}")
        return self.gamma[i] * (h - mean) / torch.sqrt(var + self.eps) + self.beta[i]

    def forward(self, X):
        if X.device != self.W[0].device:   # bmm does not check it on every device (e.g. meta)
            raise RuntimeError(f"StackedMLP: input on {X.device}, weights on {self.W[0].device}; "
                               "move the batch with .to(device)")
        h = X.expand(len(self.W[0]), *X.shape) if X.dim() == 2 else X   # [M, B, n_in]
        if self.residual:
            h, last = torch.baddbmm(self.b[0], h, self.W[0]), len(self.W) - 1
            for W, b in zip(self.W[1:last], self.b[1:last], strict=True):  # the skip connections
                h = h + (torch.baddbmm(b, self.act(h), W) if self.residual == "pre"
                         else self.act(torch.baddbmm(b, h, W)))
            return torch.baddbmm(self.b[last], self.act(h) if self.residual == "pre" else h, self.W[last])
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            h = torch.baddbmm(b, h, W)                                    # [M, B, out]
            if i < len(self.W) - 1:
                h = self.act(self._norm(h, i) if self.batchnorm else h)
        return h


def _on(net: nn.Module, device):
    """The device to train on: ``device`` if given (the net is moved there), else the net's."""
    if device is None:
        return next(net.parameters()).device
    net.to(device)
    return torch.device(device)


def _host(t: torch.Tensor) -> torch.Tensor:
    """A result back on the CPU (a ``meta`` tensor, which holds no numbers, stays as it is)."""
    return t if t.device.type == "meta" else t.cpu()


def train_stacked(net: StackedMLP, X, y, X_val, y_val, lrs, steps: int, batch_size: int = 64,
                  momentum: float = 0.9, drop_last: bool = True, eval_every: int = 10,
                  seed: int = 0, device=None):
    """SGD with momentum (torch's form v = mu v + g, p -= lr v), model m with ``lrs[m]``.

    Batches: a new ``torch.randperm`` each epoch (generator seeded with ``seed``), the same
    for every model; the incomplete last batch is dropped when ``drop_last``.
    ``device``: where the net and the batches live (default: the net's device).
    Returns the validation accuracy of every model every ``eval_every`` steps
    ([steps // eval_every, M], eval mode) and the final training losses [M], on the CPU."""
    device = _on(net, device)
    X_val, y_val = X_val.to(device), y_val.to(device)
    lr = torch.as_tensor(lrs, dtype=X.dtype, device=device)
    bufs = [torch.zeros_like(p) for p in net.parameters()]
    gen, step, accs, N = torch.Generator().manual_seed(seed), 0, [], len(X)
    while step < steps:
        order = torch.randperm(N, generator=gen)
        for i in range(0, N, batch_size):
            idx = order[i:i + batch_size]
            if (drop_last and len(idx) < batch_size) or step == steps:
                break
            net.train()
            Xb, yb = X[idx].to(device), y[idx].to(device)
            logits = net(Xb)                                              # [M, B, K]
            losses = nn.functional.cross_entropy(logits.transpose(1, 2), yb.expand(len(lr), -1),
                                                 reduction="none").mean(1)
            net.zero_grad()
            losses.sum().backward()          # model m's gradient is that of its own loss
            with torch.no_grad():
                for p, v in zip(net.parameters(), bufs, strict=True):
                    v.mul_(momentum).add_(p.grad)
                    p.sub_(lr.view(-1, *[1] * (p.dim() - 1)) * v)
            step += 1
            if step % eval_every == 0:
                net.eval()
                with torch.no_grad():
                    accs.append((net(X_val).argmax(2) == y_val).float().mean(1))
    return _host(torch.stack(accs)), _host(losses.detach())


def train_seeds(net: StackedMLP, make_optimizer, X, y, X_val, y_val, epochs, seeds,
                batch_size: int = 64, device=None, *, steps=None, eval_every=None,
                after_backward=None, return_losses: bool = False):
    """Train the M = len(seeds) models of ``net`` with ``make_optimizer(net.parameters())``
    (any ``torch.optim`` optimizer), each exactly as if trained alone.

    Model m shuffles with its own generator, ``torch.Generator().manual_seed(seeds[m])``, one
    ``randperm`` per epoch, and takes the batches ``order[i:i + batch_size]`` in turn (the
    last one may be smaller). The loss is the sum over the models of each one's mean
    cross-entropy, so each model gets the gradient of its own loss. ``device``: where the
    net and the batches live (default: the net's device).
    Returns the validation accuracy of every model after every epoch, [epochs, M], eval
    mode, on the CPU.

    Or, with ``epochs=None`` and ``steps``: train ``steps`` batches (the epochs run on as
    needed) and evaluate every ``eval_every`` steps (default: once, at the end): [steps //
    eval_every, M]. ``after_backward(net)``, when given, runs between the backward pass and
    the optimizer step (to clip or read the gradients; slice m of every parameter's ``.grad``
    is model m's). ``return_losses``: also return every step's training losses [steps, M]."""
    if (epochs is None) == (steps is None):
        raise ValueError(f"train_seeds: give either epochs or steps, not both or neither "
                         f"(epochs={epochs!r}, steps={steps!r})")
    device = _on(net, device)
    X_val, y_val = X_val.to(device), y_val.to(device)
    optimizer, N = make_optimizer(net.parameters()), len(X)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    per_epoch = -(-N // batch_size)
    total = epochs * per_epoch if steps is None else steps
    eval_every = eval_every or (per_epoch if steps is None else steps)
    accs, losses = [], []
    for step in range(total):
        if step % per_epoch == 0:
            order = torch.stack([torch.randperm(N, generator=g) for g in gens])  # [M, N]: one shuffle per model
        net.train()
        i = step % per_epoch * batch_size
        idx = order[:, i:i + batch_size]                                      # [M, B]
        Xb, yb = X[idx].to(device), y[idx].to(device)                         # [M, B, n_in], [M, B]
        logits = net(Xb)                                                      # [M, B, K]
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), yb, reduction="none").mean(1)  # [M]
        optimizer.zero_grad()
        loss.sum().backward()
        if after_backward is not None:
            after_backward(net)
        optimizer.step()
        losses.append(loss.detach())
        if (step + 1) % eval_every == 0:
            net.eval()
            with torch.no_grad():
                accs.append((net(X_val).argmax(2) == y_val).float().mean(1))
    accs = _host(torch.stack(accs))
    return (accs, _host(torch.stack(losses))) if return_losses else accs
