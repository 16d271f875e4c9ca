"""Text for the recurrent and Transformer units (11, 12): a corpus that needs no download,
a character vocabulary, a fixed train/validation/test split, and the baselines that give
a loss in bits per character its meaning.

The default corpus is the reference documentation that ships inside CPython
(``pydoc_data.topics``: English prose with code, 464,970 characters), as a snapshot of
CPython 3.11.7's copy shipped in this package (``utils/corpus``): offline, and the same
text on every Python, so that losses and samples reproduce. A student's own text is one
parameter away: ``load_corpus(path="my_text.txt")`` (UTF-8).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CORPUS_FILE = Path(__file__).parent / "corpus" / "python_docs.txt.gz"
OTHER = "~"  # every character outside printable ASCII (curly quotes, dashes) maps here,
# and "~" itself, so that the one symbol means "something else"


class CorpusUnavailable(RuntimeError):
    """The corpus cannot be read; the message says why and what to do instead."""


def _normalise(text: str) -> str:
    """Printable ASCII up to "}", newlines and tabs kept; anything else becomes ``OTHER``."""
    return "".join(c if (" " <= c <= "}" or c in "\n\t") else OTHER for c in text)


def load_corpus(path: str | Path | None = None, max_chars: int | None = None) -> str:
    """The course's text: the snapshot of CPython's ``pydoc_data.topics`` shipped in
    ``utils/corpus`` (topics in sorted order), or the UTF-8 file at ``path``; normalised
    to printable ASCII (see ``OTHER``), cut to ``max_chars``."""
    if path is None:
        text = _shipped_corpus()
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise CorpusUnavailable(f"no text file at {p}: give the path of a UTF-8 "
                                    "text file, or CORPUS = None for the built-in corpus")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusUnavailable(f"{p} is not UTF-8 text (byte {exc.start}: "
                                    f"{exc.reason}); save it as UTF-8 first") from None
    text = _normalise(text)
    if max_chars is not None:
        text = text[:max_chars]
    if len(text) < 1000:
        raise CorpusUnavailable(f"the text has only {len(text)} characters: a character "
                                "model needs at least a few thousand")
    return text


def _shipped_corpus() -> str:
    """The snapshot in ``utils/corpus``; when it is missing (only ``utils/*.py`` copied),
    this Python's own ``pydoc_data.topics``, with a warning that numbers will differ."""
    import gzip
    import warnings

    snapshot = CORPUS_FILE
    if snapshot.is_file():
        return gzip.decompress(snapshot.read_bytes()).decode("utf-8")
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise CorpusUnavailable(
            f"the course corpus {snapshot.name} is missing from utils/corpus and this "
            "Python has no pydoc_data.topics. Reinstall the course (pip install -e .) or "
            "pass the path of any UTF-8 text file: load_corpus(path=...), or set the "
            "notebook's CORPUS parameter to that path.") from None
    warnings.warn(f"{snapshot.name} is missing from utils/corpus: using this Python's "
                  "own documentation, so losses and samples will differ from the stored "
                  "ones. Reinstall the course to get the snapshot back.", stacklevel=3)
    return "".join(topics[k] for k in sorted(topics))


class Vocab:
    """Characters <-> integer ids, in sorted order of the characters of ``text``."""

    def __init__(self, text: str):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """[len(text)] int64 ids; a character outside the vocabulary raises KeyError
        naming it."""
        try:
            return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise KeyError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split(ids, val: float = 0.1, test: float = 0.1):
    """Contiguous train / validation / test parts: the first ``1 - val - test`` of the
    text, then ``val``, then ``test`` (random windows would leak neighbouring text)."""
    n = len(ids)
    a, b = int(n * (1 - val - test)), int(n * (1 - test))
    return ids[:a], ids[a:b], ids[b:]


def eval_windows(ids, context: int, n_windows: int | None = None):
    """The text a model and its baselines are scored on, as one object: ``ids`` cut into
    non-overlapping windows of ``context`` characters, inputs ``x`` and next-character
    targets ``y`` (torch int64, [N, T]); ``y[i, j]`` is the character after ``x[i, j]``.

    By default all the windows, i.e. the whole split except its last
    ``(len(ids) - 1) % context`` characters; ``n_windows`` keeps the first ones only.
    ``charlm.evaluate_bpc`` scores a model on these targets and ``unigram_bpc`` /
    ``bigram_bpc`` score the baselines on the same targets when given this pair, so that
    every number of units 11 and 12 is measured on the same characters."""
    if int(context) < 1:
        raise ValueError(f"context must be a positive number of characters, got {context}")
    if n_windows is not None and int(n_windows) < 1:
        raise ValueError(f"n_windows must be None (all windows) or >= 1, got {n_windows}")
    if len(ids) < context + 1:
        raise ValueError(f"the text to score has {len(ids)} characters: one window of "
                         f"context {context} needs at least {context + 1}")
    return fixed_windows(ids, context, n_windows)


def _scored(evaluate):
    """(previous, target) id arrays of what a baseline scores: the pair of ``eval_windows``
    (every target ``y`` after its input ``x``), or a 1-D id sequence (``evaluate[1:]``
    after ``evaluate[:-1]``)."""
    if isinstance(evaluate, tuple):
        if len(evaluate) != 2 or np.shape(evaluate[0]) != np.shape(evaluate[1]):
            raise ValueError("expected the pair (x, y) of text.eval_windows, inputs and "
                             "targets of the same shape")
        x, y = (np.asarray(a).reshape(-1) for a in evaluate)
        return x, y
    evaluate = np.asarray(evaluate)
    if evaluate.ndim != 1:
        raise ValueError(f"expected 1-D character ids or the pair (x, y) of "
                         f"text.eval_windows, got an array of shape {evaluate.shape}")
    return evaluate[:-1], evaluate[1:]


def unigram_bpc(train, evaluate, vocab_size: int) -> float:
    """Bits per character of the add-one character frequencies of ``train`` ("add-one":
    every count starts at 1, so that no character has probability 0) on the targets of
    ``evaluate``: the pair ``(x, y)`` of ``eval_windows`` (scored: ``y``, the same
    characters as the model), or 1-D ids (scored: ``evaluate[1:]``)."""
    counts = np.bincount(np.asarray(train), minlength=vocab_size) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-logp[_scored(evaluate)[1]].mean())


def bigram_bpc(train, evaluate, vocab_size: int) -> float:
    """Bits per character of the add-one bigram model p(c_t | c_{t-1}) counted on ``train``,
    on the targets of ``evaluate``: the pair ``(x, y)`` of ``eval_windows`` (each ``y``
    given the ``x`` before it: the characters a model is scored on), or 1-D ids
    (``evaluate[1:]`` given ``evaluate[:-1]``)."""
    train = np.asarray(train)
    counts = np.ones((vocab_size, vocab_size))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    logp = np.log2(counts / counts.sum(1, keepdims=True))
    prev, target = _scored(evaluate)
    return float(-logp[prev, target].mean())


def baselines(train, windows, vocab_size: int) -> dict:
    """``{"uniform", "unigram", "bigram"}`` bits per character on the targets of
    ``windows`` (the pair of ``eval_windows``), counted on ``train``: the reference
    figures to print next to a model's ``charlm.evaluate_bpc`` on the same windows."""
    return {"uniform": math.log2(vocab_size),
            "unigram": unigram_bpc(train, windows, vocab_size),
            "bigram": bigram_bpc(train, windows, vocab_size)}


def nats_to_bpc(loss: float) -> float:
    """A cross-entropy in nats per character (what F.cross_entropy gives) in bits."""
    return loss / math.log(2)


def random_windows(ids, batch_size: int, context: int, generator):
    """A batch of ``batch_size`` windows of ``context + 1`` consecutive ids at random
    offsets: inputs [B, T] and next-character targets [B, T], as torch int64."""
    import torch

    data = torch.as_tensor(ids)
    starts = torch.randint(0, len(data) - context - 1, (batch_size,), generator=generator)
    rows = torch.stack([data[s:s + context + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def fixed_windows(ids, context: int, n: int | None = None):
    """Non-overlapping windows covering ``ids`` (the first ``n`` of them): inputs and
    targets [N, T], for an evaluation that is the same every run."""
    import torch

    data = torch.as_tensor(ids)
    count = (len(data) - 1) // context
    count = count if n is None else min(n, count)
    x = data[:count * context].view(count, context)
    y = data[1:count * context + 1].view(count, context)
    return x, y
