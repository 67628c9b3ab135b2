"""Once per server process: JAX's on-disk compilation cache, and a background warm-up of what visitors need.

Streamlit-free (the UI starts it: :func:`lossviz.ui.data.warm_up`).  Two things make a server fast
for its first visitors:

- **The compilation cache** (:func:`configure_compilation_cache`): every XLA program compiled in this
  process is kept in ``settings.jax_cache_dir()``, so the next process (a restart, a replica, a Ray
  worker) loads it in milliseconds instead of compiling it again for seconds.
- **The warm-up** (:func:`start`): in a background thread, MNIST is loaded, each lab preset's
  dataset is put on the device (the same shared copy the run workers use) and its run is started
  and stopped after its first chunk, which compiles exactly what a Train press needs: the initial
  state and the training chunk, with the run's own static arguments and shapes.  A Train press
  after that shows its first point in about one chunk's time.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lossviz import settings

log = logging.getLogger(__name__)

MIN_COMPILE_SECONDS = 0.1
"""Programs that compiled faster than this are not written to the on-disk cache (reading costs too)."""

FIRST_VISIT_GRACE_SECONDS = 3.0
"""The warm-up waits this long after the process's first script run starts it, so that the first visitor's
page is drawn before the warm-up takes the CPU: measured on 2 cores, a fresh server's first Home visit took
4.9–5.5 s with the warm-up running beside it and 3.8–3.9 s without. A Train press in those seconds compiles
its own programs (from the disk cache when it has them)."""

_configured: Path | None = None
_configure_lock = threading.Lock()


def configure_compilation_cache(path: str | Path | None = None) -> Path:
    """Point JAX's persistent compilation cache at ``path`` (default ``settings.jax_cache_dir()``), once.

    The one place lossviz turns the cache on: the app process and its in-process workers share it
    (Ray workers get the same folder through ``JAX_COMPILATION_CACHE_DIR``).  Entries of any size are
    kept if their compilation took at least :data:`MIN_COMPILE_SECONDS`.

    Returns:
      The folder in use (created if missing).  Later calls return it unchanged.
    """
    global _configured
    with _configure_lock:
        if _configured is not None:
            return _configured
        import jax

        folder = Path(path or settings.jax_cache_dir()).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only home: compile as before, never fail the app for a cache
            log.warning("JAX compilation cache disabled: %s", err)
            return folder
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _configured = folder
        return folder


@dataclass
class WarmUp:
    """A warm-up in progress: what is done so far (``steps``: name → seconds) and the error, if one ended it."""

    steps: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def timed(self, name: str, work: Callable[[], object]):
        started = time.perf_counter()
        result = work()
        self.steps[name] = time.perf_counter() - started
        return result


def warm_presets(load_mnist: Callable[[], object], presets: tuple[str, ...] | None = None,
                 warm: WarmUp | None = None) -> WarmUp:
    """Load MNIST, then compile each lab preset's first chunk on its shared dataset (in this thread).

    Args:
      load_mnist: returns ``data.load_mnist()``'s tuple; pass the loader the run service uses, so the
        datasets made here are the ones its workers find (they are shared by the identity of the data).
      presets: names in ``config.PRESETS`` (default: the MNIST lab's, the page's default first).
      warm: where to record progress (a new :class:`WarmUp` by default).

    Returns:
      The :class:`WarmUp`, done.
    """
    from lossviz import engine, lab
    from lossviz.config import PRESETS
    from lossviz.runs.workers import shared_dataset

    warm = warm or WarmUp()
    try:
        mnist = warm.timed("mnist", load_mnist)
        for name in presets or lab.MNIST_PRESETS:
            config = PRESETS[name]
            dataset = warm.timed(f"{name}:data", lambda: shared_dataset(config, mnist))
            # A run stopped after its first chunk compiles what a Train press needs, with its exact arguments.
            warm.timed(name, lambda: engine.run(config, dataset, should_stop=lambda: True))
    except Exception as err:  # noqa: BLE001  (a warm-up must never take the server down)
        warm.error = f"{type(err).__name__}: {err}"
        log.warning("warm-up stopped: %s", warm.error)
    else:
        log.info("warm-up done: %s", ", ".join(f"{name} {seconds:.1f} s" for name, seconds in warm.steps.items()))
    finally:
        warm.done.set()
    return warm


def start(load_mnist: Callable[[], object], grace: float = FIRST_VISIT_GRACE_SECONDS) -> WarmUp:
    """Turn the compilation cache on and, unless ``settings.warmup()`` says no, warm the presets in a daemon
    thread that first waits ``grace`` seconds (:data:`FIRST_VISIT_GRACE_SECONDS`)."""
    configure_compilation_cache()
    warm = WarmUp()
    if not settings.warmup():
        warm.done.set()
        return warm

    def after_grace() -> None:
        time.sleep(grace)
        warm_presets(load_mnist, None, warm)

    warm.thread = threading.Thread(target=after_grace, name="lossviz-warm-up", daemon=True)
    warm.thread.start()
    return warm
