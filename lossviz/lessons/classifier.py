r"""The 2-D classifier of the "Softmax & KL" page: every (loss, learning rate) pair in one program.

Three seeded blobs, a 2-50-3 network, categorical CE or KL divergence at
several learning rates: all combinations are trained together in ONE
jit-compiled, ``vmap``-ed program over chunks of epochs (each member's
learning rate a traced argument, see :mod:`lossviz.lessons.fit`), so the page
redraws between chunks.  :func:`bench` times that against separate runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Iterator, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lossviz import data, losses
from lossviz.engine import models
from lossviz.lessons import fit

CLASSIFIER_LOSSES = ("categorical_crossentropy", "kl_divergence")
LOSS_LABELS = {"categorical_crossentropy": "categorical CE", "kl_divergence": "KL divergence"}
LEARNING_RATES = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
WIDTHS = (2, 50, 3)
BATCH_SIZE = 32
ADAM_EPSILON = 1e-7  # Keras's default, not optax's 1e-8
N_POINTS, N_CLASSES, CLUSTER_STD = 1000, 3, 2.0
_ADAM = optax.scale_by_adam(eps=ADAM_EPSILON)  # the direction; each member's learning rate is traced


@dataclass(frozen=True)
class Combo:
    loss: str
    learning_rate: float

    @property
    def label(self) -> str:
        return f"{LOSS_LABELS.get(self.loss, self.loss)}, lr={self.learning_rate:g}"


def combos(loss_names: Sequence[str], learning_rates: Sequence[float]) -> list[Combo]:
    """Every (loss, learning rate) pair, losses outermost, in the order given.

    Args:
      loss_names: names from :data:`CLASSIFIER_LOSSES`.
      learning_rates: learning rates.

    Returns:
      A list of ``len(loss_names) · len(learning_rates)`` :class:`Combo`.

    >>> [c.label for c in combos(["kl_divergence"], [0.1, 0.01])]
    ['KL divergence, lr=0.1', 'KL divergence, lr=0.01']
    """
    return [Combo(name, float(lr)) for name in loss_names for lr in learning_rates]


def blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The page's data: 1000 points in 3 seeded clusters (std 2) and their one-hot labels.

    Args:
      seed: the data's seed.

    Returns:
      ``(x, y)``: float32 points ``(1000, 2)`` and one-hot labels ``(1000, 3)``.
    """
    x, labels = data.make_blobs(N_POINTS, N_CLASSES, CLUSTER_STD, seed)
    return x, data.one_hot(labels, N_CLASSES)


class RunState(NamedTuple):
    params: models.Params       # every leaf has a leading member axis
    opt_state: optax.OptState   # likewise
    epoch: jax.Array            # epochs done (shared)


def init_run(members: int, seed: int) -> RunState:
    """``members`` copies of the same Keras-default initial network (seeded) and fresh Adam states.

    All members start from the same weights so that only the loss and the
    learning rate differ between them.

    Args:
      members: how many combinations.
      seed: the initial weights' seed.

    Returns:
      :class:`RunState` at epoch 0, every leaf with a leading axis of ``members``.
    """
    params = models.init(jax.random.PRNGKey(seed), WIDTHS)
    stacked = jax.tree_util.tree_map(lambda leaf: jnp.broadcast_to(leaf, (members,) + leaf.shape), params)
    opt_state = jax.vmap(_ADAM.init)(stacked)
    return RunState(stacked, opt_state, jnp.int32(0))


def _member_loss(params, x, y, mask, loss_id):
    r"""Masked mean loss of one member on one batch; ``loss_id`` 0 = CE, 1 = KL.

    .. math:: L = \frac{\sum_i m_i\,\ell(y_i, z_i)}{\sum_i m_i}

    Both losses are computed and one selected, so the selector can be traced
    (one program for every member).  From logits, with one-hot targets, the
    two are bit-identical.
    """
    logits = models.apply(params, x, "relu")
    ce = losses.categorical_crossentropy_from_logits(y, logits)
    kl = losses.kl_divergence_from_logits(y, logits)
    per_example = jnp.where(loss_id == 0, ce, kl)
    correct = jnp.argmax(logits, axis=-1) == jnp.argmax(y, axis=-1)
    count = jnp.sum(mask)
    return jnp.sum(per_example * mask) / count, jnp.sum(correct * mask)


def _member_step(params, opt_state, x, y, mask, learning_rate, loss_id):
    (loss, correct), grads = jax.value_and_grad(_member_loss, has_aux=True)(params, x, y, mask, loss_id)
    updates, opt_state = _ADAM.update(grads, opt_state, params)
    return fit.descend(params, updates, learning_rate), opt_state, loss, correct


_vmapped_step = jax.vmap(_member_step, in_axes=(0, 0, None, None, None, 0, 0))


def epoch_batches(key: jax.Array, epoch: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Shuffled indices of one epoch in batches of 32, the last padded and masked (like Keras's short batch).

    The order depends only on ``(key, epoch)``: every member sees the same batches.

    Args:
      key: the run's PRNG key.
      epoch: the epoch number (traced).
      n: examples.

    Returns:
      ``(indices, mask)``, int32 and float32, shape ``(⌈n / 32⌉, 32)``.
    """
    batches = -(-n // BATCH_SIZE)
    order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
    padded = jnp.zeros(batches * BATCH_SIZE, jnp.int32).at[:n].set(order)
    mask = (jnp.arange(batches * BATCH_SIZE) < n).astype(jnp.float32)
    return padded.reshape(batches, BATCH_SIZE), mask.reshape(batches, BATCH_SIZE)


@partial(jax.jit, static_argnames=("epochs",))
def train_chunk(state: RunState, learning_rates: jax.Array, loss_ids: jax.Array, x: jax.Array,
                y: jax.Array, key: jax.Array, epochs: int):
    r"""``epochs`` epochs of minibatch Adam for every member at once (one compiled program).

    Per member m with learning rate :math:`\eta_m` and loss :math:`\ell_m`:

    .. math:: \theta_m \leftarrow \theta_m - \eta_m\,\mathrm{Adam}(\nabla_\theta L_{\ell_m})

    Args:
      state: the members' :class:`RunState`.
      learning_rates: float32 ``(members,)``, one per member (traced: any values, one compile).
      loss_ids: int32 ``(members,)``: 0 categorical CE, 1 KL divergence.
      x: points ``(n, 2)``.
      y: targets ``(n, 3)``.
      key: the run's PRNG key (fixes the batch order).
      epochs: epochs in this chunk (static).

    Returns:
      ``(state, loss, accuracy)``: the new state and per-epoch ``(members, epochs)``
      arrays of the Keras-style training loss (sample-weighted mean over the
      epoch's batches) and accuracy.
    """
    n = x.shape[0]

    def one_epoch(state, _):
        idx, mask = epoch_batches(key, state.epoch, n)

        def one_batch(carry, batch):
            params, opt_state = carry
            b_idx, b_mask = batch
            params, opt_state, loss, correct = _vmapped_step(
                params, opt_state, x[b_idx], y[b_idx], b_mask, learning_rates, loss_ids)
            return (params, opt_state), (loss * jnp.sum(b_mask), correct)

        (params, opt_state), (weighted, correct) = jax.lax.scan(
            one_batch, (state.params, state.opt_state), (idx, mask))
        return RunState(params, opt_state, state.epoch + 1), (weighted.sum(0) / n, correct.sum(0) / n)

    state, (loss, accuracy) = jax.lax.scan(one_epoch, state, None, length=epochs)
    return state, loss.T, accuracy.T


class TrainingFrame(NamedTuple):
    epoch: int
    losses: np.ndarray      # (members, epochs so far)
    accuracies: np.ndarray  # (members, epochs so far)
    state: RunState


def train_combos(members: Sequence[Combo], epochs: int, seed: int, chunk_epochs: int = 10,
                 x: np.ndarray | None = None, y: np.ndarray | None = None) -> Iterator[TrainingFrame]:
    """Train every combination together; yield a frame after every chunk of epochs.

    Data defaults to :func:`blobs` of the same seed; the seed also fixes the
    initial weights and the minibatch order (shared by all members).

    Args:
      members: the combinations, losses from :data:`CLASSIFIER_LOSSES`.
      epochs: epochs in all.
      seed: data (unless given), initial weights and batch order.
      chunk_epochs: epochs per compiled chunk, i.e. per frame (the last may be shorter).
      x: points ``(n, 2)``, or ``None`` for :func:`blobs`.
      y: targets ``(n, 3)`` (one-hot or soft), or ``None``.

    Yields:
      :class:`TrainingFrame` after each chunk: losses and accuracies
      ``(members, epochs so far)`` and the state.

    Raises:
      ValueError: for an unknown loss.
    """
    if x is None or y is None:
        x, y = blobs(seed)
    for combo in members:
        if combo.loss not in CLASSIFIER_LOSSES:
            raise ValueError(f"unknown loss {combo.loss!r}; choose from {', '.join(CLASSIFIER_LOSSES)}")
    lrs = jnp.asarray([c.learning_rate for c in members], jnp.float32)
    loss_ids = jnp.asarray([CLASSIFIER_LOSSES.index(c.loss) for c in members], jnp.int32)
    state = init_run(len(members), seed)
    key = jax.random.PRNGKey(seed + 1)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    loss_parts, acc_parts = [], []
    done = 0
    while done < epochs:
        n = min(chunk_epochs, epochs - done)
        state, loss, acc = train_chunk(state, lrs, loss_ids, xj, yj, key, n)
        loss_parts.append(np.asarray(loss))
        acc_parts.append(np.asarray(acc))
        done += n
        yield TrainingFrame(done, np.concatenate(loss_parts, 1), np.concatenate(acc_parts, 1), state)


def live_chunk_epochs(epochs: int, frames: int = 20) -> int:
    """Epochs per chunk so a live run redraws about ``frames`` times (at least 5 epochs a chunk).

    Args:
      epochs: the run's epochs.
      frames: redraws wanted.

    Returns:
      Epochs per chunk, an int ≥ 5.

    >>> live_chunk_epochs(1000)
    50
    """
    return max(5, epochs // frames)


def run_to_end(members: Sequence[Combo], epochs: int, seed: int, **kwargs) -> TrainingFrame:
    """The last frame of :func:`train_combos`.

    Args:
      members: the combinations.
      epochs: epochs in all, at least 1.
      seed: as for :func:`train_combos`.
      **kwargs: ``chunk_epochs``, ``x``, ``y`` of :func:`train_combos`.

    Returns:
      The last :class:`TrainingFrame`.
    """
    frame = None
    for frame in train_combos(members, epochs, seed, **kwargs):
        pass
    if frame is None:
        raise ValueError("epochs must be at least 1")
    return frame


@jax.jit
def _grid_probabilities(params, points):
    return jax.vmap(lambda p: models.activate(models.apply(p, points, "relu"), "softmax"))(params)


def decision_grid(params: models.Params, x: np.ndarray, resolution: int = 80, margin: float = 1.5):
    """Class probabilities of every member on a ``resolution``² grid covering the data (rows follow y).

    Args:
      params: stacked parameters (leading member axis), e.g. ``state.params``.
      x: the data ``(n, 2)``, to size the grid.
      resolution: grid points per axis.
      margin: how far the grid extends past the data.

    Returns:
      ``(gx, gy, probabilities)``: float32 ``(resolution,)`` twice and
      ``(members, resolution, resolution, 3)``.
    """
    lo, hi = x.min(0) - margin, x.max(0) + margin
    gx = np.linspace(lo[0], hi[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1], hi[1], resolution, dtype=np.float32)
    points = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    probs = np.asarray(_grid_probabilities(params, jnp.asarray(points)))
    return gx, gy, probs.reshape(probs.shape[0], resolution, resolution, -1)


def member_params(state: RunState, index: int) -> models.Params:
    """One member's network, unstacked.

    Args:
      state: a :class:`RunState`.
      index: the member.

    Returns:
      Its parameters (``models.Params``), without the member axis.
    """
    return jax.tree_util.tree_map(lambda leaf: leaf[index], state.params)


def diverged(frame: TrainingFrame) -> list[int]:
    """Indices of members whose loss became NaN or infinite.

    Args:
      frame: a :class:`TrainingFrame`.

    Returns:
      A list of member indices.
    """
    return [i for i in range(frame.losses.shape[0]) if not np.all(np.isfinite(frame.losses[i]))]


def identical_ce_kl(members: Sequence[Combo], frame: TrainingFrame) -> list[tuple[float, bool]]:
    """For each learning rate trained with both losses: whether the CE and KL loss histories are bit-identical.

    Args:
      members: the combinations trained.
      frame: their :class:`TrainingFrame`.

    Returns:
      ``[(learning rate, identical), …]`` for each learning rate trained with both losses.
    """
    found = []
    for i, a in enumerate(members):
        for j, b in enumerate(members):
            if (a.loss, b.loss) == CLASSIFIER_LOSSES and a.learning_rate == b.learning_rate:
                same = np.array_equal(frame.losses[i], frame.losses[j]) and np.array_equal(
                    frame.accuracies[i], frame.accuracies[j])
                found.append((a.learning_rate, bool(same)))
    return found


# --------------------------------------------------------------------------
# Benchmark: K combinations vmapped vs K separate runs
# --------------------------------------------------------------------------


def bench(epochs: int = 50, repeats: int = 3, seed: int = 0) -> dict:
    """Wall time of K = 6 combinations (2 losses × 3 learning rates) in one vmapped program
    versus 6 separate runs of the same compiled step (K = 1), compile excluded; best of ``repeats``.

    Args:
      epochs: epochs of each run (one chunk, so one compiled program per K).
      repeats: timings per way; the best is kept.
      seed: data, initial weights and batch order.

    Returns:
      A dict: ``vmapped_s``, ``separate_s``, their ratio ``separate_over_vmapped``,
      and ``max_loss_gap``, the largest difference between the two ways' loss
      histories (they must train the same runs, so it is tiny).
    """
    members = combos(CLASSIFIER_LOSSES, (0.001, 0.01, 0.1))
    x, y = blobs(seed)

    def timed(group: list[Combo]) -> tuple[float, np.ndarray]:
        frame = run_to_end(group, epochs, seed, chunk_epochs=epochs, x=x, y=y)
        jax.block_until_ready(frame.state.params)
        start = time.perf_counter()
        frame = run_to_end(group, epochs, seed, chunk_epochs=epochs, x=x, y=y)
        jax.block_until_ready(frame.state.params)
        return time.perf_counter() - start, frame.losses

    vmapped, together = min((timed(members) for _ in range(repeats)), key=lambda run: run[0])
    separate, alone = min(((sum(t for t, _ in runs), np.concatenate([h for _, h in runs]))
                           for runs in ([timed([combo]) for combo in members] for _ in range(repeats))),
                          key=lambda run: run[0])
    return {
        "combinations": len(members),
        "epochs": epochs,
        "steps_per_epoch": -(-N_POINTS // BATCH_SIZE),
        "vmapped_s": round(vmapped, 4),
        "separate_s": round(separate, 4),
        "separate_over_vmapped": round(separate / vmapped, 2),
        "max_loss_gap": float(np.max(np.abs(together - alone))),
        "device": jax.devices()[0].platform,
    }
