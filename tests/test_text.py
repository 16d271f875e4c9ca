"""utils.text: the offline corpus, the vocabulary, the split and the baselines."""
import math

import numpy as np
import pytest
import torch

from utils import text


def test_default_corpus_is_offline_ascii_and_large():
    corpus = text.load_corpus()
    assert len(corpus) > 400_000
    assert all(" " <= c <= "}" or c in "\n\t" or c == text.OTHER for c in set(corpus))
    assert corpus.startswith('The "assert" statement')  # topics in sorted order
    assert text.load_corpus(max_chars=5000) == corpus[:5000]


def test_a_students_file_is_read_as_utf8_and_normalised(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("caf\u00e9 \u201cquoted\u201d\n" * 200, encoding="utf-8")
    assert text.load_corpus(p).startswith("caf~ ~quoted~\n")


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "no text file"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00bad" * 400), "not UTF-8"),
    (lambda p: p.write_text("short"), "only 5 characters"),
])
def test_unreadable_text_gets_a_clear_message(tmp_path, make, match):
    p = tmp_path / "t.txt"
    make(p)
    with pytest.raises(text.CorpusUnavailable, match=match):
        text.load_corpus(p)


def test_vocab_round_trip_and_unknown_character():
    v = text.Vocab("hello world")
    assert len(v) == 8 and v.chars[0] == " "
    ids = v.encode("world hello")
    assert ids.dtype == np.int64 and v.decode(ids) == "world hello"
    with pytest.raises(KeyError, match="'z'"):
        v.encode("z")


def test_split_is_contiguous_and_complete():
    ids = np.arange(1000)
    tr, va, te = text.split(ids, val=0.1, test=0.2)
    assert (len(tr), len(va), len(te)) == (700, 100, 200)
    np.testing.assert_array_equal(np.concatenate([tr, va, te]), ids)


def test_baselines_on_a_known_sequence():
    # an alternating sequence: unigram is 1 bit (with add-one on 2 symbols: ~1),
    # the bigram predicts almost perfectly
    seq = np.array([0, 1] * 500)
    assert text.unigram_bpc(seq, seq, 2) == pytest.approx(1.0, abs=1e-6)
    assert text.bigram_bpc(seq, seq, 2) < 0.01
    uniform = text.unigram_bpc(np.array([], dtype=np.int64), seq, 4)
    assert uniform == pytest.approx(2.0)
    assert text.nats_to_bpc(math.log(4)) == pytest.approx(2.0)


def test_windows_are_next_character_targets():
    ids = np.arange(100)
    x, y = text.random_windows(ids, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y, x + 1)
    fx, fy = text.fixed_windows(ids, 10)
    assert fx.shape == (9, 10) and torch.equal(fy, fx + 1) and fx[0, 0] == 0
    assert text.fixed_windows(ids, 10, n=3)[0].shape == (3, 10)


def test_default_corpus_is_the_shipped_snapshot_on_every_python():
    import hashlib
    raw = text._shipped_corpus()
    assert len(raw) == 464_970  # CPython 3.11.7's pydoc_data.topics, whatever runs this
    assert hashlib.sha256(raw.encode()).hexdigest().startswith("37d06970fc926e60")


def test_missing_snapshot_falls_back_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "CORPUS_FILE", tmp_path / "python_docs.txt.gz")
    with pytest.warns(UserWarning, match="missing from utils/corpus"):
        corpus = text.load_corpus()
    assert len(corpus) > 400_000


def test_snapshot_ships_in_the_wheel(course_wheel):
    import zipfile
    names = zipfile.ZipFile(course_wheel).namelist()
    assert "utils/corpus/python_docs.txt.gz" in names


@pytest.mark.parametrize("n", [1000, 13])
def test_split_defaults_to_80_10_10(n):
    tr, va, te = text.split(np.arange(n))
    a, b = int(0.8 * n), int(0.9 * n)  # 13 -> 10, 1, 2
    assert (len(tr), len(va), len(te)) == (a, b - a, n - b)
    np.testing.assert_array_equal(np.concatenate([tr, va, te]), np.arange(n))


def test_baselines_are_add_one_counts():
    # independent computation on a small sequence of 3 symbols
    train, ev = np.array([0, 0, 1, 0, 2, 0]), np.array([0, 1, 1, 2])
    p = (np.array([4, 1, 1]) + 1) / (6 + 3)  # add-one unigram
    assert text.unigram_bpc(train, ev, 3) == pytest.approx(-np.mean(np.log2(p[ev[1:]])))
    counts = np.ones((3, 3))
    for a, b in zip(train[:-1], train[1:], strict=True):
        counts[a, b] += 1
    cond = counts / counts.sum(1)[:, None]  # p(next | previous), rows sum to 1
    expected = -np.mean([np.log2(cond[a, b]) for a, b in zip(ev[:-1], ev[1:], strict=True)])
    assert text.bigram_bpc(train, ev, 3) == pytest.approx(expected)


def test_eval_windows_cover_the_whole_split_but_its_tail():
    ids = np.arange(1000)
    x, y = text.eval_windows(ids, 64)
    assert x.shape == y.shape == (15, 64) and x.dtype == torch.int64
    assert torch.equal(y, x + 1)  # every target is the character after its input
    # targets 1..960: all of the split that fits whole windows; (1000 - 1) % 64 = 39 left out
    assert torch.equal(y.flatten(), torch.arange(1, 961))
    assert torch.equal(text.eval_windows(ids, 64, n_windows=3)[1], y[:3])
    assert text.eval_windows(ids, 64, n_windows=100)[0].shape == (15, 64)


@pytest.mark.parametrize("ids, context, n, match", [
    (np.arange(10), 0, None, "context must be a positive"),
    (np.arange(10), 4, 0, "n_windows must be None"),
    (np.arange(10), 10, None, "has 10 characters: one window of context 10 needs at least 11"),
])
def test_eval_windows_refuse_what_cannot_be_scored(ids, context, n, match):
    with pytest.raises(ValueError, match=match):
        text.eval_windows(ids, context, n)


def test_baselines_on_windows_score_exactly_the_targets():
    rng = np.random.default_rng(0)
    train, ev = rng.integers(0, 5, 400), rng.integers(0, 5, 103)
    windows = text.eval_windows(ev, 10, n_windows=4)  # targets ev[1:41]
    counts = np.ones((5, 5))
    for a, b in zip(train[:-1], train[1:], strict=True):
        counts[a, b] += 1
    cond = counts / counts.sum(1)[:, None]
    expected = -np.mean([np.log2(cond[ev[k - 1], ev[k]]) for k in range(1, 41)])
    assert text.bigram_bpc(train, windows, 5) == pytest.approx(expected)
    assert text.bigram_bpc(train, windows, 5) == pytest.approx(text.bigram_bpc(train, ev[:41], 5))
    p = (np.bincount(train, minlength=5) + 1) / (len(train) + 5)
    assert text.unigram_bpc(train, windows, 5) == pytest.approx(-np.mean(np.log2(p[ev[1:41]])))
    both = text.baselines(train, windows, 5)
    assert both == {"uniform": pytest.approx(math.log2(5)),
                    "unigram": text.unigram_bpc(train, windows, 5),
                    "bigram": text.bigram_bpc(train, windows, 5)}
    with pytest.raises(ValueError, match="pair"):
        text.bigram_bpc(train, (windows[0], windows[1][:2]), 5)
    with pytest.raises(ValueError, match="1-D"):
        text.bigram_bpc(train, np.zeros((3, 3), dtype=np.int64), 5)


def test_the_scored_windows_change_the_bigram_figure_as_the_review_measured():
    # The review of units 11-12 measured the bigram on the first 256 windows of context 32
    # (the windows the models used to be scored on): 3.648 on validation, 3.889 on test,
    # against 3.546 / 3.363 on the whole splits. The same figures from eval_windows:
    corpus = text.load_corpus()
    vocab = text.Vocab(corpus)
    train, val, test = text.split(vocab.encode(corpus))
    V = len(vocab)
    assert text.bigram_bpc(train, text.eval_windows(val, 32, 256), V) == pytest.approx(3.648, abs=5e-4)
    assert text.bigram_bpc(train, text.eval_windows(test, 32, 256), V) == pytest.approx(3.889, abs=5e-4)
    whole = text.bigram_bpc(train, text.eval_windows(test, 64), V)
    assert whole == pytest.approx(text.bigram_bpc(train, test, V), abs=2e-3)  # all but the last 32 characters
    assert whole == pytest.approx(3.363, abs=2e-3)
