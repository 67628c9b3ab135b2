"""The exported script: a real module that runs without lossviz and trains exactly as the engine does.

The script is run in a subprocess whose Python cannot import lossviz (``-I`` drops PYTHONPATH, the current
directory and user site-packages; ``sys.modules["lossviz"] = None`` makes any ``import lossviz`` raise), on a
small MNIST subset written to a temporary ``.npz``, and its first epoch is compared with ``engine.run``'s.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

from lossviz import data, losses
from lossviz.config import PRESETS, TrainConfig
from lossviz import engine
from lossviz.engine import models
from lossviz.lab.export import export_script, keras_snippet, script_filename
from lossviz.lab.export import script as export_module

N_TRAIN, N_TEST = 300, 100
RTOL = 1e-6
"""Script vs engine after one epoch, float32 on the same CPU: the same init, shuffles, batches, loss forms and
updates, so only the order of float32 reductions differs (measured 2026-12-04: at most 8e-8 relative over two
epochs of four configurations)."""

# Runs a script as __main__ in a Python that cannot import lossviz, whatever sys.path holds.
ISOLATED = ("import runpy, sys; sys.modules['lossviz'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")


def isolated_python(script, *args, cwd) -> subprocess.Popen:
    """Start ``python script args`` in a Python that cannot import lossviz; ``.communicate()`` waits for it."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"} if jax.default_backend() == "cpu" else dict(os.environ)
    return subprocess.Popen([sys.executable, "-I", "-c", ISOLATED, str(script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)


def finished(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def subset(mnist, tmp_path_factory):
    """The first N_TRAIN/N_TEST MNIST images, and the path of an ``mnist.npz`` holding just them."""
    (x_tr, l_tr), (x_te, l_te) = mnist
    small = (x_tr[:N_TRAIN], l_tr[:N_TRAIN]), (x_te[:N_TEST], l_te[:N_TEST])
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    np.savez(path, x_train=small[0][0], y_train=small[0][1], x_test=small[1][0], y_test=small[1][1])
    return small, path


def test_the_isolated_python_cannot_import_lossviz(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import lossviz\n")
    code, _, err = finished(isolated_python(probe, cwd=tmp_path))
    assert code == 1 and "ModuleNotFoundError: import of lossviz halted" in err, err[-500:]


@pytest.mark.parametrize("config", [
    PRESETS["classifier-cce"].replace(batch_size=64, seed=3),
    # softmax + BCE on raw pixels, RMSprop: the engine's special loss form and another optimizer
    PRESETS["seed-autoencoder"].replace(hidden=(16,), optimizer="rmsprop", batch_size=64),
], ids=["classifier-cce", "softmax-bce-rmsprop"])
def test_exported_script_runs_alone_and_reproduces_the_engine(tmp_path, subset, config):
    small, npz = subset
    path = tmp_path / script_filename(config)
    path.write_text(export_script(config, limit_train=N_TRAIN))
    script = isolated_python(path, "--epochs", 1, "--mnist", npz, cwd=tmp_path)
    one_epoch = config.replace(epochs=1)  # the engine trains here while the script trains in its process
    expected = engine.run(one_epoch, engine.prepare(one_epoch, small)).epochs[0]
    code, out, err = finished(script)
    assert code == 0, err[-2000:]
    epoch, last = (json.loads(line) for line in out.splitlines())
    assert last == {"status": "finished", "final": epoch} and epoch["epoch"] == 1
    assert epoch["loss"] == pytest.approx(expected["loss"], rel=RTOL)
    assert epoch["test_loss"] == pytest.approx(expected["test_loss"], rel=RTOL)
    if config.task == "classifier":
        assert epoch["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-9)
    else:
        assert "test_accuracy" not in epoch


def test_exported_script_is_valid_python_that_names_no_lossviz_module(tmp_path):
    for name in ("seed-autoencoder", "autoencoder-sigmoid-mse", "classifier-mse"):
        path = tmp_path / f"{name}.py"
        path.write_text(export_script(PRESETS[name], limit_train=1000))
        subprocess.run([sys.executable, "-m", "py_compile", str(path)], check=True, capture_output=True)
        imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, ast.ImportFrom) and node.module}
        assert "lossviz" not in imported and {"jax", "optax", "numpy"} <= imported
    for linter in ("ruff", "pyflakes"):  # whichever the venv has; neither is a dependency
        if importlib.util.find_spec(linter) is None:
            continue
        args = ["check", "--select", "E9,F", str(tmp_path)] if linter == "ruff" else [str(tmp_path)]
        proc = subprocess.run([sys.executable, "-m", linter, *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_export_writes_only_the_config_literal():
    standalone = export_module.STANDALONE.read_text()
    config = PRESETS["seed-autoencoder"].replace(loss="mse", seed=7, hidden=(32, 8), learning_rate=3e-4)
    exported = export_script(config, limit_train=1000)
    namespace = {}
    first, end = export_module.config_lines(exported)
    exec("".join(exported.splitlines(True)[first:end]), namespace)
    assert namespace["CONFIG"] == {**config.to_dict(), "label": "autoencoder [32-8] softmax+MSE adam 0.0003 raw",
                                   "loss": "mean_squared_error", "limit_train": 1000}
    a, b = export_module.config_lines(standalone)
    outside = standalone.splitlines(True)
    exported_lines = exported.splitlines(True)
    assert exported_lines[:first] == outside[:a] and exported_lines[end:] == outside[b:]
    # The file as shipped holds the export of the preset its literal names, so it runs as it is.
    assert export_script(PRESETS["classifier-cce"]) == standalone
    with pytest.raises(ValueError, match="only MNIST runs"):
        export_script(PRESETS["blobs-cce"])


def test_exported_script_rejects_bad_flags(tmp_path):
    path = tmp_path / "exported.py"
    path.write_text(export_script(PRESETS["classifier-cce"]))
    code, _, err = finished(isolated_python(path, "--epochs", 0, cwd=tmp_path))
    assert code == 2 and "--epochs must be at least 1" in err


@pytest.fixture(scope="module")
def standalone():
    """The shipped file loaded as a module of its own (not through lossviz's package)."""
    spec = importlib.util.spec_from_file_location("standalone_copy", export_module.STANDALONE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear", "relu", "tanh"])
def test_the_scripts_copy_of_the_losses_matches_the_engine_and_its_gradient(standalone, output):
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(18, 10)).astype(np.float32)
    # Targets in [0, 1], one-hot digits and raw 0-255 pixels, six examples of each (losses are per example).
    y = np.concatenate([rng.uniform(size=(6, 10)).astype(np.float32), data.one_hot(rng.integers(0, 10, 6)),
                        rng.integers(0, 256, (6, 10)).astype(np.float32)])
    for loss in losses.NAMES:
        config = TrainConfig(task="classifier", hidden=(), output_activation=output, loss=loss,
                             learning_rate=0.1, batch_size=6, epochs=1)
        ours, ours_grad = jax.value_and_grad(lambda v: standalone.loss_per_example(v, y, output, loss).sum())(z)
        theirs, theirs_grad = jax.value_and_grad(lambda v: engine.output_loss(config, v, y).sum())(z)
        np.testing.assert_allclose(standalone.loss_per_example(z, y, output, loss), engine.output_loss(config, z, y),
                                   rtol=1e-6, atol=1e-6, err_msg=f"{output}+{loss}")
        np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-5, atol=1e-6, err_msg=f"gradient of {output}+{loss}")


def test_the_scripts_copies_of_init_optimizers_and_data_constants_match_the_engine(standalone):
    key = jax.random.fold_in(jax.random.PRNGKey(4), 0)
    for (k1, b1), (k2, b2) in zip(standalone.init(key, [784, 16, 10], 1.0), models.init(key, [784, 16, 10], 1.0)):
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(b1, b2)
    np.testing.assert_array_equal(standalone.epoch_order(4, 2, 300), engine.epoch_order(4, 2, 300, 300))
    params = {"w": np.linspace(-1, 1, 5, dtype=np.float32)}
    grads = {"w": np.linspace(2, -3, 5, dtype=np.float32)}
    for name in ("adam", "sgd", "rmsprop"):
        ours, theirs = standalone.make_optimizer(name, 0.01), engine.optimizer(name, 0.01)
        s1, s2 = ours.init(params), theirs.init(params)
        for _ in range(3):
            u1, s1 = ours.update(grads, s1, params)
            u2, s2 = theirs.update(grads, s2, params)
        np.testing.assert_array_equal(u1["w"], u2["w"], err_msg=name)
    assert (standalone.KERAS_MNIST_URL, standalone.KERAS_MNIST_SHA256) == (data.KERAS_URL, data.KERAS_SHA256)
    assert standalone.EPSILON == losses.EPSILON
    x, labels = (np.arange(2 * 784) % 256).astype(np.uint8).reshape(2, 28, 28), np.array([3, 5])
    for pixels in ("unit", "raw"):
        dataset = engine.prepare(PRESETS["classifier-cce"].replace(pixels=pixels), ((x, labels), (x, labels)))
        np.testing.assert_array_equal(standalone.to_inputs(x, pixels), np.asarray(dataset.train_inputs()))


# ---------------------------------------------------------------- Keras code


@pytest.mark.parametrize("name", list(PRESETS))
def test_keras_snippet_of_each_preset(name):
    config = PRESETS[name]
    code = keras_snippet(config)
    compile(code, f"<{name}>", "exec")  # valid Python
    dense = re.findall(r'layers\.Dense\((\d+), activation="(\w+)"', code)
    outputs = {"autoencoder": 784, "classifier": 10, "blobs": 3}[config.task]
    assert dense == [(str(w), config.hidden_activation) for w in config.hidden] + [
        (str(outputs), config.output_activation)]
    assert f'loss="{config.loss}"' in code
    optimizer = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}[config.optimizer]
    assert f"keras.optimizers.{optimizer}(learning_rate={config.learning_rate:g})" in code
    assert f"batch_size={config.batch_size}, epochs={config.epochs}" in code
    assert ("/ 255.0" in code) == (config.pixels == "unit" and config.task != "blobs")
    assert ("Constant(1)" in code) == (config.bias_init == 1.0)
    assert ('metrics=["accuracy"]' in code) == (config.task != "autoencoder")
    assert ("pre-softmax logits" in code) == (name == "seed-autoencoder")
    assert ("sklearn" in code) is False


def test_keras_snippet_for_blobs_trains_on_the_apps_own_points(monkeypatch):
    config = PRESETS["blobs-cce"]
    code = keras_snippet(config)
    # Run the snippet's data lines for real; only keras itself (not installed here) is a stand-in.
    utils = types.SimpleNamespace(to_categorical=lambda labels, k: np.eye(k, dtype=np.float32)[labels])
    keras_stand_in = types.ModuleType("keras")
    keras_stand_in.utils, keras_stand_in.layers = utils, types.ModuleType("keras.layers")
    monkeypatch.setitem(sys.modules, "keras", keras_stand_in)
    namespace = {}
    exec(code.split("model = keras.Sequential")[0], namespace)
    dataset = engine.prepare(config)
    np.testing.assert_array_equal(namespace["x_train"], np.asarray(dataset.x_train))
    np.testing.assert_array_equal(namespace["x_test"], np.asarray(dataset.x_test))
    np.testing.assert_array_equal(namespace["y_train"], np.asarray(dataset.y_train))
    np.testing.assert_array_equal(namespace["y_test"], np.asarray(dataset.y_test))
    assert namespace["x_train"].shape == (800, 2) and namespace["x_test"].shape == (200, 2)


def test_exports_from_many_threads_at_once():
    """Streamlit runs each session's script in its own thread; CPython 3.11's AST builder is not thread-safe
    (a load test's lab page once died of "AST constructor recursion depth mismatch")."""
    import threading

    from lossviz.lab.export.script import STANDALONE, config_lines

    text = STANDALONE.read_text(encoding="utf-8")
    config = PRESETS["classifier-cce"]
    errors = []

    def work():
        for _ in range(100):
            try:
                config_lines(text)
                export_script(config, limit_train=1000)
            except Exception as err:  # noqa: BLE001  (counted below)
                errors.append(repr(err))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
