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
    assert text.unigram_bpc(train, ev, 3) == pytest.approx(-np.mean(np.log2(p[ev])))
    counts = np.ones((3, 3))
    for a, b in zip(train[:-1], train[1:], strict=True):
        counts[a, b] += 1
    cond = counts / counts.sum(1)[:, None]  # p(next | previous), rows sum to 1
    expected = -np.mean([np.log2(cond[a, b]) for a, b in zip(ev[:-1], ev[1:], strict=True)])
    assert text.bigram_bpc(train, ev, 3) == pytest.approx(expected)
