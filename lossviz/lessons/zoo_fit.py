r"""Fits for the "Loss zoo" page: every chosen loss trained at once, in one vmapped, jitted program.

Two tasks share one trainer:

* regression: a line (or a small tanh MLP) fitted to seeded 1-D points, a
  chosen fraction of which are outliers far above the line;
* classification: a small MLP on 2-D points in classes (the app's seeded
  blobs with a chosen fraction of flipped labels, or an uploaded CSV).
  Binary losses score each class's logit one-vs-rest; multiclass losses the
  logit vector.

Every member starts from the same weights and sees the same data (full
batch, Adam), so only the loss differs.  Members are padded to
:data:`~lossviz.lessons.zoo.MAX_CHOSEN` and the loss is chosen inside the
program with ``lax.switch`` (under ``vmap`` it evaluates every branch and
selects), so one compiled program serves every choice of losses.
"""

from __future__ import annotations

from functools import partial
from typing import Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import data
from lossviz.cache import BoundedCache
from lossviz.engine import models
from lossviz.lessons import fit as fitting
from lossviz.lessons.zoo import MAX_CHOSEN, family_names, zoo
from lossviz.lessons.zoo_catalog import BINARY, MULTICLASS, REGRESSION, hyper_vector

REGRESSION_TASK, CLASSIFICATION_TASK = "regression", "classification"
TASK_FAMILIES = {REGRESSION_TASK: (REGRESSION,), CLASSIFICATION_TASK: (BINARY, MULTICLASS)}
MODELS = {"line": (1, 1), "MLP": (1, 16, 1)}
CLASSIFIER_HIDDEN = 32
LEARNING_RATES = {REGRESSION_TASK: 0.05, CLASSIFICATION_TASK: 0.02}
CHUNK_STEPS = 50
DRAW_LIVE_AFTER_SECONDS = 0.5
"""A fit still training after this long is drawn after every chunk; a quicker one is drawn once, finished
(each redraw of its two charts costs the browser more than the chunk: a slider step waited 1.9 s for 8)."""
TRUE_SLOPE, TRUE_INTERCEPT, NOISE = 0.8, 0.5, 0.3
REGRESSION_POINTS, BLOB_POINTS, BLOB_CLASSES, BLOB_STD = 120, 300, 3, 2.0
BLOB_BOX = 6.0  # centres in [−6, 6]²: the blobs touch, so the losses draw different borders


def branch_names(task: str) -> tuple[str, ...]:
    """The losses one program can switch between: every drawn loss of the task's families."""
    return tuple(family_names(*TASK_FAMILIES[task]))


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


class Points(NamedTuple):
    x: np.ndarray          # (n, d) float32 inputs
    y: np.ndarray          # (n,) float32 targets (regression) or int32 labels (classification)
    clean: np.ndarray      # (n,) targets before outliers / label noise (the same as y for uploads)
    corrupted: np.ndarray  # (n,) bool: an outlier or a flipped label
    classes: int           # 0 for regression


def regression_points(outlier_fraction: float, seed: int, n: int = REGRESSION_POINTS) -> Points:
    r"""Points :math:`y = 0.8x + 0.5 + \mathcal N(0, 0.3^2)` on :math:`x \in [-3, 3]`; a fraction
    moved 5–9 units up (outliers on one side, so they drag a non-robust fit)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-3.0, 3.0, n)).astype(np.float32)
    clean = (TRUE_SLOPE * x + TRUE_INTERCEPT + rng.normal(0.0, NOISE, n)).astype(np.float32)
    corrupted = np.zeros(n, bool)
    corrupted[rng.permutation(n)[: int(round(outlier_fraction * n))]] = True
    y = np.where(corrupted, clean + rng.uniform(5.0, 9.0, n), clean).astype(np.float32)
    return Points(x[:, None], y, clean, corrupted, 0)


def blob_points(label_noise: float, seed: int, n: int = BLOB_POINTS) -> Points:
    """The app's seeded 2-D blobs (:func:`lossviz.data.make_blobs`), a fraction relabelled to another class."""
    x, clean = data.make_blobs(n, BLOB_CLASSES, BLOB_STD, seed, center_box=(-BLOB_BOX, BLOB_BOX))
    return with_label_noise(x, clean.astype(np.int32), label_noise, seed)


def with_label_noise(x: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> Points:
    """``labels`` with a seeded ``fraction`` of them moved to a different class, uniformly."""
    classes = int(labels.max()) + 1
    rng = np.random.default_rng(seed + 1)
    corrupted = np.zeros(len(labels), bool)
    corrupted[rng.permutation(len(labels))[: int(round(fraction * len(labels)))]] = True
    shift = rng.integers(1, max(classes, 2), len(labels))
    noisy = np.where(corrupted, (labels + shift) % classes, labels).astype(np.int32)
    return Points(np.asarray(x, np.float32), noisy, labels, corrupted, classes)


def padded_size(n: int) -> int:
    """Rows after padding: a few sizes only, so uploads of similar length share one compiled program."""
    size = 128
    while size < n:
        size *= 2
    return size


# --------------------------------------------------------------------------
# The vmapped trainer
# --------------------------------------------------------------------------


class FitState(NamedTuple):
    params: models.Params      # every leaf has a leading member axis
    opt_state: optax.OptState  # likewise


def _branch(task: str, name: str):
    loss = zoo()[name]
    if task == REGRESSION_TASK:
        return lambda out, y, h: loss(out[:, 0], y, h)
    if loss.family == BINARY:  # one-vs-rest: each class's logit is a binary score
        def one_vs_rest(logits, y, h):
            targets = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
            return loss(logits.reshape(-1), targets.reshape(-1), h).reshape(logits.shape).sum(-1)
        return one_vs_rest
    return lambda logits, y, h: loss(logits, y, h)


def _member_loss(params, x, y, mask, loss_id, h, task: str):
    r"""Masked mean loss of one member, the loss picked by ``loss_id`` among :func:`branch_names`.

    .. math:: L = \sum_i m_i\,\ell(f_\theta(x_i), y_i) \big/ \sum_i m_i
    """
    out = models.apply(params, x, "tanh")
    per_example = jax.lax.switch(loss_id, [_branch(task, n) for n in branch_names(task)], out, y, h)
    return jnp.sum(per_example * mask) / jnp.sum(mask)


def _regression_objective(params, x, y, mask, loss_id, h):
    return _member_loss(params, x, y, mask, loss_id, h, REGRESSION_TASK)


def _classification_objective(params, x, y, mask, loss_id, h):
    return _member_loss(params, x, y, mask, loss_id, h, CLASSIFICATION_TASK)


_OBJECTIVES = {REGRESSION_TASK: _regression_objective, CLASSIFICATION_TASK: _classification_objective}
_ADAM = optax.scale_by_adam()  # the direction; the learning rate is applied by fitting.descend


@partial(jax.jit, static_argnames=("task", "steps"))
def fit_chunk(state: FitState, loss_ids: jax.Array, hypers: jax.Array, x: jax.Array, y: jax.Array,
              mask: jax.Array, task: str, steps: int):
    """``steps`` full-batch Adam steps of every member at once: :func:`lossviz.lessons.fit.fit_chunk`, vmapped.

    Args:
      state: stacked parameters and optimiser states, leading axis = members.
      loss_ids: ``(members,)`` int32 indices into :func:`branch_names`.
      hypers: ``(members, len(PARAMS))`` loss parameters per member.
      x, y, mask: the (padded) data and its 0/1 row mask, shared by all members.

    Returns:
      The new state and the loss before each step, ``(members, steps)``.
    """
    learning_rate = jnp.float32(LEARNING_RATES[task])

    def member(params, opt_state, loss_id, h):
        return fitting.fit_chunk(params, opt_state, learning_rate, (x, y, mask, loss_id, h),
                                 objective=_OBJECTIVES[task], direction=_ADAM, steps=steps)

    params, opt_state, losses = jax.vmap(member)(state.params, state.opt_state, loss_ids, hypers)
    return FitState(params, opt_state), losses


def init_state(widths: Sequence[int], seed: int, members: int = MAX_CHOSEN) -> FitState:
    """``members`` copies of one seeded network (Glorot-uniform) and fresh Adam states."""
    params = models.init(jax.random.PRNGKey(seed), widths)
    stacked = jax.tree_util.tree_map(lambda leaf: jnp.broadcast_to(leaf, (members,) + leaf.shape), params)
    return FitState(stacked, jax.vmap(_ADAM.init)(stacked))


class FitFrame(NamedTuple):
    step: int
    total: int                 # steps the fit will have taken when done
    names: list[str]           # the chosen losses (padding dropped)
    losses: np.ndarray         # (chosen, steps so far): each member's own training loss
    state: FitState            # all MAX_CHOSEN members
    scale: tuple[np.ndarray, np.ndarray]  # input mean and std used to standardise x


def widths_for(task: str, model: str, classes: int) -> tuple[int, ...]:
    if task == REGRESSION_TASK:
        return MODELS[model]
    return (2, CLASSIFIER_HIDDEN, classes)


def fit(task: str, names: Sequence[str], points: Points, steps: int, seed: int, hyper=None,
        model: str = "line", chunk: int = CHUNK_STEPS) -> Iterator[FitFrame]:
    """Train one member per name (at most :data:`MAX_CHOSEN`) together; a frame after every ``chunk`` steps.

    ``steps`` is rounded to a whole number of chunks (at least one), so that a
    single compiled program serves every length.  Inputs are standardised with the data's own mean and standard deviation
    (a line keeps its meaning: :func:`line_coefficients` undoes it).
    """
    names = list(names)
    steps = chunk * max(1, round(steps / chunk))
    if not 1 <= len(names) <= MAX_CHOSEN:
        raise ValueError(f"choose between 1 and {MAX_CHOSEN} losses, not {len(names)}")
    known = branch_names(task)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} cannot train a {task} model; choose from {', '.join(known)}")
    padded_names = names + [names[0]] * (MAX_CHOSEN - len(names))
    loss_ids = jnp.asarray([known.index(n) for n in padded_names], jnp.int32)
    h = jnp.broadcast_to(hyper_vector(hyper), (MAX_CHOSEN, len(hyper_vector())))
    mean, std = points.x.mean(0), points.x.std(0) + 1e-6
    rows = padded_size(len(points.y))
    x = np.zeros((rows, points.x.shape[1]), np.float32)
    x[: len(points.y)] = (points.x - mean) / std
    y = np.zeros(rows, points.y.dtype)
    y[: len(points.y)] = points.y
    mask = (np.arange(rows) < len(points.y)).astype(np.float32)
    state = init_state(widths_for(task, model, points.classes), seed)
    history, done = [], 0
    x, y, mask = jnp.asarray(x), jnp.asarray(y), jnp.asarray(mask)
    while done < steps:
        state, losses = fit_chunk(state, loss_ids, h, x, y, mask, task, chunk)
        history.append(np.asarray(losses)[: len(names)])
        done += chunk
        yield FitFrame(done, steps, names, np.concatenate(history, axis=1), state, (mean, std))


def fit_to_end(*args, **kwargs) -> FitFrame:
    """The last frame of :func:`fit`."""
    frame = None
    for frame in fit(*args, **kwargs):
        pass
    if frame is None:
        raise ValueError("steps must be at least 1")
    return frame


FINISHED_KEPT = 32
_FINISHED: BoundedCache = BoundedCache(FINISHED_KEPT)


def finished(key: tuple) -> FitFrame | None:
    """The last frame of a fit already run in this process with these settings, if still kept."""
    return _FINISHED.get(key)


def keep(key: tuple, frame: FitFrame) -> None:
    """Keep a finished fit for every visitor asking for the same settings (the newest :data:`FINISHED_KEPT`)."""
    _FINISHED.put(key, frame)


# --------------------------------------------------------------------------
# Reading a fit
# --------------------------------------------------------------------------


@jax.jit
def _outputs(params, x):
    return jax.vmap(lambda p: models.apply(p, x, "tanh"))(params)


def predict(frame: FitFrame, x: np.ndarray) -> np.ndarray:
    """Every chosen member's raw output at ``x`` (original units): ``(chosen, n, outputs)``."""
    mean, std = frame.scale
    out = _outputs(frame.state.params, jnp.asarray((np.asarray(x, np.float32) - mean) / std))
    return np.asarray(out)[: len(frame.names)]


def line_coefficients(frame: FitFrame) -> np.ndarray:
    """Slope and intercept of each member's line in the data's units, ``(chosen, 2)`` (line model only)."""
    kernel, bias = frame.state.params[-1]
    mean, std = frame.scale
    slope = np.asarray(kernel)[:, 0, 0] / std[0]
    intercept = np.asarray(bias)[:, 0] - slope * mean[0]
    return np.stack([slope, intercept], 1)[: len(frame.names)]


def regression_grid(points: Points, size: int = 200) -> np.ndarray:
    """Where fitted curves are drawn: ``size`` evenly spaced x over the data's range."""
    return np.linspace(points.x[:, 0].min(), points.x[:, 0].max(), size, dtype=np.float32)


def regression_summary(frame: FitFrame, points: Points) -> list[dict]:
    """Per loss: final training loss and the RMS distance of its curve from the true line at the data's x."""
    fitted = predict(frame, points.x)[..., 0]
    truth = TRUE_SLOPE * points.x[:, 0] + TRUE_INTERCEPT
    rows = []
    for i, name in enumerate(frame.names):
        rows.append({"loss": zoo()[name].title, "final training loss": float(frame.losses[i, -1]),
                     "RMS distance from the true line": float(np.sqrt(np.mean((fitted[i] - truth) ** 2)))})
    return rows


def accuracy(frame: FitFrame, points: Points) -> list[dict]:
    """Per loss: final training loss, accuracy on the labels trained on, and on the clean labels."""
    predicted = predict(frame, points.x).argmax(-1)
    return [{"loss": zoo()[name].title, "final training loss": float(frame.losses[i, -1]),
             "accuracy (labels trained on)": float(np.mean(predicted[i] == points.y)),
             "accuracy (clean labels)": float(np.mean(predicted[i] == points.clean))}
            for i, name in enumerate(frame.names)]


def point_predictions(frame: FitFrame, points: Points, class_names) -> dict[str, list]:
    """The points, their labels and every member's predicted class (a table a screen reader can walk)."""
    predicted = predict(frame, points.x).argmax(-1)
    table = {"x1": points.x[:, 0], "x2": points.x[:, 1], "label": [class_names[k] for k in points.y]}
    for i, name in enumerate(frame.names):
        table[f"{zoo()[name].title}: predicted"] = [class_names[k] for k in predicted[i]]
    return table


def decision_grid(frame: FitFrame, points: Points, resolution: int = 60, margin: float = 1.0):
    """Predicted class of every member on a ``resolution``² grid over the data.

    Returns grid x ``(r,)``, grid y ``(r,)`` and classes ``(chosen, r, r)`` (rows follow y).
    """
    lo, hi = points.x.min(0) - margin, points.x.max(0) + margin
    gx = np.linspace(lo[0], hi[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1], hi[1], resolution, dtype=np.float32)
    grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    classes = predict(frame, grid).argmax(-1)
    return gx, gy, classes.reshape(len(frame.names), resolution, resolution)
