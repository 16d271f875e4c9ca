"""Known-wrong answers for seminar 12 (the Transformer): each must lose its task.

The entries marked "shortcut" are correct in value but call what the task asks to write by
hand; only the task's `forbid` rule (checked by the grader) catches them.
"""


def _attention(scores="q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
               attn="scores = scores.masked_fill(~attn_mask, float('-inf'))",
               pad_view="key_padding_mask.view(B, *([1] * (scores.dim() - 2)), S)",
               pad="scores = scores.masked_fill(pad, float('-inf'))",
               softmax="torch.softmax(scores, dim=-1)", ret="weights @ v, weights"):
    return ("def attention(q, k, v, attn_mask=None, key_padding_mask=None):\n"
            f"    scores = {scores}\n"
            "    if attn_mask is not None:\n"
            f"        {attn}\n"
            "    if key_padding_mask is not None:\n"
            "        B, S = key_padding_mask.shape\n"
            f"        pad = {pad_view}\n"
            f"        {pad}\n"
            f"    weights = {softmax}\n"
            f"    return {ret}\n")


def _mha(split="t.view(B, T, self.n_heads, hs).transpose(1, 2)",
         merge="y.transpose(1, 2).reshape(B, T, C)", out="self.out_proj(y), weights",
         call="attention(q, k, v, attn_mask, key_padding_mask)"):
    return ("class MultiHeadSelfAttention(nn.Module):\n"
            "    def __init__(self, d_model, n_heads):\n"
            "        super().__init__()\n"
            "        self.n_heads = n_heads\n"
            "        self.in_proj = nn.Linear(d_model, 3 * d_model)\n"
            "        self.out_proj = nn.Linear(d_model, d_model)\n"
            "    def forward(self, x, attn_mask=None, key_padding_mask=None):\n"
            "        B, T, C = x.shape\n"
            "        hs = C // self.n_heads\n"
            "        q, k, v = self.in_proj(x).split(C, dim=-1)\n"
            f"        q, k, v = ({split} for t in (q, k, v))\n"
            f"        y, weights = {call}\n"
            f"        y = {merge}\n"
            f"        return {out}\n")


_SHIFT = ("def shift_matrix(k, d_model):\n"
          "    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)\n"
          "    c, s = torch.cos(k * omega), torch.sin(k * omega)\n"
          "    M = torch.zeros(d_model, d_model, dtype=torch.float64)\n"
          "    M[0::2, 0::2], M[0::2, 1::2] = torch.diag(c), torch.diag({s01})\n"
          "    M[1::2, 0::2], M[1::2, 1::2] = torch.diag({s10}), torch.diag(c)\n"
          "    return M\n")


def _pe(omega="10000.0 ** (-torch.arange(0, d_model, 2, dtype=dtype) / d_model)",
        stack="torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)",
        dtype="torch.float64 if positions.dtype == torch.float64 else torch.float32",
        s01="s", s10="-s"):
    return ("def sinusoidal_encoding(positions, d_model):\n"
            f"    dtype = {dtype}\n"
            f"    omega = {omega}\n"
            "    angles = positions.to(dtype)[..., None] * omega\n"
            f"    return {stack}\n\n\n" + _SHIFT.format(s01=s01, s10=s10))


def _block(forward=("T = x.shape[1]\n"
                    "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                    "        x = x + self.attn(self.ln1(x), allowed, key_padding_mask)[0]\n"
                    "        return x + self.ff(self.ln2(x))"),
           act="nn.ReLU()"):
    return ("class CausalBlock(nn.Module):\n"
            "    def __init__(self, d_model, n_heads, d_ff):\n"
            "        super().__init__()\n"
            "        self.ln1 = nn.LayerNorm(d_model)\n"
            "        self.attn = MultiHeadSelfAttention(d_model, n_heads)\n"
            "        self.ln2 = nn.LayerNorm(d_model)\n"
            f"        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), {act}, nn.Linear(d_ff, d_model))\n"
            "    def forward(self, x, key_padding_mask=None):\n"
            f"        {forward}\n")


def _lm(init_extra="", forward_body=("h = self.tok(x) + self.pos(torch.arange(x.shape[1]))\n"
                                     "        for block in self.blocks:\n"
                                     "            h = block(h)\n"
                                     "        return self.head(self.ln_f(h))"),
        size="d_model=48, n_heads=4, n_layers=2", lr="1e-2"):
    return ("class CharTransformer(nn.Module):\n"
            f"    def __init__(self, vocab_size, context, {size}):\n"
            "        super().__init__()\n"
            "        self.tok = nn.Embedding(vocab_size, d_model)\n"
            "        self.pos = nn.Embedding(context, d_model)\n"
            "        self.blocks = nn.ModuleList(CausalBlock(d_model, n_heads, 4 * d_model) for _ in range(n_layers))\n"
            "        self.ln_f = nn.LayerNorm(d_model)\n"
            "        self.head = nn.Linear(d_model, vocab_size)\n"
            f"{init_extra}"
            "    def forward(self, x):\n"
            f"        {forward_body}\n\n\n"
            f"LM_LR = {lr}\n\n\n"
            "def build_char_model(vocab_size, context):\n"
            "    return CharTransformer(vocab_size, context)\n")


_NON_CAUSAL_BLOCK = ("class FullBlock(CausalBlock):\n"
                     "    def forward(self, x, key_padding_mask=None):\n"
                     "        x = x + self.attn(self.ln1(x))[0]\n"
                     "        return x + self.ff(self.ln2(x))\n\n\n")

WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---------------------------------------------------------------- Task 1
    ("questions", "the variance instead of the standard deviation",
     {"answer-question": "ANSWER_LOGIT_STD = 144.0\nANSWER_MHA_MASK = 'B'\n"}),
    ("questions", "the std after the scaling",
     {"answer-question": "ANSWER_LOGIT_STD = 1.0\nANSWER_MHA_MASK = 'B'\n"}),
    ("questions", "SDPA's mask passed to MHA unchanged",
     {"answer-question": "ANSWER_LOGIT_STD = 12.0\nANSWER_MHA_MASK = 'A'\n"}),
    ("questions", "the transposed mask",
     {"answer-question": "ANSWER_LOGIT_STD = 12.0\nANSWER_MHA_MASK = 'C'\n"}),
    ("questions", "an int, not a float", {"answer-question": "ANSWER_LOGIT_STD = 12\nANSWER_MHA_MASK = 'B'\n"}),
    # ---------------------------------------------------------------- Task 2
    ("attention", "no 1/sqrt(d_k)", {"answer-attention": _attention(scores="q @ k.transpose(-2, -1)")}),
    ("attention", "scaled by d_k instead of sqrt(d_k)",
     {"answer-attention": _attention(scores="q @ k.transpose(-2, -1) / q.shape[-1]")}),
    ("attention", "scaled by sqrt(d_v)",
     {"answer-attention": _attention(scores="q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])")}),
    ("attention", "attn_mask inverted (MHA's convention)",
     {"answer-attention": _attention(attn="scores = scores.masked_fill(attn_mask, float('-inf'))")}),
    ("attention", "key_padding_mask inverted",
     {"answer-attention": _attention(pad="scores = scores.masked_fill(~pad, float('-inf'))")}),
    ("attention", "softmax over the queries (dim -2)",
     {"answer-attention": _attention(softmax="torch.softmax(scores, dim=-2)")}),
    ("attention", "padding applied to the queries (rows) instead of the keys",
     {"answer-attention": _attention(pad_view="key_padding_mask.view(B, *([1] * (scores.dim() - 3)), -1, 1)")}),
    ("attention", "padding mask broadcast over the batch as [B, S] -> [..., B?, S] (works for 3-D only)",
     {"answer-attention": _attention(pad_view="key_padding_mask[:, None, :]")}),
    ("attention", "blocked scores set to 0 instead of -inf",
     {"answer-attention": _attention(attn="scores = scores.masked_fill(~attn_mask, 0.0)",
                                     pad="scores = scores.masked_fill(pad, 0.0)")}),
    ("attention", "weights zeroed after the softmax (rows no longer sum to 1)",
     {"answer-attention": _attention(attn="scores = scores.masked_fill(~attn_mask, -1e-9 * 0)",
                                     softmax="torch.softmax(scores, dim=-1) * (attn_mask if attn_mask is not None else 1)")}),
    ("attention", "returns the scores instead of the weights",
     {"answer-attention": _attention(ret="weights @ v, scores")}),
    ("attention", "shortcut: F.scaled_dot_product_attention for the output",
     {"answer-attention": _attention(ret="F.scaled_dot_product_attention(q, k, v, attn_mask=weights > 0), weights")}),
    ("attention", "modifies the mask in place (masks applied via logical_not_)",
     {"answer-attention": _attention(attn="scores = scores.masked_fill(attn_mask.logical_not_(), float('-inf'))")}),
    # ---------------------------------------------------------------- Task 3
    ("mha", "heads split by the wrong reshape view(B, nh, T, hs)",
     {"answer-mha": _mha(split="t.reshape(B, self.n_heads, T, hs)")}),
    ("mha", "heads interleaved: view(B, T, hs, nh)",
     {"answer-mha": _mha(split="t.view(B, T, hs, self.n_heads).permute(0, 3, 1, 2)")}),
    ("mha", "heads merged without the transpose back",
     {"answer-mha": _mha(merge="y.reshape(B, T, C)")}),
    ("mha", "no output projection", {"answer-mha": _mha(out="y, weights")}),
    ("mha", "head weights averaged (MHA's default)", {"answer-mha": _mha(out="self.out_proj(y), weights.mean(1)")}),
    ("mha", "one big head: scaled by sqrt(d_model), heads ignored",
     {"answer-mha": _mha(split="t[:, None]", merge="y[:, 0]",
                         out="self.out_proj(y), weights.expand(B, self.n_heads, T, T)")}),
    ("mha", "shortcut: F.multi_head_attention_forward inside (no weights returned either)",
     {"answer-mha": ("class MultiHeadSelfAttention(nn.Module):\n"
                     "    def __init__(self, d_model, n_heads):\n"
                     "        super().__init__()\n"
                     "        self.n_heads = n_heads\n"
                     "        self.in_proj = nn.Linear(d_model, 3 * d_model)\n"
                     "        self.out_proj = nn.Linear(d_model, d_model)\n"
                     "    def forward(self, x, attn_mask=None, key_padding_mask=None):\n"
                     "        return F.multi_head_attention_forward(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1),\n"
                     "            x.shape[-1], self.n_heads, self.in_proj.weight, self.in_proj.bias, None, None, False, 0.0,\n"
                     "            self.out_proj.weight, self.out_proj.bias, training=False, key_padding_mask=key_padding_mask,\n"
                     "            attn_mask=None if attn_mask is None else ~attn_mask, average_attn_weights=False)[0].transpose(0, 1), None\n")}),
    # ---------------------------------------------------------------- Task 4
    ("positional", "sin and cos swapped",
     {"answer-pe": _pe(stack="torch.stack([angles.cos(), angles.sin()], dim=-1).flatten(-2)")}),
    ("positional", "sines in the first half, cosines in the second (concatenated, not interleaved)",
     {"answer-pe": _pe(stack="torch.cat([angles.sin(), angles.cos()], dim=-1)")}),
    ("positional", "exponent i/d instead of 2i/d",
     {"answer-pe": _pe(omega="10000.0 ** (-torch.arange(0, d_model // 2, dtype=dtype) / d_model)")}),
    ("positional", "frequencies 10000^(+2i/d)",
     {"answer-pe": _pe(omega="10000.0 ** (torch.arange(0, d_model, 2, dtype=dtype) / d_model)")}),
    ("positional", "always float32", {"answer-pe": _pe(dtype="torch.float32")}),
    ("positional", "shift matrix transposed (rotation the wrong way)", {"answer-pe": _pe(s01="-s", s10="s")}),
    ("positional", "shift matrix without the minus sign", {"answer-pe": _pe(s10="s")}),
    # ---------------------------------------------------------------- Task 5
    ("block", "post-norm instead of pre-norm",
     {"answer-block": _block(forward=("T = x.shape[1]\n"
                                      "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                      "        x = self.ln1(x + self.attn(x, allowed, key_padding_mask)[0])\n"
                                      "        return self.ln2(x + self.ff(x))"))}),
    ("block", "not causal", {"answer-block": _block(forward=("x = x + self.attn(self.ln1(x), None, key_padding_mask)[0]\n"
                                                             "        return x + self.ff(self.ln2(x))"))}),
    ("block", "causal mask in MHA's convention (True = blocked) passed to attention",
     {"answer-block": _block(forward=("T = x.shape[1]\n"
                                      "        allowed = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)\n"
                                      "        x = x + self.attn(self.ln1(x), allowed, key_padding_mask)[0]\n"
                                      "        return x + self.ff(self.ln2(x))"))}),
    ("block", "no residual around the MLP",
     {"answer-block": _block(forward=("T = x.shape[1]\n"
                                      "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                      "        x = x + self.attn(self.ln1(x), allowed, key_padding_mask)[0]\n"
                                      "        return self.ff(self.ln2(x))"))}),
    ("block", "one LayerNorm used for both branches",
     {"answer-block": _block(forward=("T = x.shape[1]\n"
                                      "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                      "        x = x + self.attn(self.ln1(x), allowed, key_padding_mask)[0]\n"
                                      "        return x + self.ff(self.ln1(x))"))}),
    ("block", "padding mask ignored",
     {"answer-block": _block(forward=("T = x.shape[1]\n"
                                      "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                      "        x = x + self.attn(self.ln1(x), allowed)[0]\n"
                                      "        return x + self.ff(self.ln2(x))"))}),
    ("block", "GELU instead of ReLU", {"answer-block": _block(act="nn.GELU()")}),
    # ---------------------------------------------------------------- Task 6
    ("char-model", "not causal: blocks without the mask (sees the next character)",
     {"answer-lm": _NON_CAUSAL_BLOCK + _lm(init_extra=(
         "        self.blocks = nn.ModuleList(FullBlock(d_model, n_heads, 4 * d_model) for _ in range(n_layers))\n"))}),
    ("char-model", "a bigram model with an unused block",
     {"answer-lm": _lm(forward_body="return self.head(self.ln_f(self.tok(x)))")}),
    ("char-model", "too large a model", {"answer-lm": _lm(size="d_model=96, n_heads=4, n_layers=2")}),
    ("char-model", "learning rate far too small", {"answer-lm": _lm(lr="1e-4")}),
    ("char-model", "shortcut: an LSTM beside the block",
     {"answer-lm": _lm(init_extra="        self.rnn = nn.LSTM(d_model, d_model, batch_first=True)\n",
                       forward_body=("h = self.rnn(self.tok(x))[0]\n"
                                     "        for block in self.blocks:\n"
                                     "            h = block(h)\n"
                                     "        return self.head(self.ln_f(h))"))}),
]
