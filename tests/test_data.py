import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from utils import data


@pytest.mark.parametrize("maker, n_classes", [(data.make_blobs, 2), (data.make_moons, 2),
                                              (data.make_spirals, 3)])
def test_2d_sets_are_seeded_balanced_and_shaped(maker, n_classes):
    X, y = maker(n=120, seed=3)
    X2, y2 = maker(n=120, seed=3)
    assert X.shape == (120, 2) and y.shape == (120,) and y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert not np.array_equal(X, maker(n=120, seed=4)[0])
    assert np.bincount(y).tolist() == [120 // n_classes] * n_classes


def test_regression_sets_follow_their_formula():
    X, y = data.make_line(500, w=3.0, b=1.0, noise=0.0, seed=0)
    assert X.shape == (500, 1) and np.allclose(y, 3 * X[:, 0] + 1)
    X, y = data.make_polynomial(50, coefs=(1.0, 0.0, 2.0), noise=0.0)
    assert np.allclose(y, 1 + 2 * X[:, 0] ** 2)
    assert np.all(np.diff(X[:, 0]) >= 0)  # sorted, ready to plot


def test_digits_split_is_fixed_stratified_and_scaled():
    X_tr, X_te, y_tr, y_te = data.load_digits()
    assert X_tr.shape == (1347, 64) and X_te.shape == (450, 64)
    assert X_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert 0.0 <= X_tr.min() and X_tr.max() <= 1.0
    assert torch.equal(y_te, data.load_digits()[3])
    assert torch.bincount(y_te).min() >= 43  # stratified: every class about 45 times
    imgs = data.load_digits(flatten=False)[0]
    assert imgs.shape == (1347, 1, 8, 8)


def test_digits_loaders_shuffle_reproducibly():
    first = next(iter(data.digits_loaders(batch_size=16, seed=1)[0]))[1]
    again = next(iter(data.digits_loaders(batch_size=16, seed=1)[0]))[1]
    assert torch.equal(first, again)


# ----------------------------------------------------------------------------- torchvision
def _idx(path, array, gz=False):
    """Write ``array`` (uint8) in the IDX format MNIST uses."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _tiny_mnist(root, folder="MNIST", n=6):
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    for split in ("train", "t10k"):
        _idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_load_vision_reads_idx_files_from_disk(tmp_path, name, folder):
    _tiny_mnist(tmp_path, folder)
    ds = data.load_vision(name, train=True, root=tmp_path, download=False)
    assert len(ds) == 6
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and label == 3
    assert 0.0 <= img.min() and img.max() <= 1.0


def test_missing_data_offline_names_files_and_the_alternative(tmp_path):
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load_vision("mnist", root=tmp_path, download=False)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg
    assert "load_digits" in msg


def test_failed_download_gives_a_clear_message(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable (blocked by the test)")

    # no network for this process, whatever function torchvision downloads with
    # (public socket API, not a private torchvision helper that could be renamed)
    monkeypatch.setattr("socket.getaddrinfo", offline)
    monkeypatch.setattr("socket.socket.connect", offline)
    monkeypatch.setattr("socket.create_connection", offline)
    with pytest.raises(data.DatasetUnavailable, match="download failed") as info:
        data.load_vision("fashion-mnist", root=tmp_path, download=True)
    assert "load_digits" in str(info.value)


def test_corrupted_archive_is_never_read(tmp_path):
    _tiny_mnist(tmp_path)  # usable raw files are there...
    _idx(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28)), gz=True)
    with pytest.raises(data.DatasetUnavailable, match="incomplete or corrupted"):
        data.load_vision("mnist", root=tmp_path, download=False)  # ...but the archive fails md5


def test_cifar_offline_message_and_unknown_names(tmp_path):
    with pytest.raises(data.DatasetUnavailable, match="cifar-10-python.tar.gz"):
        data.load_vision("cifar10", root=tmp_path, download=False)
    with pytest.raises(ValueError, match="choose one of"):
        data.load_vision("imagenet", root=tmp_path)


def test_data_dir_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA")
    assert data.data_dir().name == "data"


def test_digits_splits_are_disjoint_stratified_and_keep_the_test_part():
    X_tr, X_va, X_te, y_tr, y_va, y_te = data.load_digits_splits(seed=0)
    assert (len(y_tr), len(y_va), len(y_te)) == (1077, 270, 450)
    _, X_te0, _, y_te0 = data.load_digits(seed=0)
    assert torch.equal(X_te, X_te0) and torch.equal(y_te, y_te0)
    assert len(torch.cat([X_tr, X_va, X_te])) == 1797
    for part in (y_tr, y_va):
        assert torch.bincount(part, minlength=10).min() > 0.08 * len(part)
    again = data.load_digits_splits(seed=0)
    assert torch.equal(again[1], X_va)
    assert not torch.equal(data.load_digits_splits(seed=1)[1], X_va)


def test_train_val_test_split_keeps_types_and_every_row_once():
    X, y = np.arange(200).reshape(100, 2), np.arange(100) % 4
    parts = data.train_val_test_split(X, y, val_size=0.2, test_size=0.3, seed=3)
    assert [len(p) for p in parts[:3]] == [50, 20, 30]
    assert sorted(np.concatenate(parts[:3])[:, 0].tolist()) == list(range(0, 200, 2))
    for Xp, yp in zip(parts[:3], parts[3:], strict=True):
        np.testing.assert_array_equal(Xp[:, 0] // 2 % 4, yp)
        assert np.bincount(yp, minlength=4).min() >= len(yp) // 4 - 1
    tparts = data.train_val_test_split(torch.tensor(X), torch.tensor(y), seed=3)
    assert all(torch.is_tensor(p) for p in tparts)


# ----------------------------------------------------------------------------- what the sets are
# (issue 15: each test fails when one line of utils/data.py is changed, see ci/mutate.py)
def test_data_dir_is_the_repository_data_folder_without_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # wherever a notebook runs from
    assert data.data_dir() == data.REPO_ROOT / "data"
    assert (data.REPO_ROOT / "pyproject.toml").exists()


def test_loader_shuffling_depends_on_its_seed_only():
    X, y = torch.arange(64.0)[:, None], torch.arange(64)
    torch.manual_seed(1)
    first = next(iter(data.make_loaders(X, y, X, y, batch_size=16, seed=5)[0]))[1]
    torch.manual_seed(2)  # the global generator does not matter
    again = next(iter(data.make_loaders(X, y, X, y, batch_size=16, seed=5)[0]))[1]
    other = next(iter(data.make_loaders(X, y, X, y, batch_size=16, seed=6)[0]))[1]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first, torch.arange(16))  # shuffled
    test_batch = next(iter(data.make_loaders(X, y, X, y, seed=5)[1]))[1]
    assert torch.equal(test_batch, y)  # the test loader keeps the order


def test_moons_and_spirals_have_their_geometry():
    X, y = data.make_moons(200, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    assert np.allclose(np.hypot(*upper.T), 1) and (upper[:, 1] >= 0).all()
    assert np.allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1)
    assert (lower[:, 1] <= 0.5).all()
    X, y = data.make_spirals(300, classes=3, noise=0.0, seed=0)
    r, theta = np.hypot(*X.T), np.arctan2(X[:, 0], X[:, 1])
    turn = np.angle(np.exp(1j * (theta - 4.0 * r - y * 2 * np.pi / 3)))
    assert np.allclose(turn, 0, atol=1e-9)


def test_blob_spread_and_line_noise_are_what_was_asked():
    X, y = data.make_blobs(4000, centers=((0.0, 0.0),), std=0.3, seed=0)
    assert abs(X.std() - 0.3) < 0.01 and (y == 0).all()
    X, y = data.make_line(4000, w=2.0, b=-1.0, noise=0.5, seed=0)
    assert np.all(np.diff(X[:, 0]) >= 0)  # sorted, ready to plot
    assert abs((y - (2 * X[:, 0] - 1)).std() - 0.5) < 0.02


def test_train_val_test_split_is_stratified_and_seeded():
    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100)
    for seed in range(5):
        parts = data.train_val_test_split(X, y, val_size=0.2, test_size=0.2, seed=seed)
        assert [int(p.sum()) for p in parts[3:]] == [12, 4, 4]  # 20 % ones everywhere
    a = data.train_val_test_split(X, y, seed=7)
    b = data.train_val_test_split(X, y, seed=7)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_digits_pixels_span_zero_to_one():
    X_tr = data.load_digits()[0]
    assert X_tr.min() == 0.0 and X_tr.max() == 1.0


def test_data_dir_outside_a_checkout_is_the_working_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)  # an installed package: no pyproject
    assert data.data_dir() == Path("data")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test of this file may reach the network (a changed download flag would)."""
    def offline(*args, **kwargs):
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr("socket.getaddrinfo", offline)
    monkeypatch.setattr("socket.socket.connect", offline)
    monkeypatch.setattr("socket.create_connection", offline)


def test_missing_message_lists_every_missing_file_or_the_folder(tmp_path):
    import torchvision

    cls = torchvision.datasets.MNIST
    files = [p for p, _ in data._expected_files(cls, tmp_path)]
    assert len(files) == 4
    msg = data._missing_message(cls, tmp_path, "download=False")
    assert msg.startswith("MNIST is not available (download=False).\n")
    assert f"Missing: {', '.join(map(str, files))}.\n" in msg
    for p in files:  # the archives are there, yet the data cannot be read
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    msg = data._missing_message(cls, tmp_path, "download=False")
    assert f"Missing: extracted files under {tmp_path}.\n" in msg


def test_moons_cover_both_half_circles_with_the_noise_asked():
    X0, y = data.make_moons(400, noise=0.0, seed=1)
    upper = X0[y == 0]
    assert upper[:, 0].min() < -0.95 and upper[:, 0].max() > 0.95  # t spans [0, pi]
    X1, y1 = data.make_moons(400, noise=0.1, seed=1)  # same draws of t, then the noise
    assert np.array_equal(y, y1)
    noise = X1 - X0
    assert abs(noise.std() - 0.1) < 0.01 and abs(noise.mean()) < 0.01
    assert abs(np.corrcoef(noise.T)[0, 1]) < 0.15  # independent per coordinate
    X, y = data.make_moons()  # the defaults: 200 points, noise 0.15
    assert X.shape == (200, 2)
    radial = np.hypot(X[y == 0, 0], X[y == 0, 1]) - 1
    assert 0.1 < radial.std() < 0.2


def test_spiral_radii_span_their_range_and_the_angle_noise_is_what_was_asked():
    X, y = data.make_spirals(600, classes=3, noise=0.0, seed=2)
    r = np.hypot(*X.T)
    assert r.min() >= 0.05 and r.max() <= 1.0 and r.min() < 0.06 and r.max() > 0.99
    Xn, yn = data.make_spirals(600, classes=3, noise=0.3, seed=2)
    assert np.array_equal(y, yn) and np.allclose(np.hypot(*Xn.T), r)  # noise in the angle
    turn = np.angle(np.exp(1j * (np.arctan2(Xn[:, 0], Xn[:, 1]) - 4.0 * r - yn * 2 * np.pi / 3)))
    assert abs(turn.std() - 0.3) < 0.03
    X, y = data.make_spirals()  # the defaults: 300 points, 3 arms, noise 0.2
    assert X.shape == (300, 2) and np.bincount(y).tolist() == [100] * 3
    turn = np.angle(np.exp(1j * (np.arctan2(X[:, 0], X[:, 1]) - 4.0 * np.hypot(*X.T)
                                 - y * 2 * np.pi / 3)))
    assert 0.15 < turn.std() < 0.25


def test_default_line_and_polynomial_are_what_their_signatures_say():
    X, y = data.make_line()  # 100 points of y = 2x - 1 + 0.5 N(0, 1), x in [-3, 3]
    assert X.shape == (100, 1) and -3 <= X.min() < -2.8 and 2.8 < X.max() <= 3
    w, b = np.polyfit(X[:, 0], y, 1)
    assert abs(w - 2) < 0.1 and abs(b + 1) < 0.15
    assert 0.4 < (y - (2 * X[:, 0] - 1)).std() < 0.6
    assert np.array_equal(y, data.make_line()[1]) and np.array_equal(y, data.make_line(seed=0)[1])
    X, y = data.make_polynomial()  # 30 points of x - 0.3 x^3 + 0.3 N(0, 1), x in [-2, 2]
    assert X.shape == (30, 1) and -2 <= X.min() < -1.7 and 1.7 < X.max() <= 2
    assert np.array_equal(y, data.make_polynomial(seed=0)[1])
    resid = y - (X[:, 0] - 0.3 * X[:, 0] ** 3)
    assert 0.2 < resid.std() < 0.4 and abs(resid.mean()) < 0.15
    X, y = data.make_polynomial(2000, coefs=(0.0, 1.0), noise=0.1, seed=3)
    resid = y - X[:, 0]
    assert abs(resid.std() - 0.1) < 0.01 and abs(resid.mean()) < 0.01
    assert np.array_equal(data.make_spirals()[0], data.make_spirals(seed=0)[0])


def test_train_val_test_split_without_stratification_is_sklearns_plain_split():
    from sklearn.model_selection import train_test_split

    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(100)
    parts = data.train_val_test_split(X, y, val_size=0.2, test_size=0.2, seed=3,
                                      stratify=False)
    rest, test = train_test_split(np.arange(100), test_size=0.2, random_state=3)
    train, val = train_test_split(rest, test_size=20, random_state=3)
    for got, want in zip(parts[:3], (train, val, test), strict=True):
        np.testing.assert_array_equal(got, want)
    same = data.train_val_test_split(X, y)
    np.testing.assert_array_equal(same[2], data.train_val_test_split(X, y, seed=0)[2])


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": 10, "test_size": 0.5, "seed": 3,
                                         "flatten": False}])
def test_digits_loaders_wrap_load_digits_with_the_batch_size_and_seed(kwargs):
    train, test = data.digits_loaders(**kwargs)
    b, t, s, f = (kwargs.get("batch_size", 64), kwargs.get("test_size", 0.25),
                  kwargs.get("seed", 0), kwargs.get("flatten", True))
    X_tr, X_te, y_tr, y_te = data.load_digits(test_size=t, seed=s, flatten=f)
    for got, want in zip((*train.dataset.tensors, *test.dataset.tensors),
                         (X_tr, y_tr, X_te, y_te), strict=True):
        assert torch.equal(got, want)
    assert train.batch_size == b
    ref, _ = data.make_loaders(X_tr, y_tr, X_te, y_te, batch_size=b, seed=s)
    assert torch.equal(next(iter(train))[1], next(iter(ref))[1])  # shuffled with the seed
    assert np.array_equal(data.make_moons()[0], data.make_moons(seed=0)[0])


# ----------------------------------------------------------------------------- the DATASET switch
def test_split_by_fraction_is_seeded_disjoint_and_sized_by_the_fraction():
    X, y = torch.arange(60.0)[:, None], torch.arange(60) % 10
    X_tr, X_va, y_tr, y_va = data.split_by_fraction(X, y, 1 / 6, seed=3)
    assert (len(X_tr), len(X_va)) == (50, 10)
    assert sorted(torch.cat([X_tr, X_va]).flatten().tolist()) == list(range(60))    # every row once
    assert torch.equal(y_tr, X_tr.flatten().long() % 10) and torch.equal(y_va, X_va.flatten().long() % 10)
    again = data.split_by_fraction(X, y, 1 / 6, seed=3)
    other = data.split_by_fraction(X, y, 1 / 6, seed=4)
    assert torch.equal(again[1], X_va) and not torch.equal(other[1], X_va)


@pytest.mark.parametrize("n, fraction, empty", [(6, 0.05, "validation set would be empty"),
                                                (6, 0.95, "training set would be empty"),
                                                (1, 0.5, "would be empty")])
def test_split_by_fraction_refuses_an_empty_part_with_a_clear_message(n, fraction, empty):
    with pytest.raises(ValueError, match=empty):
        data.split_by_fraction(torch.zeros(n, 2), torch.zeros(n, dtype=torch.int64), fraction)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_by_fraction_refuses_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        data.split_by_fraction(torch.zeros(10, 2), torch.zeros(10, dtype=torch.int64), fraction)


def test_split_by_fraction_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match="one label per row"):
        data.split_by_fraction(torch.zeros(10, 2), torch.zeros(9, dtype=torch.int64), 0.2)


def test_load_vision_splits_reads_tiny_files_and_splits_by_fraction(tmp_path):
    _tiny_mnist(tmp_path, n=12)                              # 12 training and 12 test images
    X_tr, X_va, X_te, y_tr, y_va, y_te = data.load_vision_splits("mnist", 0.25, root=tmp_path, download=False)
    assert (X_tr.shape, X_va.shape, X_te.shape) == ((9, 1, 28, 28), (3, 1, 28, 28), (12, 1, 28, 28))
    assert X_tr.dtype == torch.float32 and y_tr.dtype == torch.int64 and 0 <= X_tr.min() and X_tr.max() <= 1
    assert sorted(torch.cat([y_tr, y_va]).tolist()) == sorted((np.arange(12) % 10).tolist())
    assert torch.equal(y_te, torch.arange(12) % 10)
    ds = data.load_vision("mnist", train=True, root=tmp_path, download=False)
    first_val = ds[int(torch.randperm(12, generator=torch.Generator().manual_seed(0))[0])][0]
    assert torch.equal(X_va[0], first_val)                   # the same pixels as torchvision's ToTensor
    flat = data.load_vision_splits("mnist", 0.25, root=tmp_path, download=False, flatten=True)
    assert flat[0].shape == (9, 784) and torch.equal(flat[0], X_tr.flatten(1))


def test_load_vision_splits_refuses_a_split_that_leaves_nothing(tmp_path):
    _tiny_mnist(tmp_path, n=6)
    with pytest.raises(ValueError, match="validation set would be empty"):
        data.load_vision_splits("mnist", 0.05, root=tmp_path, download=False)
