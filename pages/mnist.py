"""MNIST lab: configure a run, let the loss doctor check it, train it live, compare and take it away."""

from __future__ import annotations

import streamlit as st

from lossviz import config as cfg
from lossviz import lab, losses, settings, site, ui
from lossviz.lessons import doctor
from lossviz.lessons import describe
from lossviz.figures import lab as lab_plots
from lossviz.runs import service as runs_service
from lossviz.runs import views as run_views
from lossviz.runs.store import StoreError
from lossviz.ui import runs as ui_runs
from lossviz.ui import words
from lossviz.ui.charts import chart

st.title("MNIST lab")
st.markdown(
    "Pick a configuration, let the **loss doctor** check it, press **Train** and watch a real JAX run "
    "learn MNIST. Start from the confused original (`seed-autoencoder`: softmax output, binary "
    "cross-entropy, raw 0–255 pixels), its fixes, or the two softmax classifiers."
)
url = ui.UrlState("mnist")
limits = settings.limits()
state = st.session_state
service = ui_runs.run_service()
session = ui_runs.session_token()


def _set_widgets(config: cfg.TrainConfig, train_size: int | None = None) -> None:
    """Write a configuration into the widgets (only possible before they are drawn: callbacks)."""
    for key, value in lab.widget_values(config).items():
        state[f"mnist:{key}"] = value
    name = lab.preset_of(config) or next(  # else the preset it differs from only in epochs and seed
        (n for n in lab.MNIST_PRESETS if cfg.PRESETS[n].replace(epochs=config.epochs, seed=config.seed) == config), None)
    if name is not None:
        state["mnist:p"] = name
    if train_size is not None and train_size in lab.TRAIN_SIZES:
        state["mnist:n"] = train_size


def _show(run_id: str | None) -> None:
    """Show ``run_id``; the address will carry it (and a link to it is not re-read as a new one)."""
    state["mnist_shown"] = run_id
    state["mnist_link_seen"] = run_id


# A link to a run opens it: its configuration goes into the widgets before they are drawn.
link = ui_runs.linked_run(url)
if link is not None and link != state.get("mnist_link_seen"):
    state["mnist_link_seen"] = link
    problem = "Runs are not available on this server now." if service is None else ui_runs.link_problem(link, service)
    if problem:
        url.note(problem)
        ui_runs.set_address(state.get("mnist_shown"))
    else:
        linked = ui_runs.view(service, link, with_arrays=False)[1]
        _set_widgets(linked.config, linked.train_size)
        service.follow(session, link)
        _show(link)


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
if url.shows("doctor"):  # an exercise: what is wrong with this configuration? then reveal
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
can_train = mnist_ready and service is not None
b1, b2, b3, b4 = st.columns(4)
train_clicked = b1.button("Train", type="primary", icon=":material/play_arrow:", width="stretch",
                          disabled=bool(config_error) or not can_train)
stop_clicked = b2.button("Stop", icon=":material/stop:", width="stretch",
                         help="Ends a run you started, for everyone watching it; leaves a run you joined.")
fix_pair = b3.button("As written vs fixed", icon=":material/compare:", width="stretch", disabled=not can_train,
                     help="seed-autoencoder, then autoencoder-sigmoid-bce: same seed, epochs and images.")
loss_pair = b4.button("MSE vs CE", icon=":material/compare:", width="stretch", disabled=not can_train,
                      help="classifier-mse, then classifier-cce: same seed, epochs and images.")
notice_box = st.container()


def submit(configs: list[cfg.TrainConfig]) -> list[str]:
    """Submit each configuration (or attach to its existing run); says what happened; returns the run ids."""
    submitted = []
    for c in configs:
        try:
            sub = service.submit(c, session, train_size)
        except runs_service.QueueFull as err:
            notice_box.warning(str(err), icon=":material/front_hand:")
            break
        except StoreError as err:
            notice_box.error(f"**The run could not be stored.** {err}", icon=":material/database_off:")
            break
        submitted.append(sub.run_id)
        if sub.attached:
            notice_box.info(sub.message, icon=":material/group:")
    if submitted:
        _show(submitted[-1])
    return submitted


if train_clicked and service is not None:
    for new in submit([config]):  # a new run joins the overlay, which keeps the latest few
        state["mnist_compare"] = [i for i in state.get("mnist_compare", []) if i != new][-3:] + [new]
if (fix_pair or loss_pair) and service is not None:
    pair = submit(lab.pair_configs("fix" if fix_pair else "mse-ce", int(seed), int(epochs)))
    if len(pair) == 2:
        state["mnist_compare"] = pair
if stop_clicked and service is not None and state.get("mnist_shown"):
    outcome = service.stop(state["mnist_shown"], session)
    if outcome == runs_service.LEFT:
        notice_box.info("You left this run; it keeps training for the session that started it.",
                        icon=":material/logout:")
        _show(None)
    elif outcome == runs_service.STOPPED:
        notice_box.info("Stopped for everyone watching it: you started this run.", icon=":material/stop_circle:")


@st.cache_data(show_spinner=False)
def bce_floor(n: int) -> float:
    return lab.bce_floor_of_images(ui.mnist_or_stop()[0][0][:n])


def floor_of(record: lab.RunRecord) -> float | None:
    return bce_floor(record.train_size) if lab.bce_floor_applies(record.config) else None


# ---------------------------------------------------------------- showing a run
st.header("Train, live", divider="gray")
announce_box = words.live_region("mnist")  # the run's progress for screen readers (draw_live fills it)
smoothing = url.slider("Smoothing (debiased EMA β)", "sm", 0.0, 0.99, 0.9, step=0.01)
v1, v2 = st.columns(2)
with v1:
    log_axis = url.toggle("Log loss axis", "log", False)
with v2:
    rescale = url.toggle("Rescale each reconstruction to its maximum", "rs", False)

session_rows = service.session_runs(session) if service is not None else []
labels = {row.run_id: ui_runs.name_of(row) for row in session_rows}
if state.get("mnist_shown") not in labels:
    state["mnist_shown"] = next(iter(labels), None)
if labels:
    shown_id = st.selectbox("Run shown", list(labels), key="mnist_shown", format_func=labels.get)
    state["mnist_link_seen"] = shown_id
    ui_runs.live_list(session_rows, shown_id)
else:
    shown_id = None
    st.info("No run yet: press **Train**. A run of all 60,000 images takes about a second per epoch on a "
            "free 2-core server; choose fewer training images for a quicker look. Runs train on the server: "
            "change controls, visit other pages or reload while they do.", icon=":material/info:")
ui_runs.set_address(shown_id)

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


def figure(kind: str, record: lab.RunRecord, version: int, build):
    """A run's figure, built once per stored version and view options for every session watching it."""
    return ui_runs.shared((kind, record.run_id, version, smoothing, log_axis, rescale), build)


def progress_words(record: lab.RunRecord) -> str:
    """The live region's sentence for the run now: one per epoch, not per poll."""
    return describe.progress_line(
        "Training" if record.status == "running" else record.status.capitalize(), len(record.epochs),
        record.config.epochs, loss=record.epochs[-1]["train_loss"] if record.epochs else None)


def draw_live(record: lab.RunRecord, version: int, hold_words: bool) -> None:
    """Progress, metrics and the step chart: what changes between chunks.

    A watching fragment redraws these on every poll (a fragment run clears what it does not draw again);
    the stable key makes the chart update in place, never remount.
    """
    c = record.config
    floor = floor_of(record)
    if record.total_steps:
        eta = "" if record.done or record.eta_seconds != record.eta_seconds else f" · ETA {record.eta_seconds:,.0f} s"
        progress_box.progress(record.fraction_done, text=(
            f"step {len(record.steps):,} / {record.total_steps:,} · epoch "
            f"{record.epochs_done:.2f} / {c.epochs} · {record.samples_per_second:,.0f} samples/s{eta}"))
    else:
        progress_box.caption("Waiting for the first chunk of steps…")
    words.live_status(announce_box, "mnist", progress_words(record), final=record.done, hold=hold_words)
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
    chart(figure("steps", record, version, lambda: lab_plots.step_loss_figure(
        record.steps, record.step_losses, smoothing, log_axis, floor, loss_label(c),
        max_points=lab_plots.MAX_POINTS if record.done else lab_plots.LIVE_MAX_POINTS)),
        box=step_chart, key=f"steps-{record.run_id}", with_data=record.done,
        alt=describe.live_loss(f"Smoothed training loss of run {record.label}, {record.status}", len(record.steps),
                               record.total_steps, smoothed))


def draw_epochs(record: lab.RunRecord, version: int) -> None:
    """The per-epoch charts, digits and end-of-run payloads: drawn by full script runs only (once per epoch
    while a run trains), so browsers do not redraw them on every poll."""
    c, key = record.config, record.run_id
    keras_shown = bool(record.epochs) and record.epochs[-1].get("keras_reported_loss") is not None
    if record.epochs:
        chart(figure("epochs", record, version, lambda: lab_plots.epoch_loss_figure(
            record.epochs, loss_label(c), keras_shown, log_axis)), box=epoch_chart, key=f"epochs-{key}",
            with_data=record.done)
    else:
        epoch_chart.caption("Per-epoch train and test loss appear after the first epoch.")
    if c.task == "classifier":
        if record.epochs:
            chart(figure("accuracy", record, version, lambda: lab_plots.accuracy_figure(record.epochs)), box=side_chart,
                  key=f"acc-{key}", with_data=record.done)
        else:
            side_chart.empty()
    elif record.reconstructions is not None and record.originals is not None:
        chart(figure("digits", record, version, lambda: lab_plots.reconstruction_figure(
            record.originals, record.reconstructions, rescale, len(record.epochs))),
            box=side_chart, key=f"rec-{key}", with_data=record.done)
    else:
        side_chart.empty()
    if not keras_shown:
        keras_box.empty()
    if record.confusion is None:
        extra_box.empty()
    if keras_shown:
        last = record.epochs[-1]
        keras_box.info(
            f"**Honest BCE of the softmax outputs: {last['train_loss']:.4f}. What Keras 3 would report "
            f"for the same model: {last['keras_reported_loss']:.4f}.** Keras caches the output layer's "
            "pre-softmax logits and feeds them to binary cross-entropy as if the output were a sigmoid, "
            "so its number describes a model this one is not.", icon=":material/balance:")
    if record.confusion is not None:
        with extra_box.container():
            left, right = st.columns([1, 1.4])
            chart(lab_plots.confusion_figure(record.confusion), box=left, key=f"confusion-{key}")
            if record.misclassified:
                m = record.misclassified[0]
                chart(lab_plots.misclassified_figure(m["images"], m["true"], m["predicted"]), box=right,
                      key=f"wrong-{key}")


def draw_empty() -> None:
    """The run panel before a run: where its progress, numbers and step chart will be. Drawn with the page,
    their code is in the browser before Train is pressed (Streamlit loads an element's code when it is
    first shown), not fetched and compiled in the seconds that should draw the first point."""
    progress_box.progress(0, text=f"step 0 · epoch 0 / {config.epochs}")
    with metrics_box.container(horizontal=True):
        st.metric("Status", "no run")
        st.metric("Smoothed loss", "–")
    chart(lab_plots.step_loss_figure([], [], smoothing, log_axis, None, loss_label(config)), box=step_chart,
          key="steps-none", with_data=False, alt="Training loss per step: no run yet. Press Train to start one.")


def redraw(run_id: str, full: bool, fragment: bool) -> tuple | None:
    """Draw the run as stored now: in the full script run, or from the polling fragment."""
    try:
        found = ui_runs.view(service, run_id)
    except StoreError as err:  # a row that does not parse is reported here, not raised
        status_box.error(f"**This run cannot be shown.** {err}", icon=":material/database_off:")
        return None
    if found is None:
        status_box.warning(f"Run `{run_id}` is no longer stored.", icon=":material/delete:")
        return None
    row, record = found
    ui_runs.show_status(status_box, row, service, session)
    draw_live(record, row.version, hold_words=full and fragment)  # a watched run's words change in polls
    if not fragment:
        draw_epochs(record, row.version)
    elif not full and not words.settling("mnist") and (
            not row.state.live or len(record.epochs) != state.get("mnist_epochs_drawn")):
        st.rerun()  # an epoch ended (or the run did): the whole page draws its epoch charts once more
    return found


shown = None
if shown_id is not None:
    try:
        shown = ui_runs.view(service, shown_id)
    except StoreError:
        shown = None  # redraw says why
    # The watching fragment draws a live run, at once and on every change; and a run that ended while this
    # page reran, once more, so that its last words land in the live region's node rather than a new one.
    if shown is not None and (shown[0].state.live or words.behind("mnist", progress_words(shown[1]))):
        state["mnist_epochs_drawn"] = len(shown[1].epochs)
        draw_epochs(shown[1], shown[0].version)
        ui_runs.watch(shown_id, lambda full: redraw(shown_id, full, fragment=True))
    else:
        shown = redraw(shown_id, True, fragment=False)
if shown is not None:
    shown_row, shown_record = shown
    ui_runs.run_footer(shown_row)
else:
    draw_empty()

# ---------------------------------------------------------------- compare
st.header("Compare", divider="gray")
runs = ui_runs.records(service, session_rows)
if len(runs) < 1:
    st.caption("Every run of this session is kept here; train two or press a one-click comparison.")
else:
    if "mnist_compare" not in state:
        state["mnist_compare"] = list(runs)[:2]
    state["mnist_compare"] = [i for i in state["mnist_compare"] if i in runs]
    chosen = st.multiselect("Runs to overlay", list(runs), key="mnist_compare",
                            format_func=lambda i: runs[i].label)
    metric = url.select("Overlay", "cmp", tuple(lab.OVERLAY_METRICS), "smoothed training loss per step")
    selected = [runs[i] for i in chosen]
    series = lab.overlay_series(selected, metric, smoothing)
    if series:
        chart(lab_plots.overlay_figure(series, metric, "epoch", metric.split(" per ")[0],
                                       log_y=log_axis, markers="epoch" in metric and "step" not in metric),
              key="overlay")
        if len({(r.config.loss, r.config.pixels) for r in selected}) > 1 and "accuracy" not in metric:
            st.caption("These runs use different losses or pixel scales, so their losses are on different "
                       "scales. Common ground: test accuracy for classifiers, and the table's test BCE "
                       "against pixels in [0, 1] for autoencoders.")
    elif selected:
        st.caption("None of the chosen runs has this metric yet.")
    st.dataframe(lab.comparison_table(selected or list(runs.values())), hide_index=True, width="stretch")

# ---------------------------------------------------------------- take it away
st.header("Take it away", divider="gray")
if shown is not None:
    d1, d2, d3 = st.columns(3)
    name = f"lossviz-run-{shown_record.run_id}"
    d1.download_button("History per epoch (CSV)", lab.history_csv(shown_record), f"{name}-epochs.csv",
                       "text/csv", icon=":material/download:", width="stretch")
    d2.download_button("Loss per step (CSV)", lab.steps_csv(shown_record), f"{name}-steps.csv",
                       "text/csv", icon=":material/download:", width="stretch")
    d3.download_button("Whole run with its receipt (JSON)", run_views.run_json(shown_record, shown_row.receipt),
                       f"{name}.json", "application/json", icon=":material/download:", width="stretch")
    st.caption(f"Downloads are for the run shown above: {shown_record.label}"
               f"{' (as far as it has trained)' if shown_row.state.live else ''}.")
script = lab.export_script(config, None if train_size == 60000 else train_size)
st.download_button("Export as script", script, lab.script_filename(config), "text/x-python",
                   icon=":material/terminal:", disabled=bool(config_error),
                   help="A standalone Python file (jax, optax, numpy) that reproduces this configuration's run.")
with st.expander("The exported script"):
    st.code(script, language="python", wrap_lines=True)
st.markdown("**The same model in Keras 3**")
st.code(lab.keras_snippet(config), language="python", wrap_lines=True)  # no scrolling box (WCAG 2.1.1)

url.finish()
