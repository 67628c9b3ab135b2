"""The math behind the "Softmax & KL" page.

Four pieces, each pure (arrays in, arrays out):

* the softmax explorer: probabilities, cross-entropy, entropy, KL and the
  gradient ``softmax(z) − p`` of a logit vector against a target;
* discrete KL asymmetry: each term's contribution to KL(P‖Q) and KL(Q‖P);
* a single Gaussian fitted to a two-peaked mixture by forward KL(p‖q) and by
  reverse KL(q‖p), with optax, in jitted chunks of steps;
* the 2-D classifier: every chosen (loss, learning rate) combination trained
  together in ONE jit-compiled, ``vmap``-ed program over chunks of epochs.

Every jitted function is defined at module level so a Streamlit rerun never
recompiles; the page calls these and redraws its charts between chunks.
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

# --------------------------------------------------------------------------
# Softmax explorer
# --------------------------------------------------------------------------

MAX_CLASSES = 10


def parse_distribution(text: str, k: int | None = None) -> np.ndarray:
    r"""Comma-separated non-negative weights, normalised to a distribution.

    .. math:: p_k = w_k / \sum_j w_j

    ``ValueError`` (with a message a visitor can act on) if a value is not a
    finite number, is negative, all are zero, or there are not ``k`` of them.

    >>> parse_distribution("1, 1, 2")
    array([0.25, 0.25, 0.5 ])
    """
    parts = [part.strip() for part in str(text).split(",")]
    if not parts or any(part == "" for part in parts):
        raise ValueError("write numbers separated by commas, e.g. 0.2,0.5,0.3")
    try:
        weights = np.array([float(part) for part in parts], dtype=np.float64)
    except ValueError:
        raise ValueError("every entry must be a number, e.g. 0.2,0.5,0.3") from None
    if not np.all(np.isfinite(weights)):
        raise ValueError("every entry must be a finite number")
    if len(weights) < 2 or len(weights) > MAX_CLASSES:
        raise ValueError(f"give between 2 and {MAX_CLASSES} values, not {len(weights)}")
    if k is not None and len(weights) != k:
        raise ValueError(f"give exactly {k} values (one per class), not {len(weights)}")
    if np.any(weights < 0):
        raise ValueError("weights cannot be negative")
    total = weights.sum()
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    return weights / total


def parse_positive_distribution(text: str, k: int | None = None) -> np.ndarray:
    """:func:`parse_distribution`, but every probability must be > 0 so both KL directions are finite."""
    p = parse_distribution(text, k)
    if np.any(p <= 0):
        raise ValueError("every value must be positive here (a zero makes one KL direction infinite)")
    return p


def uniform_distribution(k: int) -> np.ndarray:
    """:math:`p_j = 1/k` for every class: the fallback while a typed target is invalid."""
    return np.full(k, 1.0 / k)


def one_hot_target(k: int, index: int) -> np.ndarray:
    """The one-hot distribution on class ``index`` (0-based) of ``k``: :math:`p_j = [j = i]`."""
    p = np.zeros(k)
    p[index] = 1.0
    return p


class ExplorerStats(NamedTuple):
    probabilities: np.ndarray
    cross_entropy: float
    entropy: float
    kl: float
    gradient: np.ndarray


def explore_softmax(logits: Sequence[float], target: Sequence[float]) -> ExplorerStats:
    r"""Softmax of ``logits`` against ``target`` P, with the identity's three numbers.

    .. math:: q = \mathrm{softmax}(z),\quad H(P, Q) = H(P) + \mathrm{KL}(P\|Q),\quad
              \frac{\partial H(P, Q)}{\partial z} = q - p

    The cross-entropy comes from the stable from-logits form; entropy and KL
    from :mod:`lossviz.losses`.
    """
    z = jnp.asarray(logits, jnp.float32)
    p = jnp.asarray(target, jnp.float32)
    q = jax.nn.softmax(z)
    log_q = jax.nn.log_softmax(z)
    ce = losses.categorical_crossentropy_from_logits(p, z)
    h = losses.entropy(p)
    kl = jnp.sum(jax.scipy.special.xlogy(p, p) - p * log_q)
    return ExplorerStats(np.asarray(q), float(ce), float(h), float(kl), np.asarray(q - p))


def kl_contributions(p: Sequence[float], q: Sequence[float]) -> np.ndarray:
    r"""The terms of KL(P‖Q), one per outcome; they sum to the divergence.

    .. math:: c_k = p_k \log\frac{p_k}{q_k}, \qquad \mathrm{KL}(P\|Q) = \sum_k c_k

    A term can be negative (where :math:`q_k > p_k`); the sum never is.
    """
    p = jnp.asarray(p, jnp.float32)
    q = jnp.asarray(q, jnp.float32)
    return np.asarray(jax.scipy.special.xlogy(p, p) - jax.scipy.special.xlogy(p, q))


class KLBothWays(NamedTuple):
    forward_terms: np.ndarray  # p_k log(p_k/q_k)
    reverse_terms: np.ndarray  # q_k log(q_k/p_k)
    forward: float             # KL(P‖Q)
    reverse: float             # KL(Q‖P)

    @property
    def difference(self) -> float:
        """KL(Q‖P) − KL(P‖Q): zero for every pair only if KL were symmetric."""
        return self.reverse - self.forward


def kl_both_ways(p: Sequence[float], q: Sequence[float]) -> KLBothWays:
    r"""Both directions' terms and totals: :math:`\mathrm{KL}(P\|Q)` and :math:`\mathrm{KL}(Q\|P)`."""
    forward_terms, reverse_terms = kl_contributions(p, q), kl_contributions(q, p)
    return KLBothWays(forward_terms, reverse_terms, float(forward_terms.sum()), float(reverse_terms.sum()))


# --------------------------------------------------------------------------
# Forward vs reverse KL: a single Gaussian fitted to a two-peaked mixture
# --------------------------------------------------------------------------

FIT_GRID = np.linspace(-16.0, 16.0, 1601, dtype=np.float32)
"""Where the fits' integrals are evaluated (a Riemann sum; both densities are negligible past ±16)."""
FIT_LEARNING_RATE = 0.05
_FIT_OPTIMIZER = optax.adam(FIT_LEARNING_RATE)
FORWARD, REVERSE = 0, 1


def _log_normal(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    return -0.5 * jnp.square((x - mean) / jnp.exp(log_std)) - log_std - 0.5 * jnp.log(2 * jnp.pi)


def mixture_log_density(x, separation: float, weight: float) -> jax.Array:
    r"""Log-density of the mixture p: unit-variance peaks at ∓separation/2.

    .. math:: p(x) = w\,\mathcal N(x; -\tfrac s2, 1) + (1 - w)\,\mathcal N(x; \tfrac s2, 1)
    """
    x = jnp.asarray(x, jnp.float32)
    weight = jnp.asarray(weight, jnp.float32)
    half = 0.5 * jnp.asarray(separation, jnp.float32)
    left = jnp.log(weight) + _log_normal(x, -half, 0.0)
    right = jnp.log1p(-weight) + _log_normal(x, half, 0.0)
    return jnp.logaddexp(left, right)


def mixture_moments(separation: float, weight: float) -> tuple[float, float]:
    r"""Mean and variance of the mixture: the forward-KL optimum (moment matching).

    .. math:: \mu = (1 - 2w)\tfrac s2,\qquad \sigma^2 = 1 + 4w(1-w)\big(\tfrac s2\big)^2
    """
    half = separation / 2
    return (1 - 2 * weight) * half, 1 + 4 * weight * (1 - weight) * half**2


def mixture_formula(separation: float, weight: float) -> str:
    """The mixture written out, e.g. ``0.4·N(−3.5, 1) + 0.6·N(3.5, 1)``."""
    return f"{weight:g}·N(−{separation / 2:g}, 1) + {1 - weight:g}·N({separation / 2:g}, 1)"


def fit_summary(frame: "FitFrame", separation: float, weight: float) -> dict[str, str]:
    """Mean and standard deviation of each fit next to the mixture's own (the forward-KL optimum)."""
    mean, variance = mixture_moments(separation, weight)
    return {
        "forward fit: mean, std": f"{frame.means[FORWARD]:.2f}, {frame.stds[FORWARD]:.2f}",
        "mixture's own mean, std": f"{mean:.2f}, {np.sqrt(variance):.2f}",
        "reverse fit: mean, std": f"{frame.means[REVERSE]:.2f}, {frame.stds[REVERSE]:.2f}",
    }


def kl_objectives(params: jax.Array, separation, weight) -> jax.Array:
    r"""Forward KL(p‖q₀) and reverse KL(q₁‖p) on :data:`FIT_GRID`.

    ``params[d] = (μ_d, log σ_d)`` is the Gaussian q_d of direction ``d``.

    .. math:: \mathrm{KL}(p\|q) \approx \sum_i p(x_i)\,[\log p(x_i) - \log q(x_i)]\,\Delta x,
              \quad \mathrm{KL}(q\|p) \approx \sum_i q(x_i)\,[\log q(x_i) - \log p(x_i)]\,\Delta x
    """
    x = jnp.asarray(FIT_GRID)
    dx = x[1] - x[0]
    log_p = mixture_log_density(x, separation, weight)
    log_q_forward = _log_normal(x, params[FORWARD, 0], params[FORWARD, 1])
    log_q_reverse = _log_normal(x, params[REVERSE, 0], params[REVERSE, 1])
    forward = jnp.sum(jnp.exp(log_p) * (log_p - log_q_forward)) * dx
    reverse = jnp.sum(jnp.exp(log_q_reverse) * (log_q_reverse - log_p)) * dx
    return jnp.stack([forward, reverse])


class FitState(NamedTuple):
    params: jax.Array  # (2, 2): direction × (mean, log std)
    opt_state: optax.OptState


def init_fit(start_mean: float, start_std: float = 1.0) -> FitState:
    """Both Gaussians start at N(start_mean, start_std²); off-centre so reverse KL must pick a side."""
    params = jnp.array([[start_mean, np.log(start_std)]] * 2, jnp.float32)
    return FitState(params, _FIT_OPTIMIZER.init(params))


@partial(jax.jit, static_argnames=("steps",))
def fit_chunk(state: FitState, separation, weight, steps: int):
    r"""``steps`` Adam steps on forward KL(p‖q₀) + reverse KL(q₁‖p).

    The sum's gradient splits by direction and Adam is per coordinate, so
    this is exactly two independent fits run side by side.  Returns the new
    state, the parameters after each step ``(steps, 2, 2)`` and the two
    objectives before each step ``(steps, 2)``.
    """

    def step(state, _):
        values, pullback = jax.vjp(lambda p: kl_objectives(p, separation, weight), state.params)
        (grads,) = pullback(jnp.ones_like(values))
        updates, opt_state = _FIT_OPTIMIZER.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return FitState(params, opt_state), (params, values)

    state, (params, values) = jax.lax.scan(step, state, None, length=steps)
    return state, params, values


class FitFrame(NamedTuple):
    step: int
    means: np.ndarray   # (2,) forward, reverse
    stds: np.ndarray    # (2,)
    objectives: np.ndarray  # (step, 2): KL values so far


def fit_kl_directions(separation: float, weight: float, start_mean: float, steps: int,
                      chunk: int = 25) -> Iterator[FitFrame]:
    """Fit both directions, yielding a frame after every ``chunk`` steps (for a live chart)."""
    state = init_fit(start_mean)
    history: list[np.ndarray] = []
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        state, params, values = fit_chunk(state, jnp.float32(separation), jnp.float32(weight), n)
        history.append(np.asarray(values))
        done += n
        final = np.asarray(params[-1])
        yield FitFrame(done, final[:, 0], np.exp(final[:, 1]), np.concatenate(history))


def mixture_density(x, separation: float, weight: float) -> np.ndarray:
    """:func:`mixture_log_density`, exponentiated, as a numpy array (for plotting)."""
    return np.exp(np.asarray(mixture_log_density(x, separation, weight)))


def gaussian_density(x, mean: float, std: float) -> np.ndarray:
    r""":math:`\mathcal N(x; \mu, \sigma^2)` as a numpy array (for plotting)."""
    return np.exp(np.asarray(_log_normal(jnp.asarray(x, jnp.float32), mean, np.log(std))))


# --------------------------------------------------------------------------
# The 2-D classifier: all (loss, learning rate) combinations in one program
# --------------------------------------------------------------------------

CLASSIFIER_LOSSES = ("categorical_crossentropy", "kl_divergence")
LOSS_LABELS = {"categorical_crossentropy": "categorical CE", "kl_divergence": "KL divergence"}
LEARNING_RATES = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
WIDTHS = (2, 50, 3)
BATCH_SIZE = 32
ADAM_EPSILON = 1e-7  # Keras's default, not optax's 1e-8
N_POINTS, N_CLASSES, CLUSTER_STD = 1000, 3, 2.0
_ADAM = optax.scale_by_adam(eps=ADAM_EPSILON)  # the learning rate is applied per member, traced


@dataclass(frozen=True)
class Combo:
    loss: str
    learning_rate: float

    @property
    def label(self) -> str:
        return f"{LOSS_LABELS.get(self.loss, self.loss)}, lr={self.learning_rate:g}"


def combos(loss_names: Sequence[str], learning_rates: Sequence[float]) -> list[Combo]:
    """Every (loss, learning rate) pair, losses outermost, in the order given."""
    return [Combo(name, float(lr)) for name in loss_names for lr in learning_rates]


def blobs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The page's data: 1000 points in 3 seeded clusters (std 2) and their one-hot labels."""
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
    updates = jax.tree_util.tree_map(lambda u: -learning_rate * u, updates)
    return optax.apply_updates(params, updates), opt_state, loss, correct


_vmapped_step = jax.vmap(_member_step, in_axes=(0, 0, None, None, None, 0, 0))


def epoch_batches(key: jax.Array, epoch: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Shuffled indices of one epoch in batches of 32, the last padded and masked (like Keras's short batch).

    The order depends only on ``(key, epoch)``: every member sees the same batches.
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

    Returns the new state and per-epoch ``(members, epochs)`` arrays of the
    Keras-style training loss (sample-weighted mean over the epoch's batches)
    and accuracy.
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
    """Epochs per chunk so a live run redraws about ``frames`` times (at least 5 epochs a chunk)."""
    return max(5, epochs // frames)


def run_to_end(members: Sequence[Combo], epochs: int, seed: int, **kwargs) -> TrainingFrame:
    """The last frame of :func:`train_combos`."""
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
    """Class probabilities of every member on a ``resolution``² grid covering the data.

    Returns the grid's x and y coordinates and probabilities ``(members, resolution, resolution, 3)``
    (rows follow y).
    """
    lo, hi = x.min(0) - margin, x.max(0) + margin
    gx = np.linspace(lo[0], hi[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1], hi[1], resolution, dtype=np.float32)
    points = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    probs = np.asarray(_grid_probabilities(params, jnp.asarray(points)))
    return gx, gy, probs.reshape(probs.shape[0], resolution, resolution, -1)


def member_params(state: RunState, index: int) -> models.Params:
    """One member's network, unstacked."""
    return jax.tree_util.tree_map(lambda leaf: leaf[index], state.params)


def diverged(frame: TrainingFrame) -> list[int]:
    """Indices of members whose loss became NaN or infinite."""
    return [i for i in range(frame.losses.shape[0]) if not np.all(np.isfinite(frame.losses[i]))]


def identical_ce_kl(members: Sequence[Combo], frame: TrainingFrame) -> list[tuple[float, bool]]:
    """For each learning rate trained with both losses: whether the CE and KL loss histories are bit-identical."""
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
    """
    members = combos(CLASSIFIER_LOSSES, (0.001, 0.01, 0.1))
    x, y = blobs(seed)

    def timed(group: list[Combo]) -> float:
        frame = run_to_end(group, epochs, seed, chunk_epochs=epochs, x=x, y=y)
        jax.block_until_ready(frame.state.params)
        start = time.perf_counter()
        frame = run_to_end(group, epochs, seed, chunk_epochs=epochs, x=x, y=y)
        jax.block_until_ready(frame.state.params)
        return time.perf_counter() - start

    vmapped = min(timed(members) for _ in range(repeats))
    separate = min(sum(timed([combo]) for combo in members) for _ in range(repeats))
    return {
        "combinations": len(members),
        "epochs": epochs,
        "steps_per_epoch": -(-N_POINTS // BATCH_SIZE),
        "vmapped_s": round(vmapped, 4),
        "separate_s": round(separate, 4),
        "separate_over_vmapped": round(separate / vmapped, 2),
        "device": jax.devices()[0].platform,
    }
