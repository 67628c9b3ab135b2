"""``export_script``: the standalone training file with a run's configuration written into it."""

from __future__ import annotations

import ast
import functools
import json
import threading
from pathlib import Path

from lossviz import losses
from lossviz.config import TrainConfig
from lossviz.lab.records import describe

STANDALONE = Path(__file__).with_name("standalone.py")
"""The shipped file; only its ``CONFIG = {...}`` literal changes from one export to the next."""

_AST_LOCK = threading.Lock()
"""CPython 3.11 builds ASTs with a recursion counter that another thread can upset ("SystemError: AST
constructor recursion depth mismatch", python/cpython#106905), and Streamlit runs each session's script in a
thread of its own: 10 of 1,200 exports failed in 8 threads without this lock."""


def script_config(config: TrainConfig, limit_train: int | None = None) -> dict:
    """The ``CONFIG`` dict of the exported file: a label, the config's fields (canonical loss name), ``limit_train``."""
    return {"label": describe(config), **config.to_dict(), "loss": losses.canonical_name(config.loss),
            "limit_train": None if limit_train is None else int(limit_train)}


def config_literal(values: dict) -> str:
    """``CONFIG = {...}`` as Python source, one key per line (strings double-quoted, like the file's own)."""
    def literal(value) -> str:
        return json.dumps(value) if isinstance(value, str) else repr(value)

    body = "".join(f"    {json.dumps(key)}: {literal(value)},\n" for key, value in values.items())
    source = "CONFIG = {\n" + body + "}\n"
    with _AST_LOCK:
        parsed = ast.literal_eval(source.split("=", 1)[1].strip())
    if parsed != values:
        raise ValueError(f"cannot write {values!r} as a Python literal")
    return source


def config_lines(text: str) -> tuple[int, int]:
    """0-based first and past-the-end lines of the top-level ``CONFIG = {...}`` assignment in ``text``."""
    with _AST_LOCK:
        tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["CONFIG"]:
            return node.lineno - 1, node.end_lineno
    raise ValueError(f"{STANDALONE.name} has no top-level CONFIG = {{...}}")


def export_script(config: TrainConfig, limit_train: int | None = None) -> str:
    """A standalone Python file (jax, optax, numpy) that trains ``config`` on MNIST and prints its history.

    The file is :data:`STANDALONE` with its ``CONFIG`` literal replaced;
    ``limit_train`` becomes the default of ``--limit-train`` (the run's
    training subset).  The script mirrors the engine: Keras-default init from
    ``fold_in(PRNGKey(seed), 0)``, epoch ``e`` shuffled by numpy's
    ``default_rng((seed, e)).permutation(n)``, the partial last batch
    trained, and the same loss forms and optimizer settings.

    Args:
      config: an MNIST configuration (task ``autoencoder`` or ``classifier``).
      limit_train: the run's training subset, or ``None`` for all 60,000 images.

    Returns:
      The file's text.
    """
    if config.task not in ("autoencoder", "classifier"):
        raise ValueError("only MNIST runs (autoencoder, classifier) can be exported as a script")
    head, tail = _standalone_around_config()
    return head + config_literal(script_config(config, limit_train)) + tail


@functools.cache
def _standalone_around_config() -> tuple[str, str]:
    """:data:`STANDALONE`'s text before and after its ``CONFIG`` literal, read and parsed once per process."""
    text = STANDALONE.read_text(encoding="utf-8")
    first, end = config_lines(text)
    lines = text.splitlines(keepends=True)
    return "".join(lines[:first]), "".join(lines[end:])


def script_filename(config: TrainConfig) -> str:
    """``lossviz_<preset or task>_seed<seed>.py``, the exported file's download name."""
    return f"lossviz_{describe(config).split(' ')[0]}_seed{config.seed}.py"
