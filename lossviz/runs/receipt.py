"""A run's receipt: what computed it (lossviz, JAX and optax versions, device), its seed and id, and
how long compiling and a steady step took.

Streamlit-free; the worker builds one per run and the page shows it with the run and in its JSON download.
"""

from __future__ import annotations

import platform

import numpy as np


def environment() -> dict:
    """The software and device a run computes on in this process."""
    import jax
    import optax

    import lossviz

    device = jax.devices()[0]
    return {
        "lossviz": lossviz.__version__,
        "jax": jax.__version__,
        "optax": optax.__version__,
        "python": platform.python_version(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', '') or device}",
        "device_count": jax.device_count(),
    }


def timing(chunk_marks: list[tuple[float, int]]) -> dict:
    """Compile seconds and steady step seconds from the end of each chunk.

    .. math:: t_{step} = \\frac{t_n - t_1}{s_n - s_1}, \\quad
              t_{compile} = \\max(0,\\ t_1 - s_1 \\cdot t_{step})

    Args:
        chunk_marks: ``(elapsed seconds since the run started, steps done)`` after each chunk, in order.

    Returns:
        ``{"compile_seconds", "step_seconds"}``: the first chunk's time beyond what its steps take at the
        steady rate (mostly tracing and compiling; near zero when the program was already compiled), and
        the mean seconds per step after the first chunk (``None`` for both with fewer than two chunks).
    """
    if len(chunk_marks) < 2:
        first = chunk_marks[0][0] if chunk_marks else None
        return {"compile_seconds": first, "step_seconds": None}
    (t1, s1), (tn, sn) = chunk_marks[0], chunk_marks[-1]
    step = (tn - t1) / max(sn - s1, 1)
    return {"compile_seconds": max(0.0, t1 - s1 * step), "step_seconds": step}


def receipt(run_id: str, seed: int, chunk_marks: list[tuple[float, int]]) -> dict:
    """The whole receipt of run ``run_id`` (JSON-ready values)."""
    out = {"run_id": run_id, "seed": int(seed), **environment(), **timing(chunk_marks)}
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def receipt_lines(receipt_: dict) -> list[str]:
    """The receipt as short human lines (the page's caption and the CLI's output)."""
    if not receipt_:
        return []
    step = receipt_.get("step_seconds")
    compiled = receipt_.get("compile_seconds")
    return [
        f"run {receipt_.get('run_id', '?')} · seed {receipt_.get('seed', '?')}",
        f"lossviz {receipt_.get('lossviz', '?')} · JAX {receipt_.get('jax', '?')} · optax {receipt_.get('optax', '?')}"
        f" · {receipt_.get('device', '?')}",
        "compile " + ("–" if compiled is None else f"{compiled:.2f} s")
        + " · steady step " + ("–" if step is None else f"{step * 1e3:.3f} ms"),
    ]
