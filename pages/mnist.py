"""MNIST lab: configure a run, let the loss doctor check it, train it live, compare and take it away."""

from __future__ import annotations

import streamlit as st

from lossviz import config as cfg
from lossviz import lab, losses, settings, site, ui
from lossviz.lessons import doctor
from lossviz.figures import lab as lab_plots
from lossviz.runs import service as runs_service
from lossviz.runs import views as run_views
from lossviz.runs.store import StoreError
from lossviz.ui import lab_panel
from lossviz.ui import runs as ui_runs
from lossviz.ui import words
from lossviz.ui.charts import chart, opened_expander

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


# ---------------------------------------------------------------- showing a run
st.header("Train, live", divider="gray")
announce_box = words.live_region(lab_panel.LIVE_KEY)  # the run's progress for screen readers
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

panel = lab_panel.RunPanel.place(announce_box, smoothing, log_axis, rescale)
shown = panel.show(service, session, shown_id) if shown_id is not None else None
if shown is not None:
    shown_row, shown_record = shown
    ui_runs.run_footer(shown_row)
else:
    panel.draw_empty(config)

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
    st.dataframe(lab.comparison_rows(selected or list(runs.values())), hide_index=True, width="stretch")

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
exported = opened_expander("The exported script", "mnist:script")
if exported is not None:
    exported.code(script, language="python", wrap_lines=True)
st.markdown("**The same model in Keras 3**")
st.code(lab.keras_snippet(config), language="python", wrap_lines=True)  # no scrolling box (WCAG 2.1.1)

url.finish()
