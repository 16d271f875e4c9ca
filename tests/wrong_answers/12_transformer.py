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


def _mha(q="F.linear(x, W[:C], b[:C])", kv="F.linear(memory, W[C:], b[C:]).split(C, dim=-1)",
         split="t.view(B, t.shape[1], self.n_heads, hs).transpose(1, 2)",
         merge="y.transpose(1, 2).reshape(B, T, C)", out="self.out_proj(y), weights",
         call="attention(heads(q), heads(k), heads(v), attn_mask, key_padding_mask)",
         memory="memory = x if memory is None else memory"):
    return ("class MultiHeadAttention(nn.Module):\n"
            "    def __init__(self, d_model, n_heads):\n"
            "        super().__init__()\n"
            "        self.n_heads = n_heads\n"
            "        self.in_proj = nn.Linear(d_model, 3 * d_model)\n"
            "        self.out_proj = nn.Linear(d_model, d_model)\n"
            "    def forward(self, x, memory=None, attn_mask=None, key_padding_mask=None):\n"
            f"        {memory}\n"
            "        B, T, C = x.shape\n"
            "        hs = C // self.n_heads\n"
            "        W, b = self.in_proj.weight, self.in_proj.bias\n"
            f"        q = {q}\n"
            f"        k, v = {kv}\n"
            "        def heads(t):\n"
            f"            return {split}\n"
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


_DECODER_FORWARD = ("T = x.shape[1]\n"
                    "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                    "        x = x + self.self_attn(self.ln1(x), None, allowed, x_padding)[0]\n"
                    "        x = x + self.cross_attn(self.ln2(x), memory, None, memory_padding)[0]\n"
                    "        return x + self.ff(self.ln3(x))")


def _decoder(forward=_DECODER_FORWARD, act="nn.ReLU()"):
    return ("class DecoderLayer(nn.Module):\n"
            "    def __init__(self, d_model, n_heads, d_ff):\n"
            "        super().__init__()\n"
            "        self.self_attn = MultiHeadAttention(d_model, n_heads)\n"
            "        self.cross_attn = MultiHeadAttention(d_model, n_heads)\n"
            "        self.ln1, self.ln2, self.ln3 = (nn.LayerNorm(d_model) for _ in range(3))\n"
            f"        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), {act}, nn.Linear(d_ff, d_model))\n"
            "    def forward(self, x, memory, x_padding=None, memory_padding=None):\n"
            f"        {forward}\n")


def _dec(old, new):
    assert old in _DECODER_FORWARD, old
    return _decoder(forward=_DECODER_FORWARD.replace(old, new))


_BLOCK = ("class Block(nn.Module):\n"
          "    def __init__(self, d_model, n_heads, d_ff):\n"
          "        super().__init__()\n"
          "        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)\n"
          "        self.attn = MultiHeadAttention(d_model, n_heads)\n"
          "        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))\n"
          "    def forward(self, x):\n"
          "        T = x.shape[1]\n"
          "        allowed = {mask}\n"
          "        x = x + self.attn(self.ln1(x), None, allowed)[0]\n"
          "        return x + self.ff(self.ln2(x))\n\n\n")


def _lm(init_extra="", forward_body=("h = self.tok(x) + self.pos(torch.arange(x.shape[1], device=x.device))\n"
                                     "        for block in self.blocks:\n"
                                     "            h = block(h)\n"
                                     "        return self.head(self.ln_f(h))"),
        size="d_model=80, n_heads=8, n_layers=1", lr="2e-2",
        mask="torch.ones(T, T, dtype=torch.bool, device=x.device).tril()"):
    return (_BLOCK.format(mask=mask) +
            "class CharTransformer(nn.Module):\n"
            f"    def __init__(self, vocab_size, context, {size}):\n"
            "        super().__init__()\n"
            "        self.tok = nn.Embedding(vocab_size, d_model)\n"
            "        self.pos = nn.Embedding(context, d_model)\n"
            "        self.blocks = nn.ModuleList(Block(d_model, n_heads, 4 * d_model) for _ in range(n_layers))\n"
            "        self.ln_f = nn.LayerNorm(d_model)\n"
            "        self.head = nn.Linear(d_model, vocab_size)\n"
            f"{init_extra}"
            "    def forward(self, x):\n"
            f"        {forward_body}\n\n\n"
            f"LM_LR = {lr}\n\n\n"
            "def build_char_model(vocab_size, context):\n"
            "    return CharTransformer(vocab_size, context)\n")


WRONG = [  # (task id, description, {answer cell id: replacement source})
    # ---------------------------------------------------------------- Task 1
    ("questions", "cross-attention weights as self-attention's [B, h, T, T]", {"answer-question": "ANSWER_CROSS_SHAPE = 'A'\nANSWER_LN_MEANS = 256\n"}),
    ("questions", "queries and keys swapped: [B, h, S, T]", {"answer-question": "ANSWER_CROSS_SHAPE = 'C'\nANSWER_LN_MEANS = 256\n"}),
    ("questions", "LayerNorm read as batch norm: one mean per feature", {"answer-question": "ANSWER_CROSS_SHAPE = 'B'\nANSWER_LN_MEANS = 64\n"}),
    ("questions", "LayerNorm: one mean per window", {"answer-question": "ANSWER_CROSS_SHAPE = 'B'\nANSWER_LN_MEANS = 8\n"}),
    ("questions", "LayerNorm: one mean per number", {"answer-question": "ANSWER_CROSS_SHAPE = 'B'\nANSWER_LN_MEANS = 16384\n"}),
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
    ("mha", "heads split by the wrong reshape view(B, nh, L, hs)",
     {"answer-mha": _mha(split="t.reshape(B, self.n_heads, t.shape[1], hs)")}),
    ("mha", "heads interleaved: view(B, L, hs, nh)",
     {"answer-mha": _mha(split="t.view(B, t.shape[1], hs, self.n_heads).permute(0, 3, 1, 2)")}),
    ("mha", "heads merged without the transpose back",
     {"answer-mha": _mha(merge="y.reshape(B, T, C)")}),
    ("mha", "no output projection", {"answer-mha": _mha(out="y, weights")}),
    ("mha", "head weights averaged (MHA's default)", {"answer-mha": _mha(out="self.out_proj(y), weights.mean(1)")}),
    ("mha", "memory ignored: always self-attention", {"answer-mha": _mha(memory="memory = x")}),
    ("mha", "cross-attention the wrong way round: queries from the memory, keys and values from x",
     {"answer-mha": _mha(q="F.linear(memory, W[:C], b[:C])", kv="F.linear(x, W[C:], b[C:]).split(C, dim=-1)")}),
    ("mha", "q, k, v all projected from the memory",
     {"answer-mha": _mha(q="F.linear(memory, W[:C], b[:C])")}),
    ("mha", "in_proj applied whole to x and to the memory, q taken from the wrong rows",
     {"answer-mha": _mha(q="F.linear(x, W[C:2 * C], b[C:2 * C])")}),
    ("mha", "heads split with T for the memory too (works only when S = T)",
     {"answer-mha": _mha(split="t.view(B, T, self.n_heads, hs).transpose(1, 2)")}),
    ("mha", "shortcut: F.multi_head_attention_forward inside (no weights returned either)",
     {"answer-mha": ("class MultiHeadAttention(nn.Module):\n"
                     "    def __init__(self, d_model, n_heads):\n"
                     "        super().__init__()\n"
                     "        self.n_heads = n_heads\n"
                     "        self.in_proj = nn.Linear(d_model, 3 * d_model)\n"
                     "        self.out_proj = nn.Linear(d_model, d_model)\n"
                     "    def forward(self, x, memory=None, attn_mask=None, key_padding_mask=None):\n"
                     "        m = (x if memory is None else memory).transpose(0, 1)\n"
                     "        return F.multi_head_attention_forward(x.transpose(0, 1), m, m,\n"
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
     {"answer-block": _decoder(forward=("T = x.shape[1]\n"
                                        "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                        "        x = self.ln1(x + self.self_attn(x, None, allowed, x_padding)[0])\n"
                                        "        x = self.ln2(x + self.cross_attn(x, memory, None, memory_padding)[0])\n"
                                        "        return self.ln3(x + self.ff(x))"))}),
    ("block", "the memory normalised by ln2 too",
     {"answer-block": _dec("self.cross_attn(self.ln2(x), memory,", "self.cross_attn(self.ln2(x), self.ln2(memory),")}),
    ("block", "self-attention not causal",
     {"answer-block": _dec("self.self_attn(self.ln1(x), None, allowed, x_padding)", "self.self_attn(self.ln1(x), None, None, x_padding)")}),
    ("block", "cross-attention made causal too (the memory positions masked as if they were the decoder's)",
     {"answer-block": _dec("self.cross_attn(self.ln2(x), memory, None, memory_padding)",
                           "self.cross_attn(self.ln2(x), memory, torch.ones(T, memory.shape[1], dtype=torch.bool).tril(), memory_padding)")}),
    ("block", "memory padding ignored",
     {"answer-block": _dec("memory, None, memory_padding)", "memory, None, None)")}),
    ("block", "decoder padding ignored",
     {"answer-block": _dec("None, allowed, x_padding)", "None, allowed, None)")}),
    ("block", "cross-attention before self-attention",
     {"answer-block": _decoder(forward=("T = x.shape[1]\n"
                                        "        allowed = torch.ones(T, T, dtype=torch.bool).tril()\n"
                                        "        x = x + self.cross_attn(self.ln2(x), memory, None, memory_padding)[0]\n"
                                        "        x = x + self.self_attn(self.ln1(x), None, allowed, x_padding)[0]\n"
                                        "        return x + self.ff(self.ln3(x))"))}),
    ("block", "ln2 and ln3 swapped",
     {"answer-block": _dec("self.cross_attn(self.ln2(x)", "self.cross_attn(self.ln3(x)").replace("self.ff(self.ln3(x))", "self.ff(self.ln2(x))")}),
    ("block", "queries of the cross-attention from the un-normalised x",
     {"answer-block": _dec("self.cross_attn(self.ln2(x), memory", "self.cross_attn(x, memory")}),
    ("block", "no residual around the MLP", {"answer-block": _dec("return x + self.ff(", "return (")}),
    ("block", "GELU instead of ReLU", {"answer-block": _decoder(act="nn.GELU()")}),
    # ---------------------------------------------------------------- Task 6
    ("char-model", "the lecture's GPT as it is (2 blocks, C = 48, 4 heads, lr 1e-2): below the bar only with a better design",
     {"answer-lm": _lm(size="d_model=48, n_heads=4, n_layers=2", lr="1e-2")}),
    ("char-model", "not causal: blocks without the mask (sees the next character)",
     {"answer-lm": _lm(mask="None")}),
    ("char-model", "a bigram model with an unused block",
     {"answer-lm": _lm(forward_body="return self.head(self.ln_f(self.tok(x)))")}),
    ("char-model", "too large a model", {"answer-lm": _lm(size="d_model=96, n_heads=8, n_layers=1")}),
    ("char-model", "learning rate far too small", {"answer-lm": _lm(lr="1e-4")}),
    ("char-model", "shortcut: an LSTM beside the block",
     {"answer-lm": _lm(init_extra="        self.rnn = nn.LSTM(d_model, d_model, batch_first=True)\n",
                       forward_body=("h = self.rnn(self.tok(x))[0]\n"
                                     "        for block in self.blocks:\n"
                                     "            h = block(h)\n"
                                     "        return self.head(self.ln_f(h))"))}),
]
