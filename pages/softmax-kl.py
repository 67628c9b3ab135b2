"""Softmax & KL: cross-entropy = entropy + KL, KL's asymmetry, and CE vs KL on a live 2-D classifier."""

import streamlit as st

from lossviz import lab, settings, ui
from lossviz.lessons import classifier, describe, kl_fit
from lossviz.lessons import softmax_kl as sk
from lossviz.figures import softmax_kl as skp
from lossviz.ui.charts import chart
from lossviz.ui import words

DEFAULT_LOGITS = (2.0, 1.0, 0.1, -0.5, 0.5, -1.0, 1.5, 0.0, -2.0, 0.8)
PAGE = "softmax-kl"


def _fit_shown_to_end() -> None:
    st.session_state[f"{PAGE}:fst"] = st.session_state[f"{PAGE}:fs"]  # a new fit opens on its last step


st.title("Softmax & KL")
url = ui.UrlState(PAGE)
ui.prose(
    "Categorical cross-entropy and the Kullback–Leibler divergence are close relatives: "
    "**H(P, Q) = H(P) + KL(P‖Q)**. KL is zero only when the two distributions are equal, and it "
    "is *not symmetric*, KL(P‖Q) ≠ KL(Q‖P), so it is not a distance and the direction matters. "
    "Everything below is computed live with JAX."
)

# --------------------------------------------------------------------------
st.header("1 · Softmax explorer")


@url.fragment  # a logit slider redraws this section alone
def softmax_explorer() -> None:
    k = url.slider("Number of classes K", "k", 2, sk.MAX_CLASSES, 3)
    st.caption(f"Logits z₁…z_K (the sliders past z{k} are unused at K = {k}).")
    logit_columns = st.columns(5)
    logits = []
    for i in range(sk.MAX_CLASSES):
        with logit_columns[i % 5]:
            value = url.slider(f"z{i + 1}", f"z{i + 1}", -8.0, 8.0, DEFAULT_LOGITS[i], step=0.1, disabled=i >= k)
        if i < k:
            logits.append(value)

    target_kind = url.select("Target distribution P", "t", ["one-hot", "soft"], "one-hot", widget="radio",
                             horizontal=True)
    # Both target widgets always exist (one disabled) so that switching kinds keeps the link free of stale keys.
    class_column, weights_column = st.columns(2)
    with class_column:
        target_class = url.slider("Target class (one-hot)", "c", 1, sk.MAX_CLASSES, 1,
                                  disabled=target_kind != "one-hot")
    with weights_column:
        soft_text = url.text("Soft target weights (normalised for you)", "p", "0.6,0.3,0.1",
                             check=lambda text: sk.parse_distribution(text, k), disabled=target_kind != "soft")
    if target_kind == "one-hot":
        if target_class > k:
            st.warning(f"There is no class {target_class} with K = {k}; the target is class {k}.")
            target_class = k
        target = sk.one_hot_target(k, target_class - 1)
    else:
        try:
            target = sk.parse_distribution(soft_text, k)
        except ValueError as err:
            st.warning(f"Target weights: {err}. Using the uniform distribution meanwhile.")
            target = sk.uniform_distribution(k)

    stats = sk.explore_softmax(logits, target)
    left, right = st.columns([3, 2])
    with left:
        chart(skp.softmax_bars(stats.probabilities, target), key="softmax-bars")
    with right:
        chart(skp.identity_bars(stats.cross_entropy, stats.entropy, stats.kl), key="identity-bars")
    m1, m2, m3 = st.columns(3)
    m1.metric("cross-entropy H(P, Q)", f"{stats.cross_entropy:.4f} nats")
    m2.metric("entropy H(P)", f"{stats.entropy:.4f} nats")
    m3.metric("KL(P‖Q)", f"{stats.kl:.4f} nats")
    if target_kind == "one-hot":
        st.info("The target is one-hot, so H(P) = 0 and **cross-entropy and KL are the same number**: "
                "as losses against one-hot labels they are interchangeable.", icon=":material/equal:")
    else:
        st.info("With a soft target H(P) > 0: cross-entropy never drops below the target's entropy, "
                "while KL reaches 0 when the softmax equals the target. Both have the same gradient.",
                icon=":material/info:")
    chart(skp.gradient_bars(stats.gradient), key="gradient-bars")
    st.caption("The gradient of H(P, Q) (and of KL(P‖Q): H(P) does not depend on the logits) is softmax − "
               "target: each logit is pushed down by its excess probability and up by its shortfall.")


softmax_explorer()

# --------------------------------------------------------------------------
st.header("2 · KL is asymmetric")


@url.fragment  # editing P or Q redraws this section alone
def kl_both_ways() -> None:
    show_both_ways = url.shows("both-ways")  # an exercise: which direction is larger? then reveal
    c1, c2 = st.columns(2)
    with c1:
        p_text = url.text("Distribution P (weights)", "dp", "0.7,0.25,0.05",
                          check=sk.parse_positive_distribution)
    with c2:
        q_text = url.text("Distribution Q (weights)", "dq", "0.3,0.3,0.4",
                          check=sk.parse_positive_distribution)
    try:
        p_dist = sk.parse_positive_distribution(p_text)
        q_dist = sk.parse_positive_distribution(q_text, len(p_dist))
    except ValueError as err:
        st.warning(f"P and Q: {err}. Write positive numbers separated by commas, as many for Q as for P.")
        both = None
    else:
        both = sk.kl_both_ways(p_dist, q_dist)
    if show_both_ways and both is not None:
        a1, a2 = st.columns(2)
        a1.metric("KL(P‖Q)", f"{both.forward:.4f} nats")
        a2.metric("KL(Q‖P)", f"{both.reverse:.4f} nats", delta=f"{both.difference:+.4f} vs KL(P‖Q)",
                  delta_color="off")
        chart(skp.kl_contribution_bars(p_dist, q_dist, both.forward_terms, both.reverse_terms), key="kl-terms")
        st.caption("KL(P‖Q) weighs log(p/q) by P: outcomes that P finds likely and Q does not cost the most. "
                   "Swap the roles and different outcomes dominate. A single term may be negative; the sum never is.")


kl_both_ways()

# --------------------------------------------------------------------------
st.header("3 · Forward vs reverse KL: fitting one Gaussian to two peaks")


@url.fragment  # a fit's control redraws this section alone
def gaussian_fits() -> None:
    f1, f2, f3, f4 = st.columns(4)
    with f1:
        separation = url.slider("Peak separation", "sep", 0.0, 10.0, 7.0, step=0.5)
    with f2:
        weight = url.slider("Weight of the left peak", "w", 0.05, 0.95, 0.4, step=0.05)
    with f3:
        start_mean = url.slider("Start mean of q", "m0", -3.0, 3.0, 1.5, step=0.25)
    with f4:
        fit_steps = url.slider("Adam steps", "fs", 100, 2000, 600, step=100, on_change=_fit_shown_to_end)
    st.caption(f"p = {kl_fit.mixture_formula(separation, weight)}. Both fits start at N({start_mean:g}, 1) "
               f"and use Adam (learning rate {kl_fit.FIT_LEARNING_RATE:g}); the integrals are sums over a fine grid.")
    fit_left, fit_right = st.columns([3, 2])
    fit_chart, objective_chart = fit_left.empty(), fit_right.empty()
    # Every chunk's fit is a frame of one figure, played in the browser on request (nothing moves by itself).
    fits = list(kl_fit.fit_kl_directions(separation, weight, start_mean, fit_steps))
    frame = fits[-1]
    with fit_left:  # the keyboard's way through the frames: plotly's buttons cannot take focus
        fit_step = url.select("Adam step shown", "fst", [fit.step for fit in fits], frame.step, widget="select_slider")
        st.caption("The fit opens at this step (the arrow keys step it) and plays in your browser with its own "
                   "▶ Play, ❚❚ Pause, step and ⟲ Reset buttons; the numbers below are after the last step.")
    mixture = kl_fit.mixture_density(kl_fit.FIT_GRID, separation, weight)
    chart(skp.kl_fit_figure(kl_fit.FIT_GRID, mixture, fits, fit_step), box=fit_chart, key="kl-fit")
    chart(skp.kl_objective_figure(frame.objectives), box=objective_chart, key="kl-objective")
    for column, (label, value) in zip(st.columns(3), kl_fit.fit_summary(frame, separation, weight).items()):
        column.metric(label, value)
    st.caption("**Forward KL(p‖q)** (what cross-entropy training minimises) punishes q for missing any mass of "
               "p, so q spreads over both peaks: it matches p's mean and variance (mass-covering). "
               "**Reverse KL(q‖p)** (common in variational inference) punishes q for putting mass where p has "
               "little, so q locks onto one peak (mode-seeking). Move the start mean across 0 to change which one.")


gaussian_fits()

# --------------------------------------------------------------------------
st.header("4 · CE vs KL on a 2-D classifier")
limits = settings.limits()
ui.prose(
    "1000 points in 3 seeded clusters; a network 2 → Dense(50, relu) → Dense(3, softmax) with "
    "Keras-default initialisation; Adam (ε = 1e-7), batch 32. Every chosen (loss, learning rate) "
    "combination starts from the same weights, sees the same batches, and all train together in "
    "**one jit-compiled, vmapped program**."
)
t1, t2, t3, t4 = st.columns([3, 3, 2, 1])
with t1:
    loss_names = url.multiselect("Losses", "loss", classifier.CLASSIFIER_LOSSES, classifier.CLASSIFIER_LOSSES,
                                 format_func=classifier.LOSS_LABELS.get)
with t2:
    learning_rates = url.multiselect("Learning rates", "lr", classifier.LEARNING_RATES, (0.001, 0.01, 0.1))
with t3:
    epochs = url.slider("Epochs", "ep", 1, limits.max_blobs_epochs, min(200, limits.max_blobs_epochs))
with t4:
    seed = url.number("Seed", "seed", 0, 9999, 0, step=1)

members = classifier.combos(loss_names, sorted(learning_rates))
run_key = f"{PAGE}:run"
run_config = (tuple(members), epochs, seed)
if not members:
    st.info("Pick at least one loss and one learning rate to train.", icon=":material/touch_app:")
train = st.button("Train", type="primary", disabled=not members, key=f"{PAGE}:train")
status_slot = words.live_region(PAGE)  # the training's progress for screen readers, a few words a chunk
progress_slot, epoch_slot, curves_slot, regions_slot = st.empty(), st.empty(), st.empty(), st.empty()
x_blobs, y_blobs = classifier.blobs(seed)
class_labels = y_blobs.argmax(-1)


def epoch_shown(result) -> int:
    """The epoch the finished curves open on: the keyboard's way through their frames (plotly's buttons cannot)."""
    with epoch_slot.container():
        epoch = url.select("Epoch shown", "cep", list(range(1, result["epochs"] + 1)), result["epochs"],
                           widget="select_slider")
        st.caption("The curves open at this epoch (the arrow keys step it) and play in your browser with their own "
                   "▶ Play, ❚❚ Pause, step and ⟲ Reset buttons.")
    return epoch


def draw(result, chart_key: str, epoch: int | None = None) -> None:
    chart(
        skp.training_curves([m.label for m in result["members"]], [m.loss for m in result["members"]],
                            [m.learning_rate for m in result["members"]], result["losses"],
                            result["accuracies"], result["epochs"], epoch),
        box=curves_slot, key=f"curves-{chart_key}", with_data=chart_key == "stored")
    chart(
        skp.decision_regions(*result["grid"], result["x"], result["labels"],
                             [m.label for m in result["members"]], columns=result.get("columns", 3)),
        box=regions_slot, key=f"regions-{chart_key}", with_data=chart_key == "stored")


if train and members:
    bar = progress_slot.progress(0.0, text="waiting for a training slot…")

    def queued(ahead: int) -> None:
        bar.progress(0.0, text=f"Queued: all {lab.SLOTS.capacity} training slots of this server are busy "
                               f"({ahead} ahead of you).")

    # One slot for all combinations: they are one program, and the server's limit counts programs.
    with lab.SLOTS.slot(on_wait=queued):
        bar.progress(0.0, text="compiling…")
        for frame in classifier.train_combos(members, epochs, seed, chunk_epochs=classifier.live_chunk_epochs(epochs)):
            result = {
                "members": members, "epochs": epochs, "losses": frame.losses, "accuracies": frame.accuracies,
                "grid": classifier.decision_grid(frame.state.params, x_blobs, resolution=60), "x": x_blobs,
                "labels": class_labels, "diverged": classifier.diverged(frame),
                "identical": classifier.identical_ce_kl(members, frame), "columns": len(learning_rates),
            }
            bar.progress(frame.epoch / epochs, text=f"epoch {frame.epoch} / {epochs}")
            words.live_status(status_slot, PAGE, describe.progress_line(
                "Finished" if frame.epoch == epochs else f"Training {len(members)} classifiers", frame.epoch, epochs,
                best_accuracy=float(frame.accuracies[:, -1].max())), final=frame.epoch == epochs)
            draw(result, f"live-{frame.epoch}")
    progress_slot.empty()
    st.session_state[run_key] = {"config": run_config, **result}
    st.session_state[f"{PAGE}:cep"] = epochs  # the curves just drawn show every epoch
    epoch_shown(result)
elif run_key in st.session_state:
    result = st.session_state[run_key]
    draw(result, "stored", epoch_shown(result))
    if result["config"] != run_config:
        st.caption("These curves are from the previous settings; press **Train** to train with the current ones.")
else:
    result = None
    st.caption("Press **Train** to train every combination; curves and decision regions update live.")

if result is not None:
    if result["diverged"]:
        names = ", ".join(result["members"][i].label for i in result["diverged"])
        st.warning(f"Diverged (the loss became NaN or infinite): {names}. Try a smaller learning rate.")
    if result["identical"]:
        same = [f"{lr:g}" for lr, equal in result["identical"] if equal]
        differ = [f"{lr:g}" for lr, equal in result["identical"] if not equal]
        if same:
            st.success(f"With one-hot labels the CE and KL curves coincide **exactly** (bit for bit) at "
                       f"learning rate {', '.join(same)}: H(P) = 0, so the two losses and their gradients are "
                       "the same numbers. Solid (CE) and dashed (KL) lines lie on top of each other.",
                       icon=":material/equal:")
        if differ:
            st.warning(f"CE and KL histories differ at learning rate {', '.join(differ)}.")
    final = [f"{m.label}: loss {result['losses'][i, -1]:.4f}, accuracy {result['accuracies'][i, -1]:.3f}"
             for i, m in enumerate(result["members"])]
    st.caption("After the last epoch — " + "; ".join(final))

url.claim("cep")  # "Epoch shown" exists once trained: until then a link's value is kept for it
url.finish()
