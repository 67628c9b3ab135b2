"""The MNIST lab's "Train, live" panel: the boxes a run is drawn in, and how a run is drawn in them.

The page makes the boxes once per script run, in page order (:meth:`RunPanel.place`). A full script run
draws the shown run into them; while a run trains, the watching fragment (:func:`lossviz.ui.runs.watch`)
redraws its live parts on every poll and reruns the page when an epoch (or the run) ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from lossviz import config as cfg
from lossviz import lab
from lossviz.figures import lab as lab_plots
from lossviz.lessons import describe
from lossviz.runs.store import StoreError
from lossviz.ui import runs as ui_runs
from lossviz.ui import words
from lossviz.ui.charts import chart
from lossviz.ui.data import mnist_or_stop

LIVE_KEY = "mnist"
"""The lab's live region (:func:`lossviz.ui.words.live_region`)."""
EPOCHS_DRAWN = "mnist_epochs_drawn"
"""Session state: the epochs of the watched run that the last full script run drew."""


@st.cache_data(show_spinner=False)
def bce_floor(n: int) -> float:
    """The BCE floor (mean pixel entropy) of the first ``n`` training images."""
    return lab.bce_floor_of_images(mnist_or_stop()[0][0][:n])


def floor_of(record: lab.RunRecord) -> float | None:
    return bce_floor(record.train_size) if lab.bce_floor_applies(record.config) else None


def loss_label(c: cfg.TrainConfig) -> str:
    short = lab.short_loss(c.loss)
    return f"{short} (nats)" if short in ("BCE", "CCE", "KL") else short


def progress_words(record: lab.RunRecord) -> str:
    """The live region's sentence for the run now: one per epoch, not per poll."""
    return describe.progress_line(
        "Training" if record.status == "running" else record.status.capitalize(), len(record.epochs),
        record.config.epochs, loss=record.epochs[-1]["train_loss"] if record.epochs else None)


@dataclass
class RunPanel:
    """The boxes of the panel, and the view options every figure of it depends on."""

    announce: Any
    smoothing: float
    log_axis: bool
    rescale: bool
    status: Any
    progress: Any
    metrics: Any
    steps: Any
    epochs: Any
    side: Any
    keras: Any
    extra: Any

    @classmethod
    def place(cls, announce, smoothing: float, log_axis: bool, rescale: bool) -> RunPanel:
        """Make the panel's boxes here, in page order (``announce`` is the live region made above them)."""
        status, progress, metrics, steps = st.empty(), st.empty(), st.empty(), st.empty()
        left, right = st.columns(2)
        return cls(announce, smoothing, log_axis, rescale, status, progress, metrics, steps, left.empty(),
                   right.empty(), st.empty(), st.empty())

    def figure(self, kind: str, record: lab.RunRecord, version: int, build):
        """A run's figure, built once per stored version and view options for every session watching it."""
        return ui_runs.shared((kind, record.run_id, version, self.smoothing, self.log_axis, self.rescale), build)

    def draw_empty(self, config: cfg.TrainConfig) -> None:
        """The panel before a run: where its progress, numbers and step chart will be. Drawn with the page,
        their code is in the browser before Train is pressed (Streamlit loads an element's code when it is
        first shown), not fetched and compiled in the seconds that should draw the first point."""
        self.progress.progress(0, text=f"step 0 · epoch 0 / {config.epochs}")
        with self.metrics.container(horizontal=True):
            st.metric("Status", "no run")
            st.metric("Smoothed loss", "–")
        chart(lab_plots.step_loss_figure([], [], self.smoothing, self.log_axis, None, loss_label(config)),
              box=self.steps, key="steps-none", with_data=False,
              alt="Training loss per step: no run yet. Press Train to start one.")

    def draw_live(self, record: lab.RunRecord, version: int, hold_words: bool) -> None:
        """Progress, metrics and the step chart: what changes between chunks.

        A watching fragment redraws these on every poll (a fragment run clears what it does not draw again);
        the stable key makes the chart update in place, never remount.
        """
        c = record.config
        floor = floor_of(record)
        if record.total_steps:
            eta = ("" if record.done or record.eta_seconds != record.eta_seconds
                   else f" · ETA {record.eta_seconds:,.0f} s")
            self.progress.progress(record.fraction_done, text=(
                f"step {len(record.steps):,} / {record.total_steps:,} · epoch "
                f"{record.epochs_done:.2f} / {c.epochs} · {record.samples_per_second:,.0f} samples/s{eta}"))
        else:
            self.progress.caption("Waiting for the first chunk of steps…")
        words.live_status(self.announce, LIVE_KEY, progress_words(record), final=record.done, hold=hold_words)
        smoothed = record.smoothed_loss(self.smoothing)
        with self.metrics.container(horizontal=True):
            st.metric("Status", record.status)
            st.metric("Smoothed loss", "–" if smoothed is None else f"{smoothed:.4f}")
            if floor is not None and smoothed is not None:
                st.metric("Excess over the BCE floor", f"{record.excess_over_floor(floor, self.smoothing):.4f}",
                          help=f"The data's BCE floor is {floor:.4f} nats/pixel: the mean entropy of its pixels.")
            last = record.final()
            if c.task == "classifier" and last["test_accuracy"] is not None:
                st.metric("Test accuracy", f"{last['test_accuracy']:.2%}")
            if last["test_loss"] is not None:
                st.metric("Test loss", f"{last['test_loss']:.4f}")
            st.metric("Seconds", f"{record.seconds:.1f}")
        chart(self.figure("steps", record, version, lambda: lab_plots.step_loss_figure(
            record.steps, record.step_losses, self.smoothing, self.log_axis, floor, loss_label(c),
            max_points=lab_plots.MAX_POINTS if record.done else lab_plots.LIVE_MAX_POINTS)),
            box=self.steps, key=f"steps-{record.run_id}", with_data=record.done,
            alt=describe.live_loss(f"Smoothed training loss of run {record.label}, {record.status}",
                                   len(record.steps), record.total_steps, smoothed))

    def draw_epochs(self, record: lab.RunRecord, version: int) -> None:
        """The per-epoch charts, digits and end-of-run payloads: drawn by full script runs only (once per epoch
        while a run trains), so browsers do not redraw them on every poll."""
        c, key = record.config, record.run_id
        keras_shown = bool(record.epochs) and record.epochs[-1].get("keras_reported_loss") is not None
        if record.epochs:
            chart(self.figure("epochs", record, version, lambda: lab_plots.epoch_loss_figure(
                record.epochs, loss_label(c), keras_shown, self.log_axis)), box=self.epochs, key=f"epochs-{key}",
                with_data=record.done)
        else:
            self.epochs.caption("Per-epoch train and test loss appear after the first epoch.")
        if c.task == "classifier":
            if record.epochs:
                chart(self.figure("accuracy", record, version, lambda: lab_plots.accuracy_figure(record.epochs)),
                      box=self.side, key=f"acc-{key}", with_data=record.done)
            else:
                self.side.empty()
        elif record.reconstructions is not None and record.originals is not None:
            chart(self.figure("digits", record, version, lambda: lab_plots.reconstruction_figure(
                record.originals, record.reconstructions, self.rescale, len(record.epochs))),
                box=self.side, key=f"rec-{key}", with_data=record.done)
        else:
            self.side.empty()
        if not keras_shown:
            self.keras.empty()
        if record.confusion is None:
            self.extra.empty()
        if keras_shown:
            last = record.epochs[-1]
            self.keras.info(
                f"**Honest BCE of the softmax outputs: {last['train_loss']:.4f}. What Keras 3 would report "
                f"for the same model: {last['keras_reported_loss']:.4f}.** Keras caches the output layer's "
                "pre-softmax logits and feeds them to binary cross-entropy as if the output were a sigmoid, "
                "so its number describes a model this one is not.", icon=":material/balance:")
        if record.confusion is not None:
            with self.extra.container():
                left, right = st.columns([1, 1.4])
                chart(lab_plots.confusion_figure(record.confusion), box=left, key=f"confusion-{key}")
                if record.misclassified:
                    m = record.misclassified[0]
                    chart(lab_plots.misclassified_figure(m["images"], m["true"], m["predicted"]), box=right,
                          key=f"wrong-{key}")

    def redraw(self, service, session: str, run_id: str, full: bool, fragment: bool) -> tuple | None:
        """Draw the run as stored now: in the full script run, or from the polling fragment.

        Returns:
          ``(row, record)`` as stored, or ``None`` (after saying why) when it cannot be shown.
        """
        try:
            found = ui_runs.view(service, run_id)
        except StoreError as err:  # a row that does not parse is reported here, not raised
            self.status.error(f"**This run cannot be shown.** {err}", icon=":material/database_off:")
            return None
        if found is None:
            self.status.warning(f"Run `{run_id}` is no longer stored.", icon=":material/delete:")
            return None
        row, record = found
        ui_runs.show_status(self.status, row, service, session)
        self.draw_live(record, row.version, hold_words=full and fragment)  # a watched run's words change in polls
        if not fragment:
            self.draw_epochs(record, row.version)
        elif not full and not words.settling(LIVE_KEY) and (
                not row.state.live or len(record.epochs) != st.session_state.get(EPOCHS_DRAWN)):
            st.rerun()  # an epoch ended (or the run did): the whole page draws its epoch charts once more
        return found

    def show(self, service, session: str, run_id: str) -> tuple | None:
        """Draw ``run_id``: a live one (or one whose last words are not said yet) watched by a polling fragment,
        an ended one once.

        Returns:
          ``(row, record)`` as stored, or ``None`` when it cannot be shown.
        """
        try:
            shown = ui_runs.view(service, run_id)
        except StoreError:
            shown = None  # redraw says why
        # The watching fragment draws a live run, at once and on every change; and a run that ended while the
        # page reran, once more, so that its last words land in the live region's node rather than a new one.
        if shown is not None and (shown[0].state.live or words.behind(LIVE_KEY, progress_words(shown[1]))):
            st.session_state[EPOCHS_DRAWN] = len(shown[1].epochs)
            self.draw_epochs(shown[1], shown[0].version)
            ui_runs.watch(run_id, lambda full: self.redraw(service, session, run_id, full, fragment=True))
            return shown
        return self.redraw(service, session, run_id, True, fragment=False)
