"""The smoothed loss curve: a debiased exponential moving average, vectorised with numpy."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

_MAX_GROWTH = 1e100
"""Largest factor β⁻ʲ a block may scale its values by; far from float64's overflow at 1.8e308."""


def debiased_ema(values: Sequence[float], smoothing: float) -> np.ndarray:
    r"""Exponential moving average with Adam-style bias correction.

    .. math:: s_0 = 0,\quad s_t = \beta s_{t-1} + (1 - \beta) x_t,\quad
              \hat s_t = \frac{s_t}{1 - \beta^t}

    with :math:`\beta` = ``smoothing`` in [0, 1).  Without the correction the
    curve would start near 0; with it, :math:`\hat s_1 = x_1` and every
    :math:`\hat s_t` is a weighted mean of :math:`x_1 … x_t` with weights
    :math:`\propto \beta^{t-k}`.  ``smoothing=0`` returns the values.

    The recursion is unrolled into cumulative sums, block by block:
    inside a block starting after :math:`s_b`,
    :math:`s_{b+j} = \beta^{j} s_b + (1-\beta)\,\beta^{j-1} \sum_{i=1}^{j} \beta^{1-i} x_{b+i}`;
    a block is as long as :math:`\beta^{-j}` stays below 1e100, so nothing
    overflows and a redraw of 100,000 steps is a few numpy calls, not a
    Python loop per point.

    Args:
      values: the series, shape (n,); NaN or ∞ propagate to every later value, as in the recursion.
      smoothing: β in [0, 1).

    Returns:
      float64 array of shape (n,): :math:`\hat s_1 … \hat s_n`.

    >>> debiased_ema([1.0, 3.0], 0.5).tolist()
    [1.0, 2.3333333333333335]
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {smoothing}")
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if smoothing == 0.0 or x.size == 0:
        return x.copy()
    beta = float(smoothing)
    block = max(1, int(math.log(_MAX_GROWTH) / -math.log(beta)))
    powers = beta ** np.arange(min(block, x.size), dtype=np.float64)  # β⁰ … β^(L-1)
    out = np.empty_like(x)
    carry = 0.0  # s_b, the average before the block
    for start in range(0, x.size, block):
        chunk = x[start:start + block]
        p = powers[:chunk.size]
        # s_{b+j} for j = 1..L: β^j s_b + (1-β) β^(j-1) Σ_{i≤j} x_{b+i} / β^(i-1)
        out[start:start + chunk.size] = beta * p * carry + (1.0 - beta) * p * np.cumsum(chunk / p)
        carry = out[start + chunk.size - 1]
    steps = np.arange(1, x.size + 1, dtype=np.float64)
    return out / -np.expm1(steps * math.log(beta))  # 1 - β^t, exact even for tiny β^t
