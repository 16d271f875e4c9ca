"""Known-wrong answers for seminar 09 (vanishing and exploding gradients): each must lose its task.

The entries marked "shortcut" are correct in value but call what the task asks to write by
hand; only the task's `forbid` rule (checked by the grader) catches them.
"""


def _probe(body):
    return ("def grad_norm_probe(net, X, y, loss_fn=F.cross_entropy, norm_type=2.0):\n" + body)


_PROBE_LOOP = (
    "    weights, outputs, h = [], [], X\n"
    "    for layer in net:\n"
    "        h = layer(h)\n"
    "        if isinstance(layer, nn.Linear):\n"
    "            weights.append(layer.weight)\n"
    "            outputs.append(h)\n")


def _block(forward, shortcut="nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out, bias=False)"):
    return ("class ResidualBlock(nn.Module):\n"
            "    def __init__(self, d_in, d_hidden, d_out):\n"
            "        super().__init__()\n"
            "        self.fc1 = nn.Linear(d_in, d_hidden)\n"
            "        self.fc2 = nn.Linear(d_hidden, d_out)\n"
            f"        self.shortcut = {shortcut}\n"
            "    def forward(self, x):\n"
            f"        {forward}\n")


def _backward(da="(dy @ W2) * (a > 0)", dx="through_skip + da @ W1", skip_weight=True):
    return (
        "def residual_backward(block, x, dy):\n"
        "    W1, b1, W2 = block.fc1.weight.detach(), block.fc1.bias.detach(), block.fc2.weight.detach()\n"
        "    a = x @ W1.T + b1\n"
        f"    da = {da}\n"
        "    grads = {'fc1.weight': da.T @ x, 'fc1.bias': da.sum(0),\n"
        "             'fc2.weight': dy.T @ torch.relu(a), 'fc2.bias': dy.sum(0)}\n"
        "    if isinstance(block.shortcut, nn.Linear):\n"
        + ("        grads['shortcut.weight'] = dy.T @ x\n" if skip_weight else "")
        + "        through_skip = dy @ block.shortcut.weight.detach()\n"
        "    else:\n"
        "        through_skip = dy\n"
        f"    return {dx}, grads\n")


_CLIP_HEAD = (
    "def clip_grad_norm(parameters, max_norm, norm_type=2.0):\n"
    "    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)\n"
    "    grads = [q.grad for q in params if q.grad is not None]\n"
    "    if not grads:\n"
    "        return 0.0\n")
_CLIP_TOTAL = ("    total = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]), norm_type).item()\n")


def _clip_value(body):
    return "def clip_grad_value(parameters, clip_value):\n" + body


def _plain(act, init=""):
    return (
        "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
        "    sizes = [n_in] + [width] * (depth - 1) + [n_out]\n"
        "    layers = []\n"
        "    for i in range(depth):\n"
        "        lin = nn.Linear(sizes[i], sizes[i + 1])\n"
        f"{init}"
        "        layers += [lin] + ([" + act + "] if i < depth - 1 else [])\n"
        "    return nn.Sequential(*layers)\n")


_HE = ("        nn.init.kaiming_normal_(lin.weight, nonlinearity='relu')\n"
       "        nn.init.zeros_(lin.bias)\n")

WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---------------------------------------------------------------- Task 1
    ("chain-question", "ignores the weights: (1/4)^6", {"answer-question": "ANSWER_CHAIN = 0.25 ** 6\n"}),
    ("chain-question", "one sigma' factor too few: (1/4)^5 2^5", {"answer-question": "ANSWER_CHAIN = 0.25 ** 5 * 2 ** 5\n"}),
    ("chain-question", "six weight factors: (2/4)^6", {"answer-question": "ANSWER_CHAIN = 0.5 ** 6\n"}),
    ("chain-question", "a tensor instead of a float",
     {"answer-question": "ANSWER_CHAIN = torch.tensor(0.25 ** 6 * 2 ** 5)\n"}),
    # ---------------------------------------------------------------- Task 1b
    ("growth-question", "reads the norm: each factor has norm 4.06 > 1, so it explodes",
     {"answer-growth": "ANSWER_GROWTH = 'a'\n"}),
    ("growth-question", "rho^100 and the norm cancel out: stays moderate", {"answer-growth": "ANSWER_GROWTH = 'b'\n"}),
    ("growth-question", "the right idea in a wrong form (upper case)", {"answer-growth": "ANSWER_GROWTH = 'C'\n"}),
    # ---------------------------------------------------------------- Task 2
    ("probe", "loss.backward() after zero_grad: the values are right but the waiting .grad fields are wiped",
     {"answer-probe": _probe(
         "    outputs, h = [], X\n"
         "    for layer in net:\n"
         "        h = layer(h)\n"
         "        if isinstance(layer, nn.Linear):\n"
         "            h.retain_grad()\n"
         "            outputs.append(h)\n"
         "    net.zero_grad()\n"
         "    loss_fn(h, y).backward()\n"
         "    lin = [m for m in net if isinstance(m, nn.Linear)]\n"
         "    return ([torch.linalg.vector_norm(m.weight.grad, norm_type).item() for m in lin],\n"
         "            [torch.linalg.vector_norm(o.grad, norm_type).item() for o in outputs])\n")}),
    ("probe", "loss.backward() without zero_grad: gradients accumulate onto the waiting ones",
     {"answer-probe": _probe(
         "    outputs, h = [], X\n"
         "    for layer in net:\n"
         "        h = layer(h)\n"
         "        if isinstance(layer, nn.Linear):\n"
         "            h.retain_grad()\n"
         "            outputs.append(h)\n"
         "    loss_fn(h, y).backward()\n"
         "    lin = [m for m in net if isinstance(m, nn.Linear)]\n"
         "    return ([torch.linalg.vector_norm(m.weight.grad, norm_type).item() for m in lin],\n"
         "            [torch.linalg.vector_norm(o.grad, norm_type).item() for o in outputs])\n")}),
    ("probe", "bias gradients instead of weight gradients",
     {"answer-probe": _probe(_PROBE_LOOP.replace("layer.weight", "layer.bias") +
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [torch.linalg.vector_norm(g, norm_type).item() for g in grads]\n"
         "    return norms[:len(weights)], norms[len(weights):]\n")}),
    ("probe", "signal after the activation instead of the linear layer's output",
     {"answer-probe": _probe(
         "    layers = list(net)\n"
         "    weights, outputs, h = [], [], X\n"
         "    for i, layer in enumerate(layers):\n"
         "        h = layer(h)\n"
         "        if isinstance(layer, nn.Linear):\n"
         "            weights.append(layer.weight)\n"
         "            if i + 1 < len(layers) and not isinstance(layers[i + 1], nn.Linear):\n"
         "                h = layers[i + 1](h)\n"
         "                layers[i + 1] = nn.Identity()\n"
         "            outputs.append(h)\n"
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [torch.linalg.vector_norm(g, norm_type).item() for g in grads]\n"
         "    return norms[:len(weights)], norms[len(weights):]\n")}),
    ("probe", "output layer first (reversed order)",
     {"answer-probe": _probe(_PROBE_LOOP +
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [torch.linalg.vector_norm(g, norm_type).item() for g in grads]\n"
         "    return norms[:len(weights)][::-1], norms[len(weights):][::-1]\n")}),
    ("probe", "ignores norm_type (always the 2-norm)",
     {"answer-probe": _probe(_PROBE_LOOP +
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [g.norm().item() for g in grads]\n"
         "    return norms[:len(weights)], norms[len(weights):]\n")}),
    ("probe", "squared norms (sum of squares)",
     {"answer-probe": _probe(_PROBE_LOOP +
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [(g ** 2).sum().item() for g in grads]\n"
         "    return norms[:len(weights)], norms[len(weights):]\n")}),
    ("probe", "signal norm averaged over the batch",
     {"answer-probe": _probe(_PROBE_LOOP +
         "    grads = torch.autograd.grad(loss_fn(h, y), weights + outputs)\n"
         "    norms = [torch.linalg.vector_norm(g, norm_type).item() for g in grads]\n"
         "    return norms[:len(weights)], [n / len(X) for n in norms[len(weights):]]\n")}),
    # ---------------------------------------------------------------- Task 3
    ("block", "ReLU after the sum (post-activation)",
     {"answer-block": _block("return torch.relu(self.shortcut(x) + self.fc2(torch.relu(self.fc1(x))))")}),
    ("block", "no skip connection", {"answer-block": _block("return self.fc2(torch.relu(self.fc1(x)))")}),
    ("block", "projection shortcut with a bias",
     {"answer-block": _block("return self.shortcut(x) + self.fc2(torch.relu(self.fc1(x)))",
                             "nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out)")}),
    ("block", "a projection even when d_in == d_out",
     {"answer-block": _block("return self.shortcut(x) + self.fc2(torch.relu(self.fc1(x)))",
                             "nn.Linear(d_in, d_out, bias=False)")}),
    ("block", "sigmoid instead of ReLU in the branch",
     {"answer-block": _block("return self.shortcut(x) + self.fc2(torch.sigmoid(self.fc1(x)))")}),
    # ---------------------------------------------------------------- Task 4
    ("residual-backward", "dx without the skip (only dR/dx)", {"answer-backward": _backward(dx="da @ W1")}),
    ("residual-backward", "ReLU derivative 1 at a = 0 (a >= 0)",
     {"answer-backward": _backward(da="(dy @ W2) * (a >= 0)")}),
    ("residual-backward", "no ReLU mask at all", {"answer-backward": _backward(da="dy @ W2")}),
    ("residual-backward", "identity skip also for the projection (dx = dy + ...)",
     {"answer-backward": _backward(dx="dy + da @ W1")}),
    ("residual-backward", "projection weight gradient missing",
     {"answer-backward": _backward(skip_weight=False)}),
    ("residual-backward", "dW1 transposed (x^T da)",
     {"answer-backward": _backward().replace("'fc1.weight': da.T @ x", "'fc1.weight': x.T @ da")}),
    ("residual-backward", "shortcut: torch.autograd.grad instead of the backward by hand",
     {"answer-backward": (
         "def residual_backward(block, x, dy):\n"
         "    xr, params = x.clone().requires_grad_(), dict(block.named_parameters())\n"
         "    skip = xr if isinstance(block.shortcut, nn.Identity) else F.linear(xr, block.shortcut.weight)\n"
         "    y = skip + F.linear(F.relu(F.linear(xr, block.fc1.weight, block.fc1.bias)), block.fc2.weight, block.fc2.bias)\n"
         "    g = torch.autograd.grad(y, [xr, *params.values()], grad_outputs=dy)\n"
         "    return g[0], dict(zip(params, g[1:]))\n")}),
    ("residual-backward", "shortcut: y.backward(dy) on a copy of the block",
     {"answer-backward": (
         "def residual_backward(block, x, dy):\n"
         "    blk, xr = copy.deepcopy(block), x.clone().requires_grad_()\n"
         "    skip = xr if isinstance(blk.shortcut, nn.Identity) else F.linear(xr, blk.shortcut.weight)\n"
         "    y = skip + F.linear(F.relu(F.linear(xr, blk.fc1.weight, blk.fc1.bias)), blk.fc2.weight, blk.fc2.bias)\n"
         "    y.backward(dy)\n"
         "    return xr.grad, {n: q.grad for n, q in blk.named_parameters()}\n")}),
    # ---------------------------------------------------------------- Task 5
    ("clip-norm", "clips each tensor by its own norm instead of the global norm",
     {"answer-clip-norm": _CLIP_HEAD + _CLIP_TOTAL +
      "    for g in grads:\n"
      "        g.mul_(min(1.0, max_norm / (torch.linalg.vector_norm(g, norm_type).item() + 1e-6)))\n"
      "    return total\n"}),
    ("clip-norm", "returns the norm after clipping",
     {"answer-clip-norm": _CLIP_HEAD + _CLIP_TOTAL +
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]), norm_type).item()\n"}),
    ("clip-norm", "missing the + 1e-6",
     {"answer-clip-norm": _CLIP_HEAD + _CLIP_TOTAL +
      "    scale = min(1.0, max_norm / total)\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "scales up small gradients too (no min with 1)",
     {"answer-clip-norm": _CLIP_HEAD + _CLIP_TOTAL +
      "    scale = max_norm / (total + 1e-6)\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "returns a 0-d tensor instead of a float",
     {"answer-clip-norm": _CLIP_HEAD +
      "    total = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]), norm_type)\n"
      "    scale = min(1.0, max_norm / (total.item() + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "ignores norm_type",
     {"answer-clip-norm": _CLIP_HEAD +
      "    total = torch.sqrt(sum((g ** 2).sum() for g in grads)).item()\n"
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "the p-norm formula used for p = inf too",
     {"answer-clip-norm": _CLIP_HEAD +
      "    total = float(sum((g.abs() ** norm_type).sum() for g in grads) ** (1 / norm_type))\n"
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "a single tensor is iterated row by row",
     {"answer-clip-norm": _CLIP_HEAD.replace(
         "[parameters] if isinstance(parameters, torch.Tensor) else list(parameters)", "list(parameters)")
      + _CLIP_TOTAL +
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "a generator is consumed twice (nothing is clipped)",
     {"answer-clip-norm": (
         "def clip_grad_norm(parameters, max_norm, norm_type=2.0):\n"
         "    if isinstance(parameters, torch.Tensor):\n"
         "        parameters = [parameters]\n"
         "    grads = [q.grad.reshape(-1) for q in parameters if q.grad is not None]\n"
         "    if not grads:\n"
         "        return 0.0\n"
         "    total = torch.linalg.vector_norm(torch.cat(grads), norm_type).item()\n"
         "    for q in parameters:\n"
         "        if q.grad is not None:\n"
         "            q.grad.mul_(min(1.0, max_norm / (total + 1e-6)))\n"
         "    return total\n")}),
    ("clip-norm", "None gradients not skipped",
     {"answer-clip-norm": _CLIP_HEAD.replace("if q.grad is not None", "") + _CLIP_TOTAL +
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    for g in grads:\n"
      "        g.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "scales the parameters instead of their gradients",
     {"answer-clip-norm": _CLIP_HEAD + _CLIP_TOTAL +
      "    scale = min(1.0, max_norm / (total + 1e-6))\n"
      "    with torch.no_grad():\n"
      "        for q in params:\n"
      "            q.mul_(scale)\n"
      "    return total\n"}),
    ("clip-norm", "shortcut: calls torch.nn.utils.clip_grad_norm_",
     {"answer-clip-norm": (
         "def clip_grad_norm(parameters, max_norm, norm_type=2.0):\n"
         "    return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type))\n")}),
    ("clip-norm", "shortcut: clip_grad_norm_ imported under another name",
     {"answer-clip-norm": (
         "from torch.nn.utils import clip_grad_norm_ as _clip\n\n\n"
         "def clip_grad_norm(parameters, max_norm, norm_type=2.0):\n"
         "    return _clip(parameters, max_norm, norm_type).item()\n")}),
    ("clip-norm", "shortcut: get_total_norm + clip_grads_with_norm_",
     {"answer-clip-norm": (
         "def clip_grad_norm(parameters, max_norm, norm_type=2.0):\n"
         "    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)\n"
         "    grads = [q.grad for q in params if q.grad is not None]\n"
         "    if not grads:\n"
         "        return 0.0\n"
         "    total = torch.nn.utils.get_total_norm(grads, norm_type)\n"
         "    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)\n"
         "    return total.item()\n")}),
    # ---------------------------------------------------------------- Task 6
    ("clip-value", "clamps only from above",
     {"answer-clip-value": _clip_value(
         "    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)\n"
         "    for q in params:\n"
         "        if q.grad is not None:\n"
         "            q.grad.clamp_(max=clip_value)\n")}),
    ("clip-value", "clamps a copy (not in place)",
     {"answer-clip-value": _clip_value(
         "    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)\n"
         "    for q in params:\n"
         "        if q.grad is not None:\n"
         "            g = q.grad.clamp(-clip_value, clip_value)\n")}),
    ("clip-value", "None gradients not skipped",
     {"answer-clip-value": _clip_value(
         "    params = [parameters] if isinstance(parameters, torch.Tensor) else list(parameters)\n"
         "    for q in params:\n"
         "        q.grad.clamp_(-clip_value, clip_value)\n")}),
    ("clip-value", "a single tensor is iterated row by row",
     {"answer-clip-value": _clip_value(
         "    for q in list(parameters):\n"
         "        if q.grad is not None:\n"
         "            q.grad.clamp_(-clip_value, clip_value)\n")}),
    ("clip-value", "shortcut: calls torch.nn.utils.clip_grad_value_",
     {"answer-clip-value": _clip_value("    torch.nn.utils.clip_grad_value_(parameters, clip_value)\n")}),
    ("clip-value", "shortcut: clip_grad_value_ through an alias of torch.nn",
     {"answer-clip-value": _clip_value("    nn.utils.clip_grad_value_(parameters, clip_value)\n")}),
    # ---------------------------------------------------------------- Task 7
    ("deep-net", "the plain sigmoid net, unchanged", {"answer-deep": _plain("nn.Sigmoid()")}),
    ("deep-net", "ReLU with the default initialization", {"answer-deep": _plain("nn.ReLU()")}),
    ("deep-net", "ReLU with He initialization (half-way within the budget)",
     {"answer-deep": _plain("nn.ReLU()", _HE)}),
    ("deep-net", "sigmoid with He initialization", {"answer-deep": _plain("nn.Sigmoid()", _HE)}),
    ("deep-net", "the lecture's residual sigmoid net, unchanged (stops short within 36 steps)",
     {"answer-deep": (
         "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
         "    return residual_sigmoid_net(depth, width, n_in, n_out)\n")}),
    ("deep-net", "the lecture's residual net with ReLU instead of sigmoid and no normalization: Task 3's blocks",
     {"answer-deep": (
         "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
         "    n_blocks, extra = divmod(depth - 2, 2)\n"
         "    layers = [nn.Linear(n_in, width)]\n"
         "    if extra:\n"
         "        layers += [nn.ReLU(), nn.Linear(width, width)]\n"
         "    layers += [ResidualBlock(width, width, width) for _ in range(n_blocks)]\n"
         "    layers += [nn.ReLU(), nn.Linear(width, n_out)]\n"
         "    return nn.Sequential(*layers)\n")}),
    ("deep-net", "plain ReLU net with BatchNorm after every hidden linear layer (no skips)",
     {"answer-deep": (
         "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
         "    sizes = [n_in] + [width] * (depth - 1) + [n_out]\n"
         "    layers = []\n"
         "    for i in range(depth):\n"
         "        layers.append(nn.Linear(sizes[i], sizes[i + 1]))\n"
         "        if i < depth - 1:\n"
         "            layers += [nn.BatchNorm1d(sizes[i + 1]), nn.ReLU()]\n"
         "    return nn.Sequential(*layers)\n")}),
    ("deep-net", "residual blocks, but only half the linear layers",
     {"answer-deep": (
         "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
         "    layers = [nn.Linear(n_in, width)]\n"
         "    layers += [ResidualBlock(width, width, width) for _ in range((depth - 2) // 4)]\n"
         "    layers += [nn.ReLU(), nn.Linear(width, n_out)]\n"
         "    return nn.Sequential(*layers)\n")}),
    ("deep-net", "a small net with unused layers to make up the count",
     {"answer-deep": (
         "class _Padded(nn.Module):\n"
         "    def __init__(self, depth, width, n_in, n_out):\n"
         "        super().__init__()\n"
         "        self.net = nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out))\n"
         "        self.spare = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 2))\n"
         "    def forward(self, x):\n"
         "        return self.net(x)\n\n\n"
         "def fixed_deep_net(depth, width, n_in=64, n_out=10):\n"
         "    return _Padded(depth, width, n_in, n_out)\n")}),
]
