"""Data: seeded synthetic sets, the real scikit-learn digits, and torchvision image sets.

Everything here works offline. Synthetic sets are NumPy arrays (lectures 01-04 work in
NumPy first); the digits come as torch tensors or DataLoaders. MNIST, Fashion-MNIST and
CIFAR-10 are downloaded into ``data/`` by torchvision; offline, ``load_vision`` fails at
once with a message naming the missing files and the offline alternative.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where downloads go: ``$COURSE_DATA`` if set, else the repository's ``data/`` folder
    (an editable install), else ``./data``."""
    if os.environ.get("COURSE_DATA"):
        return Path(os.environ["COURSE_DATA"])
    if (REPO_ROOT / "pyproject.toml").exists():
        return REPO_ROOT / "data"
    return Path("data")


# ----------------------------------------------------------------------------- synthetic
def make_line(n: int = 100, w: float = 2.0, b: float = -1.0, noise: float = 0.5,
              x_range: tuple[float, float] = (-3.0, 3.0), seed: int = 0):
    """Points on the line y = w*x + b plus Gaussian noise.

    Returns ``X`` [n, 1] and ``y`` [n], float64, sorted by x for plotting.
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(*x_range, size=n))
    y = w * x + b + noise * rng.standard_normal(n)
    return x[:, None], y


def make_polynomial(n: int = 30, coefs=(0.0, 1.0, 0.0, -0.3), noise: float = 0.3,
                    x_range: tuple[float, float] = (-2.0, 2.0), seed: int = 0):
    """Noisy samples of the polynomial sum_k coefs[k] * x**k.

    Returns ``X`` [n, 1] and ``y`` [n], float64, sorted by x.
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(*x_range, size=n))
    y = np.polynomial.polynomial.polyval(x, coefs) + noise * rng.standard_normal(n)
    return x[:, None], y


def make_blobs(n: int = 200, centers=((-1.5, -1.0), (1.5, 1.0)), std: float = 0.8,
               seed: int = 0):
    """Gaussian blobs in 2-D, one per centre, classes balanced.

    Returns ``X`` [n, 2] float64 and ``y`` [n] int64 with labels 0..len(centers)-1.
    """
    rng = np.random.default_rng(seed)
    centers = np.asarray(centers, dtype=float)
    y = np.arange(n) % len(centers)
    X = centers[y] + std * rng.standard_normal((n, 2))
    perm = rng.permutation(n)
    return X[perm], y[perm].astype(np.int64)


def make_moons(n: int = 200, noise: float = 0.15, seed: int = 0):
    """Two interleaving half circles (not linearly separable).

    Returns ``X`` [n, 2] float64 and ``y`` [n] int64 in {0, 1}.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = rng.uniform(0, np.pi, size=n)
    X = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    X = X + noise * rng.standard_normal((n, 2))
    perm = rng.permutation(n)
    return X[perm], y[perm].astype(np.int64)


def make_spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0):
    """``classes`` interleaved spiral arms (the cs231n toy set).

    Returns ``X`` [n, 2] float64 and ``y`` [n] int64 in 0..classes-1.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, size=n)
    theta = 4.0 * r + y * 2 * np.pi / classes + noise * rng.standard_normal(n)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], 1)
    perm = rng.permutation(n)
    return X[perm], y[perm].astype(np.int64)


# ----------------------------------------------------------------------------- digits
def load_digits(test_size: float = 0.25, seed: int = 0, flatten: bool = True,
                dtype=None):
    """The 1,797 real 8x8 handwritten digits shipped with scikit-learn, as torch tensors.

    Pixels are scaled to [0, 1]. The train/test split is stratified and fixed by ``seed``.
    Returns ``X_train, X_test, y_train, y_test``: X is [N, 64] (or [N, 1, 8, 8] with
    ``flatten=False``), y is [N] int64.
    """
    import torch
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    digits = _sk_digits()
    X = digits.images.astype(np.float32) / 16.0
    X = X.reshape(len(X), -1) if flatten else X[:, None, :, :]
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, digits.target, test_size=test_size, random_state=seed, stratify=digits.target)
    dtype = dtype or torch.float32
    return (torch.as_tensor(X_tr, dtype=dtype), torch.as_tensor(X_te, dtype=dtype),
            torch.as_tensor(y_tr, dtype=torch.int64), torch.as_tensor(y_te, dtype=torch.int64))


def digits_loaders(batch_size: int = 64, test_size: float = 0.25, seed: int = 0,
                   flatten: bool = True):
    """The digits as ``(train_loader, test_loader)``; the train loader shuffles with a
    generator seeded by ``seed``, so epochs are reproducible."""
    X_tr, X_te, y_tr, y_te = load_digits(test_size=test_size, seed=seed, flatten=flatten)
    return make_loaders(X_tr, y_tr, X_te, y_te, batch_size=batch_size, seed=seed)


def make_loaders(X_train, y_train, X_test, y_test, batch_size: int = 64, seed: int = 0):
    """Wrap tensors into a shuffling train DataLoader (seeded) and a test DataLoader."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    gen = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorDataset(torch.as_tensor(X_train), torch.as_tensor(y_train)),
                       batch_size=batch_size, shuffle=True, generator=gen)
    test = DataLoader(TensorDataset(torch.as_tensor(X_test), torch.as_tensor(y_test)),
                      batch_size=512)
    return train, test


def train_val_test_split(X, y, val_size: float = 0.2, test_size: float = 0.2,
                         seed: int = 0, stratify: bool = True):
    """Split arrays or tensors into train / validation / test, stratified by ``y`` when
    ``stratify`` (classification). Tune and early-stop on validation; report test once.

    ``val_size`` and ``test_size`` are fractions of the whole set. Returns
    ``X_train, X_val, X_test, y_train, y_val, y_test`` in the types given.
    """
    from sklearn.model_selection import train_test_split

    strat = np.asarray(y) if stratify else None
    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    strat_rest = strat[rest] if stratify else None
    train, val = train_test_split(rest, test_size=round(val_size * len(idx)),
                                  random_state=seed, stratify=strat_rest)
    return (_take(X, train), _take(X, val), _take(X, test),
            _take(y, train), _take(y, val), _take(y, test))


def _take(a, i: np.ndarray):
    """Rows ``i`` of an array or a tensor."""
    if hasattr(a, "detach"):
        import torch

        return a[torch.as_tensor(i, dtype=torch.int64)]
    return np.asarray(a)[i]


def load_digits_splits(val_size: float = 0.15, test_size: float = 0.25, seed: int = 0,
                       flatten: bool = True, dtype=None):
    """The digits as train / validation / test tensors (stratified, fixed by ``seed``).

    The test part is the same as ``load_digits(test_size, seed)``'s; the validation part
    (``val_size`` of the whole set) is taken out of its training part. Returns
    ``X_train, X_val, X_test, y_train, y_val, y_test``: X is [N, 64] (or [N, 1, 8, 8]),
    y is [N] int64. With the defaults: 1,077 / 270 / 450 images.
    """
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = load_digits(test_size=test_size, seed=seed, flatten=flatten,
                                         dtype=dtype)
    idx = np.arange(len(y_tr))
    n_all = len(y_tr) + len(y_te)
    train, val = train_test_split(idx, test_size=round(val_size * n_all), random_state=seed,
                                  stratify=y_tr.numpy())
    return _take(X_tr, train), _take(X_tr, val), X_te, _take(y_tr, train), _take(y_tr, val), y_te


# ----------------------------------------------------------------------------- torchvision
class DatasetUnavailable(RuntimeError):
    """A data set is neither on disk nor downloadable (offline, or a failed checksum)."""


VISION_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def _expected_files(cls, root: Path) -> list[tuple[Path, str | None]]:
    """Files the torchvision class needs, with the md5 it publishes for them."""
    if hasattr(cls, "resources"):  # MNIST family: gzipped IDX files in <root>/<Class>/raw
        raw = root / cls.__name__ / "raw"
        return [(raw / _url_name(url), md5) for url, md5 in cls.resources]
    # CIFAR-10: a tarball that unpacks into <root>/cifar-10-batches-py
    return [(root / cls.filename, cls.tgz_md5)]


def _url_name(url_or_name) -> str:
    return str(url_or_name).rstrip("/").split("/")[-1]


def verify_file(path: Path, md5: str | None) -> None:
    """Raise DatasetUnavailable if ``path`` exists but does not match its published md5
    (a partial or corrupted download is never read)."""
    from torchvision.datasets.utils import check_integrity

    if md5 and path.exists() and not check_integrity(str(path), md5):
        raise DatasetUnavailable(
            f"{path} is incomplete or corrupted (md5 does not match {md5}). "
            f"Delete it and download again.")


def load_vision(name: str, train: bool = True, root: str | Path | None = None,
                download: bool = True, transform=None):
    """MNIST, Fashion-MNIST or CIFAR-10 through torchvision, stored under ``root``
    (default: the course's ``data/`` folder).

    Archives already on disk are checked against torchvision's published md5 before use.
    When the data is missing and cannot be downloaded, raises ``DatasetUnavailable``
    naming the missing files, where to put them, and the offline alternative.
    """
    import torchvision
    from torchvision import transforms

    key = name.lower().replace("_", "-")
    if key not in VISION_SETS:
        raise ValueError(f"unknown data set {name!r}: choose one of {sorted(VISION_SETS)}")
    cls = getattr(torchvision.datasets, VISION_SETS[key])
    root = Path(root) if root is not None else data_dir()
    transform = transform or transforms.ToTensor()
    for path, md5 in _expected_files(cls, root):
        verify_file(path, md5)
    try:  # first without network: uses what is on disk (raw IDX files count)
        return cls(str(root), train=train, download=False, transform=transform)
    except RuntimeError:
        if not download:
            raise DatasetUnavailable(_missing_message(cls, root, "download=False")) from None
    try:
        root.mkdir(parents=True, exist_ok=True)
        return cls(str(root), train=train, download=True, transform=transform)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise DatasetUnavailable(_missing_message(cls, root, f"download failed: {exc}")) from None


def split_by_fraction(X, y, val_fraction: float, seed: int = 0):
    """A seeded random split of tensors X [N, ...], y [N] into a training and a validation
    part, the validation part holding ``round(val_fraction * N)`` rows.

    Returns ``X_train, X_val, y_train, y_val``. Raises ``ValueError`` with a message saying
    what to change when either part would be empty (a fraction outside (0, 1), or too few
    rows for it), so that a notebook never trains or validates on nothing.
    """
    import torch

    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}: they must have one label per row")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction = {val_fraction!r}: it must lie strictly between 0 and 1 "
                         f"(for example 1/6 puts one image in six into the validation set)")
    n_val = round(val_fraction * n)
    if n_val < 1 or n_val > n - 1:
        part = "validation" if n_val < 1 else "training"
        raise ValueError(f"val_fraction = {val_fraction:g} of {n} rows gives {n_val} validation and "
                         f"{n - n_val} training rows: the {part} set would be empty. Use more data "
                         f"or a val_fraction between {1 / n:.3g} and {1 - 1 / n:.3g}.")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = perm[:n_val], perm[n_val:]
    return X[train], X[val], y[train], y[val]


def load_vision_splits(name: str, val_fraction: float = 1 / 6, seed: int = 0,
                       flatten: bool = False, root: str | Path | None = None,
                       download: bool = True):
    """MNIST, Fashion-MNIST or CIFAR-10 as train / validation / test tensors: the
    notebooks' ``DATASET`` switch in one call.

    The validation part is ``val_fraction`` of torchvision's training images
    (``split_by_fraction``, seeded by ``seed``; an empty part is refused with a clear
    message); the test part is torchvision's test set. Pixels are float32 in [0, 1], X is
    [N, C, H, W] (or [N, C*H*W] with ``flatten``), y is [N] int64. Missing files raise
    ``DatasetUnavailable`` as in ``load_vision``.
    """
    import torch

    def tensors(ds):
        X = torch.as_tensor(np.asarray(ds.data))
        X = X.permute(0, 3, 1, 2) if X.dim() == 4 else X[:, None]       # CIFAR is [N, H, W, 3]
        X = X.float() / 255
        return (X.flatten(1) if flatten else X), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)

    X, y = tensors(load_vision(name, train=True, root=root, download=download))
    X_test, y_test = tensors(load_vision(name, train=False, root=root, download=download))
    X_train, X_val, y_train, y_val = split_by_fraction(X, y, val_fraction, seed)
    return X_train, X_val, X_test, y_train, y_val, y_test


def _missing_message(cls, root: Path, why: str) -> str:
    missing = [str(p) for p, _ in _expected_files(cls, root) if not p.exists()]
    return (f"{cls.__name__} is not available ({why}).\n"
            f"Missing: {', '.join(missing) or 'extracted files under ' + str(root)}.\n"
            f"Put these files there (copied from a machine with internet), or run once "
            f"online with download=True.\n"
            f"Offline alternative: utils.data.load_digits() (real 8x8 digits shipped with "
            f"scikit-learn), or set the notebook's DATASET parameter to 'digits'.")
