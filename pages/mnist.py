"""MNIST lab: configure a run, let the loss doctor check it, train it live, compare and take it away."""

from __future__ import annotations

import time

import streamlit as st

from lossviz import config as cfg
from lossviz import lab, losses, settings, site, ui
from lossviz.lessons import doctor
from lossviz.figures import lab as lab_plots
from lossviz.engine import training

# Live charts redraw at most this often (≥ 2× a second), so drawing stays a small share of training.
REDRAW_SECONDS = 0.3

st.title("MNIST lab")
st.markdown(
    "Pick a configuration, let the **loss doctor** check it, press **Train** and watch a real JAX run "
    "learn MNIST. Start from the confused original (`seed-autoencoder`: softmax output, binary "
    "cross-entropy, raw 0–255 pixels), its fixes, or the two softmax classifiers."
)
url = ui.UrlState("mnist")
limits = settings.limits()
state = st.session_state
state.setdefault("mnist_runs", {})
state.setdefault("mnist_pending", [])
state.setdefault("mnist_next_id", 1)
runs: dict[int, lab.RunRecord] = state["mnist_runs"]


def _set_widgets(config: cfg.TrainConfig) -> None:
    """Write a configuration into the widgets (only possible before they are drawn: callbacks)."""
    for key, value in lab.widget_values(config).items():
        state[f"mnist:{key}"] = value
    name = lab.preset_of(config)
    if name is not None:
        state["mnist:p"] = name


def _load_preset() -> None:
    _set_widgets(cfg.PRESETS[state["mnist:p"]])


def _apply_fix(current: cfg.TrainConfig, fix: dict) -> None:
    _set_widgets(current.replace(**fix))


# ---------------------------------------------------------------- configure
st.header("Configure", divider="gray")
preset_name = url.select("Preset", "p", lab.MNIST_PRESETS, "seed-autoencoder", on_change=_load_preset,
                         help="Loads every setting below; change any of them freely afterwards.")
st.caption(cfg.PRESET_DESCRIPTIONS[preset_name])
base = lab.widget_values(cfg.PRESETS[preset_name])
c1, c2, c3, c4 = st.columns(4)
with c1:
    task = url.select("Model", "task", ("autoencoder", "classifier"), base["task"], widget="segmented_control")
    hidden_raw = url.text("Hidden widths", "hidden", base["hidden"], check=lab.parse_hidden,
                          help="Comma-separated, e.g. 128,64,28,64,128; empty for none.")
    hidden_act = url.select("Hidden activation", "act", ("relu", "tanh", "sigmoid", "linear"), base["act"])
with c2:
    output = url.select("Output activation", "out", cfg.ACTIVATIONS, base["out"])
    loss = url.select("Loss", "loss", losses.NAMES, base["loss"])
    pixels = url.select("Pixels", "px", cfg.PIXELS, base["px"], widget="segmented_control",
                        format_func=lambda p: {"unit": "[0, 1]", "raw": "raw 0–255"}[p])
with c3:
    optimizer = url.select("Optimizer", "opt", cfg.OPTIMIZERS, base["opt"])
    learning_rate = url.number("Learning rate", "lr", 1e-6, 10.0, base["lr"], format="%g", step=1e-4)
    bias_init = url.number("Initial bias", "bias", -10.0, 10.0, base["bias"], step=0.5)
with c4:
    batch_size = url.number("Batch size", "bs", 1, 2048, base["bs"], step=1)
    epochs = url.number("Epochs", "ep", 1, limits.max_epochs, min(base["ep"], limits.max_epochs), step=1)
    seed = url.number("Seed", "seed", 0, 2**31 - 1, base["seed"], step=1)
train_size = url.select("Training images", "n", lab.TRAIN_SIZES, 60000, widget="segmented_control",
                        format_func=lambda n: f"{n:,}" if n < 60000 else "all 60,000",
                        help="A subset trains faster; the test set is as large, up to all 10,000.")

train_size = train_size or 60000  # a segmented control can be emptied
try:
    hidden = lab.parse_hidden(hidden_raw or "")
    config_error = None
except ValueError as err:
    hidden, config_error = (), f"Hidden widths `{hidden_raw}`: {err}."
config = cfg.TrainConfig(
    task=task or base["task"], hidden=hidden, hidden_activation=hidden_act, output_activation=output,
    loss=loss, optimizer=optimizer, learning_rate=float(learning_rate), batch_size=int(batch_size),
    epochs=int(epochs), pixels=pixels or base["px"], bias_init=float(bias_init), seed=int(seed),
)
if config_error:
    st.error(config_error, icon=":material/error:")
elif config != cfg.PRESETS[preset_name]:
    st.caption(f"Modified from the preset: {lab.describe(config)}.")

# ---------------------------------------------------------------- the loss doctor
findings = doctor.diagnose(config)
with st.container(border=True):
    st.markdown(f"**Loss doctor**: {len(findings)} problem{'s' * (len(findings) != 1)} found"
                + (" with this configuration." if findings else ". The output, loss and data agree."))
    for finding in findings:
        left, right = st.columns([5, 1.3], vertical_alignment="center")
        with left:
            st.markdown(f":material/stethoscope: **{finding.title}.** {finding.explanation}")
            if finding.link == doctor.GRADIENTS_PAGE:
                gradients = next((p for p in site.existing_pages() if p.url_path == finding.link), None)
                if gradients is not None:
                    st.page_link(gradients.file, label="See why on the Gradients page", icon=gradients.icon)
        with right:
            st.button(finding.fix_label, key=f"fix-{finding.id}", on_click=_apply_fix,
                      args=(config, finding.fix), width="stretch")

# ---------------------------------------------------------------- train buttons
mnist_ready = ui.mnist_or_error() is not None  # a broken data source is said here, before any Train
b1, b2, b3, b4 = st.columns(4)
train_clicked = b1.button("Train", type="primary", icon=":material/play_arrow:", width="stretch",
                          disabled=bool(config_error) or not mnist_ready)
stop_clicked = b2.button("Stop", icon=":material/stop:", width="stretch")
fix_pair = b3.button("As written vs fixed", icon=":material/compare:", width="stretch", disabled=not mnist_ready,
                     help="seed-autoencoder, then autoencoder-sigmoid-bce: same seed, epochs and images.")
loss_pair = b4.button("MSE vs CE", icon=":material/compare:", width="stretch", disabled=not mnist_ready,
                      help="classifier-mse, then classifier-cce: same seed, epochs and images.")
for earlier in runs.values():
    earlier.settle()  # a run the previous script run was training ends as that run is interrupted
if stop_clicked:
    state["mnist_pending"] = []
if train_clicked:
    state["mnist_pending"] = [(config, train_size, None)]
if fix_pair or loss_pair:
    pair = lab.pair_configs("fix" if fix_pair else "mse-ce", int(seed), int(epochs))
    state["mnist_pending"] = [(c, train_size, "pair") for c in pair]
    state["mnist_pair"] = []


# ---------------------------------------------------------------- data (cached per process)
@st.cache_resource(max_entries=3, show_spinner="Putting MNIST on the device…")
def dataset_for(task: str, pixels: str, n: int, _mnist) -> training.Dataset:
    like = cfg.PRESETS["autoencoder-sigmoid-bce" if task == "autoencoder" else "classifier-cce"]
    return training.prepare(like.replace(pixels=pixels), mnist=_mnist, limit_train=n,
                            limit_test=lab.test_size(n))


@st.cache_data(show_spinner=False)
def bce_floor(n: int) -> float:
    return lab.bce_floor_of_images(ui.mnist_or_stop()[0][0][:n])


def floor_of(record: lab.RunRecord) -> float | None:
    return bce_floor(record.train_size) if lab.bce_floor_applies(record.config) else None


# ---------------------------------------------------------------- showing a run
st.header("Train, live", divider="gray")
smoothing = url.slider("Smoothing (debiased EMA β)", "sm", 0.0, 0.99, 0.9, step=0.01)
v1, v2 = st.columns(2)
with v1:
    log_axis = url.toggle("Log loss axis", "log", False)
with v2:
    rescale = url.toggle("Rescale each reconstruction to its maximum", "rs", False)

starting = None
if state["mnist_pending"]:
    c, n, group = state["mnist_pending"].pop(0)
    run_id = state["mnist_next_id"]
    state["mnist_next_id"] = run_id + 1
    starting = lab.RunRecord(run_id=run_id, config=c, train_size=n)
    runs[run_id] = starting
    if group == "pair":
        state.setdefault("mnist_pair", []).append(run_id)
    else:  # a new run joins the overlay, which keeps the latest few
        state["mnist_compare"] = [i for i in state.get("mnist_compare", []) if i in runs][-3:] + [run_id]
    state["mnist_show"] = run_id

if runs:
    ids = sorted(runs, reverse=True)
    if state.get("mnist_show") not in runs:
        state["mnist_show"] = ids[0]
    shown_id = st.selectbox("Run shown", ids, key="mnist_show", format_func=lambda i: runs[i].label)
else:
    shown_id = None
    st.info("No run yet: press **Train**. A run of all 60,000 images takes about a second per epoch on a "
            "free 2-core server; choose fewer training images for a quicker look.", icon=":material/info:")

status_box = st.empty()
progress_box = st.empty()
metrics_box = st.empty()
step_chart = st.empty()
row_left, row_right = st.columns(2)
epoch_chart = row_left.empty()
side_chart = row_right.empty()
keras_box = st.empty()
extra_box = st.empty()


def loss_label(c: cfg.TrainConfig) -> str:
    return f"{lab.short_loss(c.loss)} (nats)" if lab.short_loss(c.loss) in ("BCE", "CCE", "KL") else lab.short_loss(c.loss)


draws = [0]


def draw(record: lab.RunRecord, live: bool, epoch_charts: bool = True) -> None:
    """Redraw the placeholders from ``record``; between chunks and once at the end.

    The per-epoch charts and digits change only when an epoch ends, so chunk
    redraws skip them (``epoch_charts=False``): half the drawing cost.
    """
    c = record.config
    floor = floor_of(record)
    if record.total_steps:
        eta = "" if record.done else f" · ETA {record.eta_seconds:,.0f} s"
        progress_box.progress(record.fraction_done, text=(
            f"step {len(record.steps):,} / {record.total_steps:,} · epoch "
            f"{record.epochs_done:.2f} / {c.epochs} · {record.samples_per_second:,.0f} samples/s{eta}"))
    smoothed = record.smoothed_loss(smoothing)
    with metrics_box.container(horizontal=True):
        st.metric("Status", record.status)
        st.metric("Smoothed loss", "–" if smoothed is None else f"{smoothed:.4f}")
        if floor is not None and smoothed is not None:
            st.metric("Excess over the BCE floor", f"{record.excess_over_floor(floor, smoothing):.4f}",
                      help=f"The data's BCE floor is {floor:.4f} nats/pixel: the mean entropy of its pixels.")
        last = record.final()
        if c.task == "classifier" and last["test_accuracy"] is not None:
            st.metric("Test accuracy", f"{last['test_accuracy']:.2%}")
        if last["test_loss"] is not None:
            st.metric("Test loss", f"{last['test_loss']:.4f}")
        st.metric("Seconds", f"{record.seconds:.1f}")
    draws[0] += 1
    key = f"{record.run_id}-live-{draws[0]}" if live else f"{record.run_id}-done"
    step_chart.plotly_chart(lab_plots.step_loss_figure(
        record.steps, record.step_losses, smoothing, log_axis, floor, loss_label(c)),
        width="stretch", key=f"steps-{key}")
    if not epoch_charts:
        return
    keras_shown = bool(record.epochs) and record.epochs[-1].get("keras_reported_loss") is not None
    if record.epochs:
        epoch_chart.plotly_chart(lab_plots.epoch_loss_figure(record.epochs, loss_label(c), keras_shown, log_axis),
                                 width="stretch", key=f"epochs-{key}")
    else:
        epoch_chart.caption("Per-epoch train and test loss appear after the first epoch.")
    if c.task == "classifier":
        if record.epochs:
            side_chart.plotly_chart(lab_plots.accuracy_figure(record.epochs), width="stretch",
                                    key=f"acc-{key}")
    elif record.reconstructions is not None and record.originals is not None:
        side_chart.plotly_chart(lab_plots.reconstruction_figure(
            record.originals, record.reconstructions, rescale, len(record.epochs)),
            width="stretch", key=f"rec-{key}")
    if keras_shown:
        last = record.epochs[-1]
        keras_box.info(
            f"**Honest BCE of the softmax outputs: {last['train_loss']:.4f}. What Keras 3 would report "
            f"for the same model: {last['keras_reported_loss']:.4f}.** Keras caches the output layer's "
            "pre-softmax logits and feeds them to binary cross-entropy as if the output were a sigmoid, "
            "so its number describes a model this one is not.", icon=":material/balance:")


def draw_classifier_end(record: lab.RunRecord) -> None:
    if record.confusion is None:
        return
    with extra_box.container():
        left, right = st.columns([1, 1.4])
        left.plotly_chart(lab_plots.confusion_figure(record.confusion), width="stretch",
                          key=f"confusion-{record.run_id}")
        if record.misclassified:
            m = record.misclassified[0]
            right.plotly_chart(lab_plots.misclassified_figure(m["images"], m["true"], m["predicted"]),
                               width="stretch", key=f"wrong-{record.run_id}")


def train(record: lab.RunRecord) -> None:
    """Run ``record``'s configuration in a training slot, redrawing between chunks."""
    mnist = ui.mnist_or_stop()
    dataset = dataset_for(record.config.task, record.config.pixels, record.train_size, mnist)
    if dataset.reconstruction_inputs is not None:
        record.originals = dataset.reconstruction_inputs
    last_draw = [0.0]

    def on_wait(ahead: int) -> None:
        record.status = "queued"
        status_box.info(
            f"**Queued.** All {lab.SLOTS.capacity} training slots of this server are busy"
            f"{f' and {ahead} visitor(s) are ahead of you' if ahead else ''}; your run starts when one frees.",
            icon=":material/hourglass_top:")

    epoch_ended = [False]

    def on_progress(event) -> None:
        record.observe(event)
        epoch_ended[0] = epoch_ended[0] or event.kind == "epoch"
        now = time.perf_counter()
        # Short epochs (a classifier's take ~0.1 s) end faster than it is worth redrawing.
        if now - last_draw[0] >= REDRAW_SECONDS:
            last_draw[0] = now
            draw(record, live=True, epoch_charts=epoch_ended[0])
            epoch_ended[0] = False

    try:
        with lab.SLOTS.slot(on_wait=on_wait):
            record.status = "running"
            record.started_at = time.time()
            status_box.info(f"Training **{record.label}** on {record.train_size:,} images… "
                            "press **Stop** to end it between chunks (changing any control ends it too).", icon=":material/play_circle:")
            result = training.run(record.config, dataset, on_progress=on_progress)
        record.finish(result)
        if record.config.task == "autoencoder" and result.epochs:
            record.common_bce = lab.autoencoder_common_bce(record.config, result.params, dataset)
        if record.config.task == "classifier" and result.epochs:
            report = lab.classifier_report(record.config, result.params, dataset)
            record.confusion = report["confusion"]
            record.misclassified = [report]
    finally:
        record.interrupt()  # no-op unless Stop, another control or a closed tab cut the run short


def show_status(record: lab.RunRecord) -> None:
    if record.status == "diverged":
        status_box.warning(f"**The run diverged.** {record.message}", icon=":material/warning:")
    elif record.status == "stopped":
        status_box.info(f"**Stopped.** {record.message}", icon=":material/stop_circle:")
    elif record.status == "finished":
        status_box.success(f"**Finished.** {record.message}", icon=":material/check_circle:")
    else:
        status_box.info(f"{record.status}: {record.message}")


if starting is not None:
    train(starting)
    if state["mnist_pending"]:
        st.rerun()
    if state.get("mnist_pair"):
        state["mnist_compare"] = list(state["mnist_pair"])
        state["mnist_pair"] = []
if shown_id is not None:
    shown = runs[shown_id]
    show_status(shown)
    draw(shown, live=False)
    if shown.config.task == "classifier":
        draw_classifier_end(shown)

# ---------------------------------------------------------------- compare
st.header("Compare", divider="gray")
if len(runs) < 1:
    st.caption("Every run of this session is kept here; train two or press a one-click comparison.")
else:
    if "mnist_compare" not in state:
        state["mnist_compare"] = sorted(runs)[-2:]
    state["mnist_compare"] = [i for i in state["mnist_compare"] if i in runs]
    chosen = st.multiselect("Runs to overlay", sorted(runs), key="mnist_compare",
                            format_func=lambda i: runs[i].label)
    metric = url.select("Overlay", "cmp", tuple(lab.OVERLAY_METRICS), "smoothed training loss per step")
    selected = [runs[i] for i in chosen]
    series = lab.overlay_series(selected, metric, smoothing)
    if series:
        st.plotly_chart(lab_plots.overlay_figure(series, metric, "epoch", metric.split(" per ")[0],
                                                 log_y=log_axis, markers="epoch" in metric and "step" not in metric),
                        width="stretch", key="overlay")
        if len({(r.config.loss, r.config.pixels) for r in selected}) > 1 and "accuracy" not in metric:
            st.caption("These runs use different losses or pixel scales, so their losses are on different "
                       "scales. Common ground: test accuracy for classifiers, and the table's test BCE "
                       "against pixels in [0, 1] for autoencoders.")
    elif selected:
        st.caption("None of the chosen runs has this metric yet.")
    st.dataframe(lab.comparison_rows(selected or list(runs.values())), hide_index=True, width="stretch")

# ---------------------------------------------------------------- take it away
st.header("Take it away", divider="gray")
if shown_id is not None:
    shown = runs[shown_id]
    d1, d2, d3 = st.columns(3)
    d1.download_button("History per epoch (CSV)", lab.history_csv(shown), f"lossviz-run{shown.run_id}-epochs.csv",
                       "text/csv", icon=":material/download:", width="stretch")
    d2.download_button("Loss per step (CSV)", lab.steps_csv(shown), f"lossviz-run{shown.run_id}-steps.csv",
                       "text/csv", icon=":material/download:", width="stretch")
    d3.download_button("Whole run (JSON)", lab.history_json(shown), f"lossviz-run{shown.run_id}.json",
                       "application/json", icon=":material/download:", width="stretch")
    st.caption(f"Downloads are for the run shown above: {shown.label}.")
script = lab.export_script(config, None if train_size == 60000 else train_size)
st.download_button("Export as script", script, lab.script_filename(config), "text/x-python",
                   icon=":material/terminal:", disabled=bool(config_error),
                   help="A standalone Python file (jax, optax, numpy) that reproduces this configuration's run.")
with st.expander("The exported script"):
    st.code(script, language="python")
st.markdown("**The same model in Keras 3**")
st.code(lab.keras_snippet(config), language="python")

url.finish()
