"""The landscape line of ``python -m lossviz bench``: a 41 × 41 surface of the seed autoencoder on 2,000 images.

Its speed is stated against this machine's f32 matmul peak measured in the
same run (machines of this kind differ by ×3), and the ways of evaluating the
grid are timed side by side on the same rows, so the choice in
:func:`lossviz.lessons.landscape.default_batch_size` stays a measurement.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from lossviz import data, engine
from lossviz.config import PRESETS
from lossviz.lessons import landscape as ls

RESOLUTION, IMAGES = 41, 2000
METHODS = (("linear-first", None), ("linear-first", 8), ("direct", None))
"""(method, lax.map batch_size): the first layer once + one point at a time, the same vmapped by 8, all per point."""


def matmul_peak_gflops(size: int = 2048, repeats: int = 3) -> float:
    """The best of ``repeats`` timings of a chain of 8 dependent ``size``² f32 matmuls, in GFLOP/s."""
    a = jnp.ones((size, size), jnp.float32) / size
    chain = jax.jit(lambda a: jax.lax.fori_loop(0, 8, lambda i, b: b @ a, a))
    chain(a).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        chain(a).block_until_ready()
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 * 8 / best / 1e9


def _timed(config, centre, d1, d2, alphas, betas, images, method, batch_size, rows_per_block) -> float:
    kwargs = dict(method=method, batch_size=batch_size, rows_per_block=rows_per_block)
    ls.evaluate_grid(config, centre, d1, d2, alphas, betas[:rows_per_block], images, **kwargs)  # compile
    started = time.perf_counter()
    ls.evaluate_grid(config, centre, d1, d2, alphas, betas, images, **kwargs)
    return time.perf_counter() - started


def bench(mnist=None, resolution: int = RESOLUTION, images: int = IMAGES, compare_rows: int = 8,
          peak_size: int = 2048) -> dict:
    """Seconds and GFLOP/s of the full surface (the default method), and of each method on ``compare_rows`` rows.

    FLOPs are counted as a full forward pass per point (``2·images·Σ fan_in·fan_out``,
    what the issue's 1.48 TFLOP counts); the linear-first-layer method does
    less work for the same numbers, so its rate is an *effective* one.
    """
    config = PRESETS["seed-autoencoder"]
    dataset = engine.prepare(config, mnist if mnist is not None else data.load_mnist(),
                               limit_train=images, limit_test=8)
    centre = ls.as_layers(engine.init_state(config, dataset)[0])
    d1, d2 = ls.random_directions(centre, seed=0)
    probe = ls.probe(dataset, images)
    axis = ls.grid_axis(1.0, resolution)
    per_point = ls.flops_per_point(centre, images)
    peak = matmul_peak_gflops(peak_size)
    rows = ls.rows_per_call(centre, resolution, images)
    methods = {}
    for method, batch_size in METHODS:
        seconds = _timed(config, centre, d1, d2, axis, axis[:compare_rows], probe, method, batch_size, rows)
        methods[f"{method}, batch_size={batch_size}"] = {"seconds": round(seconds, 3),
                                                         "gflops": per_point * resolution * compare_rows / seconds / 1e9}
    default = ls.default_batch_size()
    seconds = _timed(config, centre, d1, d2, axis, axis, probe, "linear-first", default, rows)
    peak = max(peak, matmul_peak_gflops(peak_size))  # after as before: other processes' load lowers both alike
    gflops = per_point * resolution**2 / seconds / 1e9
    for timing in methods.values():
        rate = timing.pop("gflops")
        timing.update(effective_gflops=round(rate, 1), share_of_peak=round(rate / peak, 3))
    return {
        "surface": f"seed autoencoder, {resolution}x{resolution} points, {images} images",
        "tflop": round(per_point * resolution**2 / 1e12, 3),
        "seconds": round(seconds, 3), "effective_gflops": round(gflops, 1),
        "matmul_peak_gflops": round(peak, 1), "share_of_peak": round(gflops / peak, 3),
        "method": f"linear-first, batch_size={default}", "rows_per_call": rows,
        f"methods_on_{compare_rows}_rows": methods, "device": jax.devices()[0].platform,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench(), indent=1))
