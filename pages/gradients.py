"""Gradients: the learning slowdown of a saturated sigmoid under the quadratic cost, and its cure."""

import streamlit as st

from lossviz import ui
from lossviz.lessons import gradients, neuron_curves, softmax_gradients
from lossviz.figures import gradients as plots
from lossviz.ui import charts
from lossviz.ui.words import formula

PAGE = "gradients"
COSTS = gradients.COSTS
LABEL = gradients.COST_LABELS
START_OPTIONS = (*gradients.CLASSIC_STARTS, "custom")
THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2)


def _state(key: str) -> str:
    return f"{PAGE}:{key}"


def _apply_start() -> None:
    # Runs before the rerun, so the w and b sliders are created with the preset's values.
    start = st.session_state[_state("start")]
    if start in gradients.CLASSIC_STARTS:
        st.session_state[_state("w")], st.session_state[_state("b")] = gradients.CLASSIC_STARTS[start]


def _follow_start() -> None:
    name = gradients.classic_start_name(st.session_state[_state("w")], st.session_state[_state("b")])
    st.session_state[_state("start")] = name or "custom"


def _playback_to_end() -> None:
    st.session_state[_state("t")] = st.session_state[_state("ep")]


def _start_label(name: str) -> str:
    if name == "custom":
        return "custom"
    w, b = gradients.CLASSIC_STARTS[name]
    return f"output {name} (w = {w:g}, b = {b:g})"


st.title("Gradients")
url = ui.UrlState(PAGE)
ui.prose(
    "A sigmoid neuron outputs **a = σ(z)** with **z = wx + b**. Under the **quadratic cost** "
    "C = (a − y)²/2 every gradient carries a factor **σ′(z)**, which is tiny when the neuron saturates, "
    "so the neuron learns slowly exactly when it is most wrong. Under **cross-entropy** the σ′ cancels. "
    "Every curve below is computed with `jax.grad` of the cost; the closed forms follow it, "
    "each with its meaning in words."
)

with st.sidebar:
    st.subheader("The training example")
    x = url.slider("input x", "x", -3.0, 3.0, 1.0, step=0.1)
    y = url.slider("target y", "y", 0.0, 1.0, 0.0, step=0.05)
    st.caption("Used by the curves, the table and the neuron.")

# -- 1. Curves -----------------------------------------------------------------
st.header("1 · σ′(z) sits inside the quadratic gradient")
controls = st.columns(2)
with controls[0]:
    axis = url.select("Horizontal axis", "ax", ("z", "a"), "z", widget="radio", horizontal=True,
                      format_func=lambda v: "logit z" if v == "z" else "output a = σ(z)")
with controls[1]:
    threshold = url.select("Shade where σ′(z) is below", "thr", THRESHOLDS, gradients.DEFAULT_SATURATION_THRESHOLD,
                           widget="select_slider")
bound = gradients.saturation_bound(threshold)
low_output, high_output = gradients.saturation_outputs(threshold)
curves = neuron_curves.gradient_curves(neuron_curves.curve_grid(axis), x, y)
show_curves = url.shows("curves")  # an exercise: predict the two gradients' shapes, then reveal
if show_curves:
    charts.chart(
        plots.gradient_curves_figure(curves, axis, bound, threshold, neuron_curves.classic_marks(), x, y),
        key="curves",
    )
quadratic, cross_entropy = st.columns(2)  # wide enough that no formula scrolls (a keyboard cannot scroll it)
with quadratic:
    st.markdown("**Quadratic**")
    formula(r"C = \tfrac12 (a - y)^2",
            "The quadratic cost is half the squared difference between the output a and the target y.")
    formula(r"\frac{\partial C}{\partial w} = (a - y)\,\sigma'(z)\,x",
            "The gradient of the quadratic cost with respect to w is the error a − y times σ′(z) "
            "times the input x.")
    formula(r"\frac{\partial C}{\partial b} = (a - y)\,\sigma'(z)",
            "Its gradient with respect to b is the error a − y times σ′(z): both shrink when σ′(z) is small.")
with cross_entropy:
    st.markdown("**Cross-entropy**")
    formula(r"C = -y \ln a - (1 - y)\ln(1 - a)",
            "The cross-entropy cost is minus y times the log of a, minus (1 − y) times the log of (1 − a).")
    formula(r"\frac{\partial C}{\partial w} = (a - y)\,x",
            "Its gradient with respect to w is the error a − y times the input x: no σ′(z) factor.")
    formula(r"\frac{\partial C}{\partial b} = a - y", "Its gradient with respect to b is the error a − y itself.")
formula(r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z)) \le \tfrac14",
        "The sigmoid's slope σ′(z) is σ(z) times (1 − σ(z)): at most one quarter (at z = 0), "
        "and close to zero wherever the neuron saturates.")
st.caption(
    f"Shaded: σ′(z) < {threshold:g}, i.e. |z| > {bound:.2f} (output below {low_output:.3f} "
    f"or above {high_output:.3f}). There the quadratic gradient is under {threshold:g} of "
    f"cross-entropy's. Largest gap between jax.grad and the closed forms along these curves: "
    f"{neuron_curves.closed_form_gap(curves, x, y):.1e}."
    + (" With x = 1 and y = 0, cross-entropy's ∂C/∂w = a − y is σ(z) itself: the two curves coincide."
       if x == 1 and y == 0 else "")
)

# -- 2. The two points -----------------------------------------------------------
st.header("2 · Two neurons: outputs 0.82 and 0.98")
rows = neuron_curves.two_points_table(x, threshold)
charts.small_table([{"neuron": f"a\u00a0=\u00a0{row['output a']:g}, y\u00a0=\u00a0{row['target y']:g}",
                     **{k: v for k, v in row.items() if k not in ("output a", "target y") and "verdict" not in k}}
                    for row in rows], "neuron", by_column=f"at input x = {x:g}")
st.caption(f"Gradients from jax.grad at input x = {x:g}. An update is *reasonable* when it is large where the "
           f"output is far from the target (|a − y| ≥ {neuron_curves.FAR_FROM_TARGET:g}) and small where it is close.")
for row in rows:
    st.markdown(f"- **a = {row['output a']:g}, y = {row['target y']:g}.** {row['quadratic verdict']} "
                f"{row['cross-entropy verdict']}")

# -- 3. The neuron -------------------------------------------------------------
st.header("3 · Train the neuron under both costs")
st.markdown(f"Plain gradient descent on the single example (x = {x:g}, y = {y:g}), both costs side by side "
            "in one jit-compiled `lax.scan`.")
start = url.select("Start", "start", START_OPTIONS, "0.98", widget="radio", horizontal=True,
                   format_func=_start_label, on_change=_apply_start)
cols = st.columns(2)
with cols[0]:
    w0 = url.slider("starting weight w", "w", -6.0, 6.0, 2.0, step=0.05, on_change=_follow_start)
with cols[1]:
    b0 = url.slider("starting bias b", "b", -6.0, 6.0, 2.0, step=0.05, on_change=_follow_start)
if start != "custom" and gradients.classic_start_name(w0, b0) != start:
    url.note(f"The link's start `{start}` does not match its w = {w0:g}, b = {b0:g}; the w and b shown are used.")
cols = st.columns(3)
with cols[0]:
    eta_q = url.slider("learning rate η, quadratic", "eq", 0.01, 3.0, 0.15, step=0.01)
with cols[1]:
    eta_ce = url.slider("learning rate η, cross-entropy", "ece", 0.01, 3.0, 0.15, step=0.01)
with cols[2]:
    epochs = url.slider("epochs", "ep", 10, gradients.NEURON_MAX_EPOCHS, 300, step=10, on_change=_playback_to_end)

history = gradients.train_neuron(w0, b0, x, y, eta_q, eta_ce, epochs)
if not history.finite:
    st.error("This run produced non-finite values; lower the learning rates.", icon=":material/warning:")
    url.stop()

epoch = url.slider("playback: epoch", "t", 0, epochs, epochs, step=1)
st.caption("The three charts below open at this epoch (the arrow keys step it) and play in your browser with "
           "their own ▶ Play, ❚❚ Pause, step and ⟲ Reset buttons; nothing moves until you press one.")
metrics = st.columns(4)
for i, cost in enumerate(COSTS):
    metrics[i].metric(f"output a, {LABEL[cost]}", f"{history.a[i, epoch]:.4f}")
    metrics[2 + i].metric(f"cost, {LABEL[cost]}", f"{history.cost[i, epoch]:.4g}")
cols = st.columns(2)
with cols[0]:
    charts.chart(plots.training_figure(history, epoch, "a"), key="outputs")
with cols[1]:
    charts.chart(plots.training_figure(history, epoch, "cost"), key="costs")
w_axis, b_axis, surfaces = gradients.cost_surfaces(history, x, y)
charts.chart(plots.path_figure(w_axis, b_axis, surfaces, history, epoch), key="paths")
summary = []
for i, cost in enumerate(COSTS):
    reached = gradients.first_epoch_within(history.a[i], y, 0.2)
    when = f"reaches |a − y| < 0.2 at epoch {reached}" if reached is not None else \
        f"does not reach |a − y| < 0.2 within {epochs} epochs"
    summary.append(f"under the {LABEL[cost]} cost (η = {(eta_q, eta_ce)[i]:g}) the output {when}")
st.markdown(f"From w = {w0:g}, b = {b0:g}: " + "; ".join(summary) + ".")

# -- 4. Softmax ----------------------------------------------------------------
@url.fragment  # K and the wrong logit redraw this section alone (it does not use the training example)
def softmax_section() -> None:
    st.header("4 · Softmax: log-likelihood against MSE")
    ui.prose("A softmax over K classes; class 0 is correct. One wrong class sits at a large logit while the "
             "correct class's logit sweeps. The log-likelihood's gradient stays near −1 while the model is "
             "confidently wrong; MSE's vanishes with p(correct), the softmax analogue of σ′.")
    cols = st.columns(2)
    with cols[0]:
        classes = url.slider("classes K", "k", 2, 10, 10, step=1)
    with cols[1]:
        dominant = url.slider("logit of the dominant wrong class", "d", 0.0, 10.0, 5.0, step=0.5)
    soft = softmax_gradients.softmax_gradient_curves(softmax_gradients.softmax_logit_grid(), classes, dominant)
    charts.chart(plots.softmax_figure(soft, classes, dominant), key="softmax")
    likelihood, mse = st.columns(2)
    with likelihood:
        st.markdown("**Log-likelihood**")
        formula(r"p = \mathrm{softmax}(z)", "The probabilities p are the softmax of the logits z.")
        formula(r"C = -\ln p_c", "The cost is minus the log of the probability given to the correct class c.")
        formula(r"\nabla_z C = p - e_c",
                "Its gradient with respect to the logits is p minus the one-hot vector of the correct class.")
    with mse:
        st.markdown("**MSE on probabilities**")
        formula(r"C = \tfrac1K \textstyle\sum_k (p_k - y_k)^2",
                "The cost is the mean, over the K classes, of the squared difference between each probability "
                "and its one-hot target.")
        formula(r"\nabla_z C = \tfrac2K\, J\,(p - y)",
                "Its gradient with respect to the logits is 2/K times the softmax's Jacobian J applied to p − y.")
        formula(r"J = \mathrm{diag}(p) - p\,p^\top",
                "The Jacobian is the diagonal matrix of p minus p times its transpose: row j is p_j times "
                "(the j-th one-hot vector minus p), so each row carries a factor p_j, the softmax's σ′.")
    metrics = st.columns(3)
    metrics[0].metric(f"p(correct) at z_correct = {soft.correct_logit[0]:g}", f"{soft.probabilities[0, 0]:.2e}")
    for i, cost in enumerate(softmax_gradients.SOFTMAX_COSTS):
        metrics[1 + i].metric(f"∂C/∂z_correct there, {softmax_gradients.SOFTMAX_COST_LABELS[cost]}",
                              f"{soft.gradients[i, 0, 0]:.3g}")
    st.caption("Gradients from jax.grad; largest gap to the closed forms: "
               f"{softmax_gradients.softmax_closed_form_gap(soft, classes, dominant):.1e}.")


softmax_section()

url.finish()
