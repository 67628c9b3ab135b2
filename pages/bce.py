"""BCE landscape: BCE(y, p) is minimised at p = y, its minimum is H(y), and softmax cannot reach it."""

import streamlit as st

from lossviz import settings, ui
from lossviz.lessons import bce, bce_mnist
from lossviz.figures import bce as bce_plots
from lossviz.lessons import describe
from lossviz.cache import BoundedCache
from lossviz.ui.charts import chart
from lossviz.ui.words import formula, live_region, live_status

st.title("BCE landscape")
url = ui.UrlState("bce")
ui.prose(
    "Binary cross-entropy compares a target $y$ with a prediction $p$: "
    "$\\mathrm{BCE}(y, p) = -y\\log p - (1-y)\\log(1-p)$. It works for **soft** targets too "
    "(any $y \\in [0, 1]$, such as an MNIST pixel scaled to [0, 1]): it is smallest at $p = y$. "
    "But that smallest value is the entropy $H(y)$, **not zero**, unless $y$ is 0 or 1."
)


@st.cache_resource(show_spinner="Computing the BCE floor of MNIST…")
def floor_stats(_x_train) -> bce_mnist.FloorStats:
    """Once per process: MNIST never changes while the server runs."""
    return bce_mnist.mnist_floor(_x_train)


# Figures are cached by the controls they depend on, so moving one slider
# rebuilds only the charts that slider changes.
@st.cache_resource(max_entries=64)
def surface_figures(resolution: int, clip: bool, log_colour: bool):
    surface = bce.bce_surface(resolution, clip)
    valley_y, valley_h = bce.valley(bce.VALLEY_POINTS)
    return (bce_plots.surface_figure(surface, valley_y, valley_h, log_colour),
            bce_plots.heatmap_figure(surface, log_colour))


@st.cache_resource(max_entries=64)
def slice_view(y: float, clip: bool, show_excess: bool):
    cut = bce.bce_slice(y, clip)
    return cut, bce_plots.slice_figure(cut, show_excess)


@st.cache_resource
def floors_figure(_stats: bce_mnist.FloorStats):
    return bce_plots.floors_figure(_stats)


@st.cache_resource(max_entries=256)
def digit_facts(digit: int, _image) -> dict:
    """The digit's floor, pixel total, simplex bound and raw-target infimum (the bound is a solver run)."""
    bound, _ = bce_mnist.simplex_optimum(bce_mnist.unit_pixels(_image))
    return {"target": bce_mnist.unit_pixels(_image), "floor": bce_mnist.image_floor(_image), "bound": bound,
            "total": bce_mnist.pixel_total(_image), "raw_infimum": bce_mnist.raw_digit_infimum(_image)}


@st.cache_resource
def finished_fits() -> BoundedCache:
    """Adam fits already run in this process, by digit, steps and rate: later visitors see the result at once."""
    return BoundedCache(64)


@st.cache_resource(max_entries=64)
def fit_figures(fit_key: tuple, _facts: dict, _result: dict, caption: str):
    labels = {"sigmoid best": f"sigmoid best: BCE {_facts['floor']:.3f}",
              "softmax best": f"softmax best: BCE {_result['bce']:.3f}", "target": caption}
    return (bce_plots.digits_figure(_facts["target"], _result["output"], labels),
            bce_plots.fit_curve_figure(_result["losses"], _facts["bound"], _facts["floor"]))


@st.cache_resource(max_entries=64)
def raw_view(raw_y: int):
    raw = bce.raw_slice(float(raw_y))
    return raw, bce_plots.raw_figure(raw)


@st.cache_resource(max_entries=64)
def logit_view(y: float, z_range: int):
    logit = bce.logit_slice(y, float(z_range))
    return logit, bce_plots.logit_figure(logit)


# --------------------------------------------------------------------------
@url.fragment  # the grid and the colour scale redraw the surface and the heat map alone
def surface(clip: bool) -> None:
    limit = settings.limits().max_grid
    top = bce.largest_odd_grid(limit)
    controls = st.columns([2, 1])
    with controls[0]:
        if top >= 5:
            resolution = url.slider("Grid resolution (points per axis)", "res", 5, top, min(61, top), step=2,
                                    help=f"Up to {top}, this server's limit (LOSSVIZ_MAX_GRID).")
        else:
            resolution = 2
            url.note(f"This server's grid limit ({limit}) is tiny; the surface uses 2 points per axis.")
    with controls[1]:
        colour_scale = url.select("Colour scale", "cs", ["linear", "log"], "log", widget="segmented_control")
    surface_fig, heatmap_fig = surface_figures(resolution, clip, colour_scale == "log")
    left, right = st.columns(2)
    with left:
        chart(surface_fig, key="surface")
    with right:
        chart(heatmap_fig, key="heatmap")
    st.caption(
        "The red line is the valley $p = y$ at height $H(y)$: the bottom of every horizontal slice. "
        + ("With clipping, the walls at p = 0 and p = 1 stop near $-\\log\\varepsilon \\approx 16$ "
           "(in float32, $1-\\varepsilon$ rounds to $1 - 1.2\\cdot10^{-7}$)."
           if clip else
           "Without clipping, the edge points where the target disagrees are infinite and drawn as gaps.")
    )


@url.fragment  # the target and the excess toggle redraw the slice and the derivation alone
def slice_at_one_target(clip: bool) -> None:
    st.header("A slice at one target")
    slice_y = url.slider("Target y for the slice", "y", 0.0, 1.0, 0.3, step=0.01,
                         help="The horizontal line at this y through the surface and the heat map above.")
    show_excess = url.toggle("Show the excess BCE − H(y) = KL(Bernoulli(y) ‖ Bernoulli(p))", "kl", False)
    cut, slice_fig = slice_view(slice_y, clip, show_excess)
    if url.shows("slice"):  # an exercise: where is the minimum, and how low? (its numbers are used below)
        m1, m2, m3 = st.columns(3)
        m1.metric("argmin of BCE on the grid", f"p = {cut.argmin:.4f}", help="The grid has 401 points, step 0.0025.")
        m2.metric("minimum H(y)", f"{cut.floor:.4f} nats")
        m3.metric("MSE minimum", "0 at p = y")
        chart(slice_fig, key="slice", alt=describe.bce_slice(slice_y, cut.argmin, cut.floor, show_excess))
        st.caption("Both losses bottom out at p = y; MSE reaches 0 there, BCE only H(y). "
                   "The excess BCE − H(y) is a KL divergence: zero exactly along the valley.")

    # --------------------------------------------------------------------------
    st.header("Why the minimum is at p = y")
    st.markdown("Step 1: differentiate in $p$.")
    formula(r"\frac{\partial}{\partial p}\Big[-y\log p-(1-y)\log(1-p)\Big] = -\frac{y}{p}+\frac{1-y}{1-p}",
            "The derivative of BCE with respect to the prediction p is minus y over p plus (1 − y) over (1 − p).")
    st.markdown("Step 2: set the derivative to zero.")
    formula(r"-\frac{y}{p}+\frac{1-y}{1-p}=0 \iff (1-y)\,p = y\,(1-p)",
            "That derivative is zero exactly when (1 − y) times p equals y times (1 − p).")
    st.markdown("Step 3: solve for $p$.")
    formula(r"p - yp = y - yp \iff p^{*} = y",
            "Multiplied out, the term y·p appears on both sides and cancels: the best prediction p* is the target y.")
    st.markdown("Step 4: the second derivative is positive on $(0, 1)$, so $p^* = y$ is a minimum, "
                "and BCE is convex in $p$, so it is the only one.")
    formula(r"\frac{\partial^2 \mathrm{BCE}}{\partial p^2} = \frac{y}{p^2}+\frac{1-y}{(1-p)^2} > 0",
            "The second derivative, y over p squared plus (1 − y) over (1 − p) squared, is positive for every p "
            "between 0 and 1: the curve bends upward everywhere.")
    st.markdown("Step 5: the value at the minimum is the entropy of the target.")
    formula(rf"\begin{{aligned}}\mathrm{{BCE}}(y, y) &= -y\log y-(1-y)\log(1-y) = H(y) \\"  # two lines: no scrolling
            rf"\text{{here }} H({slice_y:.2f}) &= {cut.floor:.4f}\end{{aligned}}",
            f"At p = y the loss equals the entropy H(y) of the target; here H({slice_y:.2f}) = {cut.floor:.4f} nats.")


st.header("The surface")
clip = url.toggle("Keras clipping (ε = 1e-7)", "clip", True,
                  help="Keras clips p to [ε, 1 − ε], in the surface and in the slice below. Off, the edges p = 0 and "
                       "p = 1 are infinite.")
surface(clip)
slice_at_one_target(clip)

# --------------------------------------------------------------------------
st.header("Binary vs soft targets")
mnist = ui.mnist_or_stop(url)
(x_train, _), (x_test, y_test) = mnist
stats = floor_stats(x_train)
ui.prose(
    "With binary targets $y \\in \\{0, 1\\}$, $H(y) = 0$: a perfect prediction scores 0. "
    "Real MNIST pixels scaled to [0, 1] are not binary: the anti-aliased edges of every stroke are grey."
)
f1, f2, f3 = st.columns(3)
f1.metric("pixels strictly between 0 and 1", f"{stats.fraction_soft:.1%}")
f2.metric("BCE floor: mean H(x) per pixel", f"{stats.mean_floor:.4f} nats")
f3.metric("mean pixel sum of an image", f"{stats.pixel_sum:.0f}")
chart(floors_figure(stats), key="floors")
st.caption(f"No autoencoder's mean BCE on MNIST training images can go below {stats.mean_floor:.4f} nats "
           "per pixel, however good it is: that is the floor, reached only by reproducing every pixel exactly.")

# --------------------------------------------------------------------------
st.header("Why a softmax output cannot do this job")
d1, d2, d3 = st.columns(3)
with d1:
    digit = url.number("Test digit (index among the 10,000 test images)", "digit", 0, len(x_test) - 1, 1, step=1)
with d2:
    steps = url.select("Adam steps", "steps", [500, 1000, 2000, 4000], 2000)
with d3:
    learning_rate = url.select("Learning rate", "lr", [0.01, 0.03, 0.1, 0.3, 1.0], 0.1)
image = x_test[digit]
facts = digit_facts(digit, image)
caption = f"test image {digit} (a {int(y_test[digit])})"
ui.prose(
    f"Test image {digit} is a **{int(y_test[digit])}**; its pixels sum to **{facts['total']:.1f}**, "
    "but a softmax's 784 outputs must sum to 1. A sigmoid output has no such constraint: its best "
    "output is the image itself, and its BCE is the image's floor. The softmax's best is found below "
    "by optimising its 784 logits with Adam (optax); **Fit again, live** lets you watch it happen."
)
fit_status = live_region("bce:fit")  # the fit's progress for screen readers
images_box = st.empty()
curve_box = st.empty()
metrics_box = st.container()

fit_key = ("bce:fit", digit, steps, learning_rate)
result = st.session_state.get(fit_key) or finished_fits().get(fit_key)
rerun_fit = st.button("Fit again, live", key="bce:refit")
if result is None or rerun_fit:
    try:
        for progress in bce_mnist.fit_softmax(facts["target"], steps=steps, learning_rate=learning_rate, chunk=100):
            if not rerun_fit:  # a first look shows the fit done at once; the button replays it frame by frame
                continue
            chart(bce_plots.digits_figure(facts["target"], progress.output, {}), box=images_box,
                  key=f"digits-live-{progress.step}", with_data=False)
            chart(bce_plots.fit_curve_figure(progress.losses, facts["bound"], facts["floor"]), box=curve_box,
                  key=f"curve-live-{progress.step}", with_data=False,
                  alt=describe.live_loss("Adam fitting the softmax's 784 logits", progress.step, steps,
                                         progress.loss, "nats"))
            live_status(fit_status, "bce:fit", describe.progress_line(
                "Finished" if progress.done else "Adam fitting the softmax's 784 logits", progress.step, steps,
                unit="step", mean_BCE=progress.loss), final=progress.done)
        result = {"output": progress.output, "losses": progress.losses,
                  "bce": bce_mnist.mean_bce(facts["target"], progress.output)}
        st.session_state[fit_key] = result
        finished_fits().put(fit_key, result)
    except FloatingPointError as err:
        st.error(f"**The fit diverged.** {err}", icon=":material/error:")
        result = None
if result is not None:
    digits_fig, curve_fig = fit_figures(fit_key, facts, result, caption)
    chart(digits_fig, box=images_box, key="digits")
    chart(curve_fig, box=curve_box, key="curve",
          alt=describe.live_loss("Adam fitted the softmax's 784 logits", steps, steps, result["bce"], "nats"))
    with metrics_box:
        s1, s2, s3 = st.columns(3)
        s1.metric("softmax best (Adam), mean BCE", f"{result['bce']:.4f}")
        s2.metric("simplex bound (convex solver)", f"{facts['bound']:.4f}")
        s3.metric("sigmoid best = floor of this digit", f"{facts['floor']:.4f}")
st.markdown("**The simplex bound.** Whatever the logits, $q = \\mathrm{softmax}(z)$ lies on the simplex. "
            "The best any such $q$ can do is a convex problem, solved here independently of Adam:")
formula(r"\min_{q}\ \frac1n\sum_i \mathrm{BCE}(y_i, q_i)\quad\text{s.t.}\ \sum_i q_i = 1,\ q_i \ge 0",
        "Find the outputs q with the lowest mean BCE over the n pixels among all q that sum to 1 with no "
        "negative entry: every output a softmax can give, and its limits.")
formula(r"\begin{aligned}&\text{KKT: } -\frac{y_i}{q_i}+\frac{1-y_i}{1-q_i} = c \\ \Rightarrow\; "
        r"&q_i(c) = \frac{2y_i}{(1-c)+\sqrt{(1-c)^2+4cy_i}},\quad \textstyle\sum_i q_i(c) = 1\end{aligned}",
        "At the optimum, every pixel with a positive output has the same BCE slope c; solved for q_i, that "
        "gives the closed form shown, and c is the value at which the q_i sum to 1.")
ui.prose("Each $q_i(c)$ grows with $c$, so bisection on the multiplier $c$ finds the optimum; "
            "pixels with $y_i = 0$ get $q_i = 0$. Since the problem is convex, no softmax output can beat it, "
            "and Adam's result lands on it.")

# --------------------------------------------------------------------------
st.header("Raw 0–255 targets: no minimum at all")


@url.fragment  # the raw target's slider redraws this section alone
def raw_targets() -> None:
    raw_y = url.slider("Raw target value y (a pixel in 0–255)", "raw", 0, 255, 255)
    raw, raw_fig = raw_view(raw_y)
    r1, r2 = st.columns(2)
    r1.metric(f"BCE({raw_y}, p) at Keras's clip p = 1 − ε", f"{raw.bce[-1]:,.1f}")
    r2.metric(f"test image {digit}, raw targets: lowest mean BCE the clip allows",
              f"{facts['raw_infimum']:,.1f}")
    chart(raw_fig, key="raw",
          alt=describe.raw_target(raw_y, raw.p[-1], raw.bce[-1], raw.derivative_sign_negative))
    formula(r"\begin{aligned}y > 1:\quad &\frac{\partial\,\mathrm{BCE}}{\partial p} = "
            r"-\frac{y}{p} - \frac{y-1}{1-p} < 0 \\ &\text{for every } p\in(0,1)\end{aligned}",
            "With a target y above 1, the slope of BCE in p is negative for every p between 0 and 1: the loss "
            "keeps falling as p grows, so it has no minimum inside the interval.")
    st.markdown(
        ("With $y > 1$ the loss only falls as $p \\to 1$: there is no minimum, and the only thing that stops "
         "it is Keras's clipping, at a large negative value. Scale the pixels to [0, 1]."
         if raw.derivative_sign_negative else
         f"With $y = {raw_y}$ the target is still a probability, so the loss has its usual minimum. "
         "Move the slider above 1 to see it vanish.")
    )


raw_targets()

# --------------------------------------------------------------------------
st.header("Logits")


@url.fragment  # the logit view's controls redraw this section alone
def logits() -> None:
    g1, g2 = st.columns([2, 1])
    with g1:
        logit_y = url.slider("Target y for the logit view", "ly", 0.0, 1.0, 0.8, step=0.01)
    with g2:
        z_range = url.select("Logit range ±", "zr", [5, 10, 20], 10, widget="segmented_control")
    logit, logit_fig = logit_view(logit_y, z_range)
    chart(logit_fig, key="logits", alt=describe.logit_view(logit_y, logit.z_star, logit.floor))
    ui.prose(
        "The stable form $\\max(z, 0) - zy + \\log(1 + e^{-|z|})$ (as in "
        "`tf.nn.sigmoid_cross_entropy_with_logits`) never takes the log of 0. Its gradient "
        "$\\sigma(z) - y$ is bounded and vanishes at "
        + (f"$z^* = \\log\\frac{{y}}{{1-y}} = {logit.z_star:.3f}$." if logit.z_star is not None else
           "no finite $z$: with a binary target the loss only approaches 0 as $|z| \\to \\infty$.")
    )


logits()

url.finish()
