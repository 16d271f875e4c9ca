"""Known-wrong answers for seminar 10 (convolutional networks): each must lose its task.

The entries marked "shortcut" are correct in value but call what the task asks to write by
hand; only the task's `forbid` rule (checked by the grader) catches them.
"""


def _question(size="9", params="2416"):
    return f"ANSWER_SIZE = {size}\nANSWER_PARAMS = {params}\n"


def _conv(body):
    return "def conv2d(X, Wt, b=None, stride=1, padding=0):\n" + body


_CONV_TAIL = ("    windows = Xp.unfold(2, kh, stride).unfold(3, kw, stride)\n"
              "    Y = torch.einsum('nchwuv,fcuv->nfhw', windows, Wt)\n"
              "    return Y if b is None else Y + b.view(1, -1, 1, 1)\n")
_CONV_HEAD = "    kh, kw = Wt.shape[2:]\n"
_PAD = "    Xp = F.pad(X, (padding, padding, padding, padding))\n"


def _pool_fwd(body):
    return "def maxpool_forward(X, kernel_size, stride=None):\n" + body


_FWD = ("    k = kernel_size\n"
        "    s = k if stride is None else stride\n"
        "    windows = X.unfold(2, k, s).unfold(3, k, s)\n"
        "    flat = windows.reshape(*windows.shape[:4], k * k)\n")
_FWD_END = ("    out = flat.gather(-1, idx.unsqueeze(-1)).squeeze(-1)\n"
            "    return out, (idx, X.shape, k, s)\n")
_FWD_KEEP_X = ("def maxpool_forward(X, kernel_size, stride=None):\n"
               "    k = kernel_size\n"
               "    s = k if stride is None else stride\n"
               "    out = X.unfold(2, k, s).unfold(3, k, s).amax((-2, -1))\n"
               "    return out, (X.clone(), k, s)\n")


def _pool_bwd(body):
    return "def maxpool_backward(dout, cache):\n" + body


_BWD_HEAD = ("    idx, (N, C, H, W), k, s = cache\n"
             "    H_out, W_out = idx.shape[2:]\n"
             "    rows = torch.arange(H_out).view(-1, 1) * s + idx // k\n"
             "    cols = torch.arange(W_out) * s + idx % k\n")
# a backward that recomputes the windows from X and fills a mask (with _FWD_KEEP_X)
_BWD_MASK = ("    X, k, s = cache\n"
             "    N, C, H, W = X.shape\n"
             "    H_out, W_out = dout.shape[2:]\n"
             "    dX = torch.zeros(N, C, H, W, dtype=dout.dtype)\n"
             "    win = X.unfold(2, k, s).unfold(3, k, s)\n")


def _module(init_extra="", forward=None, predict=None, flat="(s // 2 // 2 for s in image_size)"):
    forward = forward or ("        h = F.max_pool2d(F.relu(self.conv1(X)), 2)\n"
                          "        h = F.max_pool2d(F.relu(self.conv2(h)), 2)\n"
                          "        return self.fc(self.dropout(h.flatten(1)))\n")
    predict = predict or ("        was_training = self.training\n"
                          "        self.eval()\n"
                          "        with torch.no_grad():\n"
                          "            y_hat = self(X).argmax(1)\n"
                          "        self.train(was_training)\n"
                          "        return y_hat\n")
    return ("class DigitCNN(nn.Module):\n"
            "    def __init__(self, in_channels=1, n_classes=10, image_size=(8, 8), width=16):\n"
            "        super().__init__()\n"
            "        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)\n"
            "        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)\n"
            "        self.dropout = nn.Dropout(0.5)\n"
            f"        h, w = {flat}\n"
            "        self.fc = nn.Linear(2 * width * h * w, n_classes)\n"
            f"{init_extra}"
            "    def forward(self, X):\n"
            f"{forward}"
            "    def predict(self, X):\n"
            f"{predict}")


_SMALL_NET = ("nn.Sequential(nn.Conv2d(1, 10, 3, padding=1), nn.ReLU(), nn.Conv2d(10, 10, 3, padding=1), nn.ReLU(), "
              "nn.MaxPool2d(2), nn.Conv2d(10, 20, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), "
              "nn.Flatten(), nn.Dropout(0.25), nn.Linear(20 * 2 * 2, 10))")


def _train(net, train):
    return f"def make_digit_net():\n    return {net}\n\n\nTRAIN = {train}\n"


WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---------------------------------------------------------------- Task 1
    ("shapes-question", "forgot the + 1 of the output size", {"answer-question": _question(size="8")}),
    ("shapes-question", "ignored the dilation (kernel 4 covers 4 pixels)", {"answer-question": _question(size="10")}),
    ("shapes-question", "padding on one side only", {"answer-question": _question(size="(28 + 2 - 7) // 3 + 1")}),
    ("shapes-question", "stride ignored", {"answer-question": _question(size="26")}),
    ("shapes-question", "parameters without the biases", {"answer-question": _question(params="2400")}),
    ("shapes-question", "parameters of one input channel only", {"answer-question": _question(params="416")}),
    ("shapes-question", "a float instead of an int", {"answer-question": _question(size="9.0")}),
    # ---------------------------------------------------------------- Task 2
    ("conv2d", "flipped kernel (true convolution)",
     {"answer-conv": _conv(_CONV_HEAD + _PAD + _CONV_TAIL.replace("windows, Wt)", "windows, Wt.flip(2, 3))"))}),
    ("conv2d", "padding on one side only (top and left)",
     {"answer-conv": _conv(_CONV_HEAD + "    Xp = F.pad(X, (padding, 0, padding, 0))\n" + _CONV_TAIL)}),
    ("conv2d", "padding of the width only (F.pad's first pair is the last axis)",
     {"answer-conv": _conv(_CONV_HEAD + "    Xp = F.pad(X, (padding, padding))\n" + _CONV_TAIL)}),
    ("conv2d", "stride ignored", {"answer-conv": _conv(_CONV_HEAD + _PAD + _CONV_TAIL.replace(
        "unfold(2, kh, stride).unfold(3, kw, stride)", "unfold(2, kh, 1).unfold(3, kw, 1)"))}),
    ("conv2d", "off-by-one output size (no + 1), windows by index arithmetic",
     {"answer-conv": _conv(_CONV_HEAD + _PAD +
        "    H_out = (Xp.shape[2] - kh) // stride\n"
        "    W_out = (Xp.shape[3] - kw) // stride\n"
        "    r = (torch.arange(H_out) * stride).view(-1, 1, 1, 1) + torch.arange(kh).view(1, 1, -1, 1)\n"
        "    c = (torch.arange(W_out) * stride).view(1, -1, 1, 1) + torch.arange(kw).view(1, 1, 1, -1)\n"
        "    windows = Xp[:, :, r, c]\n"
        "    Y = torch.einsum('nchwuv,fcuv->nfhw', windows, Wt)\n"
        "    return Y if b is None else Y + b.view(1, -1, 1, 1)\n")}),
    ("conv2d", "only the first input channel",
     {"answer-conv": _conv(_CONV_HEAD + _PAD + _CONV_TAIL.replace("windows, Wt)", "windows[:, :1], Wt[:, :1])"))}),
    ("conv2d", "bias forgotten", {"answer-conv": _conv(_CONV_HEAD + _PAD + _CONV_TAIL.replace(
        "return Y if b is None else Y + b.view(1, -1, 1, 1)", "return Y"))}),
    ("conv2d", "the lecture's loop over output positions, with stride and padding (too slow)",
     {"answer-conv": _conv(
         "    N, C, H, W = X.shape\n"
         "    F_, _, kh, kw = Wt.shape\n"
         + _PAD +
         "    H_out = (H + 2 * padding - kh) // stride + 1\n"
         "    W_out = (W + 2 * padding - kw) // stride + 1\n"
         "    Y = torch.zeros(N, F_, H_out, W_out, dtype=X.dtype)\n"
         "    for i in range(H_out):\n"
         "        for j in range(W_out):\n"
         "            patch = Xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]\n"
         "            Y[:, :, i, j] = torch.tensordot(patch, Wt, dims=([1, 2, 3], [1, 2, 3]))\n"
         "    return Y if b is None else Y + b.view(1, F_, 1, 1)\n")}),
    ("conv2d", "shortcut: F.conv2d", {"answer-conv": _conv(
        "    return F.conv2d(X, Wt, b, stride=stride, padding=padding)\n")}),
    ("conv2d", "shortcut: torch.conv2d", {"answer-conv": _conv(
        "    return torch.conv2d(X, Wt, b, stride, padding)\n")}),
    ("conv2d", "shortcut: F.unfold with stride and padding", {"answer-conv": _conv(
        "    N, C, H, W = X.shape\n"
        "    F_, _, kh, kw = Wt.shape\n"
        "    cols = F.unfold(X, (kh, kw), padding=padding, stride=stride)\n"
        "    Y = (Wt.reshape(F_, -1) @ cols).view(N, F_, (H + 2 * padding - kh) // stride + 1, -1)\n"
        "    return Y if b is None else Y + b.view(1, -1, 1, 1)\n")}),
    ("conv2d", "shortcut: an nn.Conv2d with copied weights", {"answer-conv": _conv(
        "    layer = nn.Conv2d(Wt.shape[1], Wt.shape[0], tuple(Wt.shape[2:]), stride=stride, padding=padding,\n"
        "                      bias=b is not None).to(X.dtype)\n"
        "    with torch.no_grad():\n"
        "        layer.weight.copy_(Wt)\n"
        "        if b is not None:\n"
        "            layer.bias.copy_(b)\n"
        "        return layer(X)\n")}),
    # ---------------------------------------------------------------- Task 3
    ("maxpool-forward", "stride ignored (always the kernel size)", {"answer-pool-forward": _pool_fwd(
        _FWD.replace("s = k if stride is None else stride", "s = k") + "    idx = flat.argmax(-1)\n" + _FWD_END)}),
    ("maxpool-forward", "default stride 1 instead of the kernel size", {"answer-pool-forward": _pool_fwd(
        _FWD.replace("s = k if stride is None else stride", "s = stride or 1") + "    idx = flat.argmax(-1)\n" + _FWD_END)}),
    ("maxpool-forward", "average instead of max", {"answer-pool-forward": _pool_fwd(
        _FWD + "    idx = flat.argmax(-1)\n    return flat.mean(-1), (idx, X.shape, k, s)\n")}),
    ("maxpool-forward", "ceil instead of floor (a partial window at the border)", {"answer-pool-forward": _pool_fwd(
        "    k = kernel_size\n"
        "    s = k if stride is None else stride\n"
        "    H, W = X.shape[2:]\n"
        "    ph, pw = (-(H - k) % s), (-(W - k) % s)\n"
        "    Xp = F.pad(X, (0, pw, 0, ph), value=float('-inf'))\n"
        "    windows = Xp.unfold(2, k, s).unfold(3, k, s)\n"
        "    flat = windows.reshape(*windows.shape[:4], k * k)\n"
        "    idx = flat.argmax(-1)\n" + _FWD_END)}),
    ("maxpool-forward", "shortcut: F.max_pool2d", {"answer-pool-forward": _pool_fwd(
        "    out, idx = F.max_pool2d(X, kernel_size, stride, return_indices=True)\n"
        "    return out, (idx, X.shape)\n")}),
    ("maxpool-forward", "shortcut: nn.MaxPool2d", {"answer-pool-forward": _pool_fwd(
        "    return nn.MaxPool2d(kernel_size, stride)(X), None\n")}),
    # ---------------------------------------------------------------- Task 4
    ("maxpool-backward", "gradient to every pixel of the window", {"answer-pool-backward": _pool_bwd(
        _BWD_HEAD.replace("    rows = torch.arange(H_out).view(-1, 1) * s + idx // k\n"
                          "    cols = torch.arange(W_out) * s + idx % k\n", "") +
        "    cols = dout.reshape(N, C, 1, H_out * W_out).expand(N, C, k * k, H_out * W_out).reshape(N, C * k * k, -1)\n"
        "    return F.fold(cols, (H, W), k, stride=s)\n")}),
    ("maxpool-backward", "ties: every maximum of a window gets the gradient",
     {"answer-pool-forward": _FWD_KEEP_X, "answer-pool-backward": _pool_bwd(
         _BWD_MASK +
         "    mask = win == win.amax((-2, -1), keepdim=True)\n"
         "    for i in range(H_out):\n"
         "        for j in range(W_out):\n"
         "            dX[:, :, i * s:i * s + k, j * s:j * s + k] += mask[:, :, i, j] * dout[:, :, i, j, None, None]\n"
         "    return dX\n")}),
    ("maxpool-backward", "ties: the gradient split evenly among the maxima (amax's rule)",
     {"answer-pool-forward": _FWD_KEEP_X, "answer-pool-backward": _pool_bwd(
         _BWD_MASK +
         "    mask = (win == win.amax((-2, -1), keepdim=True)).to(dout.dtype)\n"
         "    mask = mask / mask.sum((-2, -1), keepdim=True)\n"
         "    for i in range(H_out):\n"
         "        for j in range(W_out):\n"
         "            dX[:, :, i * s:i * s + k, j * s:j * s + k] += mask[:, :, i, j] * dout[:, :, i, j, None, None]\n"
         "    return dX\n")}),
    ("maxpool-backward", "ties: the last maximum instead of the first",
     {"answer-pool-forward": _pool_fwd(_FWD + "    idx = k * k - 1 - flat.flip(-1).argmax(-1)\n" + _FWD_END),
      "answer-pool-backward": _pool_bwd(
         _BWD_HEAD +
         "    dX = torch.zeros(N, C, H * W, dtype=dout.dtype)\n"
         "    dX.scatter_add_(2, (rows * W + cols).reshape(N, C, -1), dout.reshape(N, C, -1))\n"
         "    return dX.view(N, C, H, W)\n")}),
    ("maxpool-backward", "overlapping windows overwrite instead of adding (scatter_)", {"answer-pool-backward": _pool_bwd(
        _BWD_HEAD +
        "    dX = torch.zeros(N, C, H * W, dtype=dout.dtype)\n"
        "    dX.scatter_(2, (rows * W + cols).reshape(N, C, -1), dout.reshape(N, C, -1))\n"
        "    return dX.view(N, C, H, W)\n")}),
    ("maxpool-backward", "dX created as float32 whatever dout's dtype", {"answer-pool-backward": _pool_bwd(
        _BWD_HEAD +
        "    dX = torch.zeros(N, C, H * W)\n"
        "    dX.scatter_add_(2, (rows * W + cols).reshape(N, C, -1), dout.reshape(N, C, -1).float())\n"
        "    return dX.view(N, C, H, W)\n")}),
    ("maxpool-backward", "row and column of the maximum swapped", {"answer-pool-backward": _pool_bwd(
        "    idx, (N, C, H, W), k, s = cache\n"
        "    H_out, W_out = idx.shape[2:]\n"
        "    rows = torch.arange(H_out).view(-1, 1) * s + idx % k\n"
        "    cols = torch.arange(W_out) * s + idx // k\n"
        "    dX = torch.zeros(N, C, H * W, dtype=dout.dtype)\n"
        "    dX.scatter_add_(2, (rows * W + cols).reshape(N, C, -1), dout.reshape(N, C, -1))\n"
        "    return dX.view(N, C, H, W)\n")}),
    ("maxpool-backward", "shortcut: autograd through the forward",
     {"answer-pool-forward": _FWD_KEEP_X, "answer-pool-backward": _pool_bwd(
         "    X, k, s = cache\n"
         "    Xr = X.clone().requires_grad_()\n"
         "    out = Xr.unfold(2, k, s).unfold(3, k, s).flatten(-2).max(-1).values\n"
         "    return torch.autograd.grad(out, Xr, dout)[0]\n")}),
    ("maxpool-backward", "shortcut: F.max_unpool2d with the indices", {"answer-pool-backward": _pool_bwd(
        _BWD_HEAD +
        "    return F.max_unpool2d(dout, rows * W + cols, k, s, output_size=(H, W))\n")}),
    # ---------------------------------------------------------------- Task 5
    ("cnn-module", "flattened size hard-coded for 8x8 images", {"answer-module": _module(flat="(2, 2)")}),
    ("cnn-module", "flattened size rounded up ((s + 3) // 4)", {"answer-module": _module(flat="((s + 3) // 4 for s in image_size)")}),
    ("cnn-module", "no ReLU after the second convolution", {"answer-module": _module(forward=(
        "        h = F.max_pool2d(F.relu(self.conv1(X)), 2)\n"
        "        h = F.max_pool2d(self.conv2(h), 2)\n"
        "        return self.fc(self.dropout(h.flatten(1)))\n"))}),
    ("cnn-module", "pooling before the ReLU and average instead of max", {"answer-module": _module(forward=(
        "        h = F.relu(F.avg_pool2d(self.conv1(X), 2))\n"
        "        h = F.relu(F.avg_pool2d(self.conv2(h), 2))\n"
        "        return self.fc(self.dropout(h.flatten(1)))\n"))}),
    ("cnn-module", "predict forgets eval mode (dropout active)", {"answer-module": _module(predict=(
        "        with torch.no_grad():\n"
        "            return self(X).argmax(1)\n"))}),
    ("cnn-module", "predict leaves the module in eval mode", {"answer-module": _module(predict=(
        "        self.eval()\n"
        "        with torch.no_grad():\n"
        "            return self(X).argmax(1)\n"))}),
    ("cnn-module", "predict builds a graph (no torch.no_grad), returns logits' argmax as float", {"answer-module": _module(predict=(
        "        was_training = self.training\n"
        "        self.eval()\n"
        "        y_hat = self(X).max(1).values\n"
        "        self.train(was_training)\n"
        "        return y_hat\n"))}),
    ("cnn-module", "shortcut: predict is the lecture's utils.conv.predict (imported in the setup cell)",
     {"answer-module": _module(predict="        return predict(self, X)\n")}),
    ("cnn-module", "shortcut: the lecture's helper imported again under another name",
     {"answer-module": _module(predict=("        from utils.conv import predict as lecture_predict\n"
                                        "        return lecture_predict(self, X)\n"))}),
    ("cnn-module", "an extra unused layer (parameter count)", {"answer-module": _module(
        init_extra="        self.spare = nn.Linear(4, 4)\n")}),
    # ---------------------------------------------------------------- Task 6
    ("digit-net", "an MLP (no convolution)", {"answer-train": _train(
        "nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))", "dict(epochs=15, lr=1e-2)")}),
    ("digit-net", "one epoch is not enough", {"answer-train": _train(_SMALL_NET, "dict(epochs=1, lr=1e-2)")}),
    ("digit-net", "over the epoch budget", {"answer-train": _train(_SMALL_NET, "dict(epochs=30, lr=1e-2)")}),
    ("digit-net", "the lecture's network as it is: over the parameter budget",
     {"answer-train": _train(_SMALL_NET.replace("(1, 10,", "(1, 16,").replace("(10, 10,", "(16, 16,").replace("(10, 20,", "(16, 32,")
                           .replace("20 * 2 * 2", "32 * 2 * 2"), "dict(epochs=15, lr=3e-3)")}),
    ("digit-net", "the lecture's setting scaled down to fit: its learning rate 3e-3 is too slow for 15 epochs",
     {"answer-train": _train(_SMALL_NET, "dict(epochs=15, lr=3e-3)")}),
    ("digit-net", "Task 5's DigitCNN at the lecture's learning rate", {"answer-train": _train(
        "DigitCNN(1, 10, (8, 8), 12)", "dict(epochs=15, lr=3e-3)")}),
    ("digit-net", "a learning rate far too small", {"answer-train": _train(_SMALL_NET, "dict(epochs=15, lr=1e-5)")}),
]
