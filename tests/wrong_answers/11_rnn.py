"""Known-wrong answers for seminar 11 (recurrent networks): each must lose its task.

The entries marked "shortcut" are correct in value but call what the task asks to write by
hand; only the task's `forbid` rule (checked by the grader) catches them.
"""


def _cell(body):
    return "def rnn_cell_forward(x, h_prev, W_xh, W_hh, b):\n" + body


def _cell_h(expr):
    return _cell(f"    h = {expr}\n    return h, (x, h_prev, W_xh, W_hh, h)\n")


def _backward(da="dh * (1 - h ** 2)", ret="da @ W_xh, da @ W_hh, da.T @ x, da.T @ h_prev, da.sum(0)"):
    return ("def rnn_cell_backward(dh, cache):\n"
            "    x, h_prev, W_xh, W_hh, h = cache\n"
            f"    da = {da}\n"
            f"    return {ret}\n")


def _gru(r_z="i_r, i_z, i_n = gi.chunk(3, dim=1)\n    h_r, h_z, h_n = gh.chunk(3, dim=1)",
         n="torch.tanh(i_n + r * h_n)", out="(1 - z) * n + z * h"):
    return ("def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):\n"
            "    gi = x @ weight_ih.T + bias_ih\n"
            "    gh = h @ weight_hh.T + bias_hh\n"
            f"    {r_z}\n"
            "    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)\n"
            f"    n = {n}\n"
            f"    return {out}\n")


def _draft(layout="reshape(3, -1, H)", n="torch.tanh(i_n + r * h_n + b_hn)"):
    return ("def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):\n"
            "    H = h.shape[1]\n"
            f"    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).{layout}\n"
            f"    h_r, h_z, h_n = (h @ weight_hh.T).{layout}\n"
            "    b_hr, b_hz, b_hn = bias_hh.reshape(3, H)\n"
            "    r = torch.sigmoid(i_r + h_r + b_hr)\n"
            "    z = torch.sigmoid(i_z + h_z + b_hz)\n"
            f"    n = {n}\n"
            "    return (1 - z) * n + z * h\n")


def _sample(scaled="logits / temperature", zero=True, topk="scaled < kth", dim="-1"):
    return ("def sample_next(logits, temperature, generator=None, top_k=None):\n"
            + ("    if temperature == 0:\n        return logits.argmax(dim=-1)\n" if zero else "")
            + f"    scaled = {scaled}\n"
            "    if top_k is not None:\n"
            "        kth = scaled.topk(top_k, dim=-1).values[:, -1:]\n"
            f"        scaled = scaled.masked_fill({topk}, float('-inf'))\n"
            f"    probs = torch.softmax(scaled, dim={dim})\n"
            "    return torch.multinomial(probs, 1, generator=generator).squeeze(1)\n")


def _lm(init="self.gru = nn.GRU(emb, hidden, batch_first=True)\n"
             "        self.proj = nn.Linear(hidden, emb)\n"
             "        self.bias = nn.Parameter(torch.zeros(vocab_size))",
        forward="h, state = self.gru(self.embed(x), state)\n"
                "        return self.proj(h) @ self.embed.weight.T + self.bias, state",
        lr="1e-2", hidden="160"):
    return ("class CharGRU(nn.Module):\n"
            "    def __init__(self, vocab_size, emb=64, hidden=128):\n"
            "        super().__init__()\n"
            "        self.embed = nn.Embedding(vocab_size, emb)\n"
            f"        {init}\n"
            "    def forward(self, x, state=None):\n"
            f"        {forward}\n"
            f"LM_HIDDEN = {hidden}\n"
            f"LM_LR = {lr}\n")


def _lengths(update="h = torch.where((t < lengths)[:, None], stepped, h)", steps="range(T)"):
    return ("def gru_last_state(X, lengths, weight_ih, weight_hh, bias_ih, bias_hh):\n"
            "    B, T, _ = X.shape\n"
            "    h = X.new_zeros(B, weight_hh.shape[1])\n"
            f"    for t in {steps}:\n"
            "        stepped = gru_cell(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)\n"
            f"        {update}\n"
            "    return h\n")


WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---------------------------------------------------------------- Task 1
    ("rnn-cell", "forgot the tanh", {"answer-cell": _cell_h("x @ W_xh.T + h_prev @ W_hh.T + b")}),
    ("rnn-cell", "ReLU instead of tanh", {"answer-cell": _cell_h("torch.relu(x @ W_xh.T + h_prev @ W_hh.T + b)")}),
    ("rnn-cell", "W_hh not transposed (the slides' column form W_hh h applied to rows)",
     {"answer-cell": _cell_h("torch.tanh(x @ W_xh.T + h_prev @ W_hh + b)")}),
    ("rnn-cell", "no bias", {"answer-cell": _cell_h("torch.tanh(x @ W_xh.T + h_prev @ W_hh.T)")}),
    ("rnn-cell", "shortcut: torch.rnn_tanh_cell",
     {"answer-cell": _cell_h("torch.rnn_tanh_cell(x, h_prev, W_xh, W_hh, b, torch.zeros_like(b))")}),
    # ---------------------------------------------------------------- Task 2
    ("rnn-backward", "forgot the tanh derivative", {"answer-backward": _backward(da="dh")}),
    ("rnn-backward", "tanh derivative as 1 - h instead of 1 - h^2", {"answer-backward": _backward(da="dh * (1 - h)")}),
    ("rnn-backward", "dh_prev through W_hh transposed",
     {"answer-backward": _backward(ret="da @ W_xh, da @ W_hh.T, da.T @ x, da.T @ h_prev, da.sum(0)")}),
    ("rnn-backward", "dW_hh transposed (h_prev^T da)",
     {"answer-backward": _backward(ret="da @ W_xh, da @ W_hh, da.T @ x, h_prev.T @ da, da.sum(0)")}),
    ("rnn-backward", "db averaged over the batch",
     {"answer-backward": _backward(ret="da @ W_xh, da @ W_hh, da.T @ x, da.T @ h_prev, da.mean(0)")}),
    ("rnn-backward", "dh (not the pre-activation gradient) in the weight gradients",
     {"answer-backward": _backward(ret="da @ W_xh, da @ W_hh, dh.T @ x, dh.T @ h_prev, da.sum(0)")}),
    ("rnn-backward", "shortcut: torch.autograd.grad on a rebuilt step",
     {"answer-backward": (
         "def rnn_cell_backward(dh, cache):\n"
         "    x, h_prev, W_xh, W_hh, h = cache\n"
         "    leaves = [t.clone().requires_grad_() for t in (x, h_prev, W_xh, W_hh)]\n"
         "    b = torch.atanh(h) - x @ W_xh.T - h_prev @ W_hh.T\n"
         "    b = b[0].clone().requires_grad_()\n"
         "    out = torch.tanh(leaves[0] @ leaves[2].T + leaves[1] @ leaves[3].T + b)\n"
         "    return torch.autograd.grad(out, leaves + [b], grad_outputs=dh)\n")}),
    # ---------------------------------------------------------------- Task 3
    ("gru-params", "one bias per gate (4320)", {"answer-question": "ANSWER_GRU_PARAMS = 4320\n"}),
    ("gru-params", "four blocks as in an LSTM (5920)", {"answer-question": "ANSWER_GRU_PARAMS = 5920\n"}),
    ("gru-params", "second layer's input taken as 10 (3840)", {"answer-question": "ANSWER_GRU_PARAMS = 3840\n"}),
    ("gru-params", "one layer only (1920)", {"answer-question": "ANSWER_GRU_PARAMS = 1920\n"}),
    ("gru-params", "a float", {"answer-question": "ANSWER_GRU_PARAMS = 4440.0\n"}),
    # ---------------------------------------------------------------- Task 4
    ("gru-cell", "the slides' reset gate: applied to h before W_hn",
     {"answer-gru": _gru(n="torch.tanh(i_n + (r * h) @ weight_hh.chunk(3)[2].T + bias_hh.chunk(3)[2])")}),
    ("gru-cell", "z and 1 - z swapped", {"answer-gru": _gru(out="z * n + (1 - z) * h")}),
    ("gru-cell", "gate order z, r, n",
     {"answer-gru": _gru(r_z="i_z, i_r, i_n = gi.chunk(3, dim=1)\n    h_z, h_r, h_n = gh.chunk(3, dim=1)")}),
    ("gru-cell", "reset gate applied to W_hn h but not to its bias b_hn",
     {"answer-gru": _gru(n="torch.tanh(i_n + r * (h_n - bias_hh.chunk(3)[2]) + bias_hh.chunk(3)[2])")}),
    ("gru-cell", "reset gate applied to the input part too", {"answer-gru": _gru(n="torch.tanh(r * (i_n + h_n))")}),
    ("gru-cell", "the colleague's draft handed in unchanged", {"answer-gru": _draft()}),
    ("gru-cell", "only the layout fixed (b_hn still outside the reset gate)",
     {"answer-gru": _draft(layout="chunk(3, dim=1)")}),
    ("gru-cell", "only the reset gate fixed (reshape(3, -1, H) still mixes the examples of a batch)",
     {"answer-gru": _draft(n="torch.tanh(i_n + r * (h_n + b_hn))")}),
    ("gru-cell", "layout 'fixed' as reshape(-1, 3, H).unbind(1) but b_hn still outside",
     {"answer-gru": _draft(layout="reshape(-1, 3, H).unbind(1)")}),
    ("gru-cell", "layout fixed, the reset gate moved onto the input part instead",
     {"answer-gru": _draft(layout="chunk(3, dim=1)", n="torch.tanh(r * i_n + h_n + b_hn)")}),
    ("gru-cell", "shortcut: torch.gru_cell",
     {"answer-gru": "def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):\n"
                    "    return torch.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)\n"}),
    # ---------------------------------------------------------------- Task 5 (padded batch)
    ("gru-lengths", "ignores the lengths: the state after all T steps, padding included",
     {"answer-lengths": _lengths(update="h = stepped")}),
    ("gru-lengths", "one step too many: steps while t <= length",
     {"answer-lengths": _lengths(update="h = torch.where((t <= lengths)[:, None], stepped, h)")}),
    ("gru-lengths", "one step too few: stops at length - 1",
     {"answer-lengths": _lengths(update="h = torch.where((t < lengths - 1)[:, None], stepped, h)")}),
    ("gru-lengths", "zeroes a finished sequence's state instead of keeping it",
     {"answer-lengths": _lengths(update="h = stepped * (t < lengths)[:, None]")}),
    ("gru-lengths", "the first sequence's length for the whole batch",
     {"answer-lengths": _lengths(update="h = stepped if t < lengths[0] else h")}),
    ("gru-lengths", "shortcut: pack_padded_sequence and nn.GRU",
     {"answer-lengths": (
         "def gru_last_state(X, lengths, weight_ih, weight_hh, bias_ih, bias_hh):\n"
         "    gru = torch.nn.GRU(X.shape[2], weight_hh.shape[1], batch_first=True).double()\n"
         "    with torch.no_grad():\n"
         "        for name, p in zip(['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'],\n"
         "                           [weight_ih, weight_hh, bias_ih, bias_hh]):\n"
         "            getattr(gru, name).copy_(p)\n"
         "        packed = torch.nn.utils.rnn.pack_padded_sequence(X, lengths, batch_first=True,\n"
         "                                                         enforce_sorted=False)\n"
         "        return gru(packed)[1][0]\n")}),
    # ---------------------------------------------------------------- Task 6
    ("forget-bias", "sigma(b) >= 1/2 (forgot the 50 steps): b = 0", {"answer-forget": "ANSWER_FORGET_BIAS = 0.0\n"}),
    ("forget-bias", "the lecture's +3 (keeps only sigma(3)^50 = 0.09)", {"answer-forget": "ANSWER_FORGET_BIAS = 3.0\n"}),
    ("forget-bias", "linearised: 1 - sigma(b) = 0.5 / 50, b = logit(0.99)",
     {"answer-forget": "ANSWER_FORGET_BIAS = math.log(0.99 / 0.01)\n"}),
    ("forget-bias", "b = ln 50", {"answer-forget": "ANSWER_FORGET_BIAS = math.log(50)\n"}),
    ("forget-bias", "an int", {"answer-forget": "ANSWER_FORGET_BIAS = 4\n"}),
    # ---------------------------------------------------------------- Task 7
    ("sample", "temperature multiplies the logits", {"answer-sample": _sample(scaled="logits * temperature")}),
    ("sample", "temperature ignored", {"answer-sample": _sample(scaled="logits")}),
    ("sample", "temperature 0 not special-cased (division by zero)", {"answer-sample": _sample(zero=False)}),
    ("sample", "top_k keeps the smallest logits", {"answer-sample": _sample(topk="scaled > kth")}),
    ("sample", "top_k ignored", {"answer-sample": _sample(topk="torch.zeros_like(scaled, dtype=torch.bool)")}),
    ("sample", "softmax over the batch dimension", {"answer-sample": _sample(dim="0")}),
    ("sample", "always the most likely id (greedy)",
     {"answer-sample": "def sample_next(logits, temperature, generator=None, top_k=None):\n"
                       "    return logits.argmax(dim=-1)\n"}),
    # ---------------------------------------------------------------- Task 8 (tied char model)
    ("char-gru", "ignores the state argument (every call from a zero state)",
     {"answer-lm": _lm(forward="h, state = self.gru(self.embed(x))\n"
                               "        return self.proj(h) @ self.embed.weight.T + self.bias, state")}),
    ("char-gru", "untied: its own read-out matrix, as the lecture's model",
     {"answer-lm": _lm(init="self.gru = nn.GRU(emb, hidden, batch_first=True)\n"
                            "        self.head = nn.Linear(hidden, vocab_size)",
                       forward="h, state = self.gru(self.embed(x), state)\n        return self.head(h), state")}),
    ("char-gru", "tied to a copy of the table taken at init (two tables)",
     {"answer-lm": _lm(init="self.gru = nn.GRU(emb, hidden, batch_first=True)\n"
                            "        self.proj = nn.Linear(hidden, emb)\n"
                            "        self.out = nn.Parameter(self.embed.weight.detach().clone())",
                       forward="h, state = self.gru(self.embed(x), state)\n"
                               "        return self.proj(h) @ self.out.T, state")}),
    ("char-gru", "no projection: the GRU state times the table (hidden != emb: shapes do not match)",
     {"answer-lm": _lm(init="self.gru = nn.GRU(emb, hidden, batch_first=True)",
                       forward="h, state = self.gru(self.embed(x), state)\n"
                               "        return h @ self.embed.weight.T, state")}),
    ("char-gru", "hidden size 256: over the parameter budget", {"answer-lm": _lm(hidden="256")}),
    ("char-gru", "learning rate far too small: misses the validation bar", {"answer-lm": _lm(lr="1e-5")}),
    ("char-gru", "shortcut: the lecture's CharLSTM",
     {"answer-lm": "class CharGRU(charlm.CharLSTM):\n"
                   "    def __init__(self, vocab_size, emb=64, hidden=128):\n"
                   "        super().__init__(vocab_size, emb, hidden)\n"
                   "        self.gru = nn.GRU(1, 1)\n"
                   "LM_HIDDEN = 128\n"
                   "LM_LR = 1e-2\n"}),
]
