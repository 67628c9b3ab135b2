"""Loss landscape: the loss around a trained network's weights, along the straight line and the path it took."""

import dataclasses
import time

import streamlit as st

from lossviz import settings, ui
from lossviz.figures import landscape as plots
from lossviz.lessons import landscape as ls
from lossviz.lessons import landscape_runs as lr
from lossviz.runs import ids
from lossviz.ui.charts import data_expander

st.title("Loss landscape")
url = ui.UrlState("landscape")
ui.prose(
    "A network's loss is a function of all its weights at once: about 220,000 numbers for the autoencoder. "
    "This page looks at that function where a training run went: along the **straight line** from the "
    "initial to the final weights, on a **2-D slice** through the final weights along two random directions "
    "scaled to each neuron's weights (Li et al. 2018), and on the plane that best holds the **path** the "
    "weights took, epoch by epoch."
)


def check_run_id(text: str) -> None:
    if text and not ids.is_run_id(text):
        raise ValueError("not a run id (16 lowercase hex characters, as in a lab run's link)")


@st.cache_resource(show_spinner="Training both runs of the pair (once per server)…", max_entries=4)
def pair_runs(pair: str, train_images: int, epochs: int | None, _mnist) -> list[lr.RunWeights]:
    return lr.train_pair(pair, _mnist, train_images, epochs)


def pair_through_service(pair: str) -> list[lr.RunWeights] | None:
    """The pair trained by the run service (once for everyone, kept in the store); ``None`` if it cannot be."""
    from lossviz.ui import runs as ui_runs

    service = ui_runs.run_service()
    if service is None:
        return None
    try:
        submitted = [(service.submit(config, ui_runs.session_token(), limit_train=lr.PAIR_TRAIN_IMAGES).run_id,
                      label) for config, label in lr.pair_configs(pair, lr.PAIR_EPOCHS)]
        bar = st.progress(0.0, text="Training the pair in the run store (once for every visitor)…")
        deadline = time.monotonic() + lr.PAIR_WAIT_SECONDS
        while True:
            ended, fraction, failed = lr.pair_progress([service.store.get(run_id) for run_id, _ in submitted])
            if ended or time.monotonic() > deadline:
                break
            bar.progress(fraction, text=f"Training the pair in the run store: {fraction:.0%}")
            time.sleep(0.5)
        bar.empty()
        if not ended:
            st.info("The pair is still training (the server is busy). Open this page again in a minute.",
                    icon=":material/hourglass:")
            return []
        if failed:
            url.note("The pair did not finish in the run store (" + "; ".join(failed) + "); trained here instead.")
            return None
        return [dataclasses.replace(stored_run(settings.database_url(), run_id), label=label)
                for run_id, label in submitted]
    except (RuntimeError, LookupError) as err:  # a full queue and the store's errors are RuntimeErrors
        url.note(f"The run service could not train the pair ({err}); it is trained here instead.")
        return None


@st.cache_resource(show_spinner="Opening the run store…")
def open_store(database_url: str):
    from lossviz.runs.store import RunStore

    return RunStore(database_url)


def run_store():
    return open_store(settings.database_url())


@st.cache_resource(show_spinner="Reading the run's weights…", max_entries=8, ttl=600)
def stored_run(database_url: str, run_id: str) -> lr.RunWeights:
    return lr.stored_weights(open_store(database_url), run_id)


@st.cache_resource(max_entries=4)  # 60,000 images are 190 MB on the device
def probes(source: str, _run: lr.RunWeights, images: int, _mnist):
    return lr.probes(_run, _mnist, images)


@st.cache_resource(max_entries=256)
def computed() -> dict:
    """Surfaces and lines already computed in this process, by run and view: a class computes each once."""
    return {}


# --------------------------------------------------------------------------
# Which run(s)
# --------------------------------------------------------------------------
mnist = ui.mnist_or_stop(url)
run_id = url.text("Run id from the lab (optional)", "run", "", check=check_run_id,
                  help="A finished lab run's id; its link `/landscape?run=<id>` opens it here.")
runs, source = None, None
if run_id and ids.is_run_id(run_id):
    try:
        runs, source = [stored_run(settings.database_url(), run_id)], run_id
    except (LookupError, RuntimeError) as err:  # the store's errors are RuntimeErrors
        url.note(f"Run `{run_id}` cannot be shown: {err}. Showing a pair trained here instead.")
elif run_id:
    st.error("That is not a run id: a run id is 16 lowercase hex characters, as in a lab run's link.",
             icon=":material/error:")
pair = url.select("Or a pair trained here", "pair", list(lr.PAIRS), "autoencoder", widget="segmented_control",
                  format_func=lr.PAIR_TITLES.get, disabled=runs is not None)
if runs is not None:
    shown = runs[0]
    st.caption(f"Run `{shown.run_id}` ([open it in the lab](/mnist?run={shown.run_id})): {shown.config.task}, "
               f"{shown.config.output_activation} output, {lr.loss_unit(shown.config)}, {len(shown.epochs)} epochs "
               f"kept, its last epoch's training loss {shown.reported_loss:.4g}.")
else:
    runs = pair_through_service(pair)
    if runs is None:
        runs = pair_runs(pair, lr.PAIR_TRAIN_IMAGES, lr.PAIR_EPOCHS, mnist)
    source = ":".join(["pair", pair, str(lr.PAIR_TRAIN_IMAGES), str(lr.PAIR_EPOCHS)] + [r.run_id or "" for r in runs])
    if not runs:  # still training in the run store: the page said so
        url.stop()
    st.caption(f"Both runs trained on the first {lr.PAIR_TRAIN_IMAGES:,} training images with their presets: "
               + "; ".join(f"**{r.label}** ({r.config.output_activation} output, {lr.loss_unit(r.config)}, "
                           f"last epoch's training loss {r.reported_loss:.4g}"
                           + (f", [open it in the lab](/mnist?run={r.run_id})" if r.run_id else "") + ")"
                           for r in runs))

view = url.select("View", "view", list(lr.VIEWS), "line", widget="segmented_control",
                  format_func={"line": "1-D: the straight line", "slice": "2-D: random slice",
                               "path": "2-D: the path taken"}.get) or "slice"
c1, c2, c3 = st.columns(3)
with c1:
    images = url.select("Images the loss is averaged over", "images", list(lr.IMAGE_CHOICES), ls.DEFAULT_IMAGES,
                        format_func=lambda n: f"{n:,}" + (" (all)" if n == lr.IMAGE_CHOICES[-1] else ""))
with c2:
    resolution = url.slider("Resolution (points per axis)", "res", ls.RESOLUTIONS[0], ls.RESOLUTIONS[1], 21, step=2,
                            disabled=view == "line")
with c3:
    log_colour = url.toggle("Log colour scale", "log", True, disabled=view == "line",
                            help="Colours log10(loss − lowest + ε): the basin's detail shows next to high walls.")
c4, c5, c6 = st.columns(3)
with c4:
    half_range = url.slider("Range ± (in filter-normalised units)", "range", 0.1, 2.0, 1.0, step=0.1,
                            disabled=view != "slice")
with c5:
    seed = url.number("Direction seed", "seed", 0, 10**6, 0, step=1, disabled=view != "slice")
with c6:
    shared = url.toggle("One colour scale for both runs", "shared", True, disabled=len(runs) < 2 or view == "line")
    show_3d = url.toggle("Also as 3-D surfaces", "d3", True, disabled=view == "line")

pair_images = {r.label: min(images, r.train_images or images) for r in runs}
n_images = min(pair_images.values())
if n_images < images:
    url.note(f"These runs trained on {n_images:,} images; the loss is averaged over those {n_images:,}.")
cache = computed()

# --------------------------------------------------------------------------
# The straight line
# --------------------------------------------------------------------------
if view == "line":
    st.header("The straight line from initial to final weights")
    st.markdown("θ(α) = (1 − α)·θ₀ + α·θ₁: α = 0 is the initialisation, α = 1 the trained network; "
                "beyond them the line goes on. A bump between 0 and 1 would be a barrier training went around.")
    columns = st.columns(len(runs))
    for run, column in zip(runs, columns):
        key = (source, run.label, "line", n_images)
        train, test = probes(source + run.label, run, n_images, mnist)
        with st.spinner(f"Evaluating the line of {run.label}…"):
            if key not in cache:
                cache[key] = lr.line(run, train, test)
        result = cache[key]
        with column:
            unit = lr.loss_unit(run.config)
            st.plotly_chart(plots.line_figure(result, unit, run.label), key=f"line-{run.label}",
                            alt=plots.line_alt(result, unit, run.label))
            data_expander(plots.line_table(result), f"Data: the line of {run.label}", f"line-{run.label}")
            initial, final = ls.loss_at(run.config, run.initial, train)[0], ls.loss_at(run.config, run.final, train)[0]
            st.markdown(f"On these {train.size:,} training images: loss of the initial weights **{initial:.5g}** "
                        f"(line at α = 0: {lr.line_value(result, 0.0):.5g}); of the final "
                        f"weights **{final:.5g}** (α = 1: {lr.line_value(result, 1.0):.5g}). The test loss is "
                        f"averaged over the first {test.size:,} test images.")

# --------------------------------------------------------------------------
# 2-D: a random slice or the plane of the path
# --------------------------------------------------------------------------
else:
    if view == "slice":
        st.header("A 2-D slice through the final weights")
        st.markdown("θ(α, β) = θ₁ + α·δ₁ + β·δ₂, with δ₁, δ₂ Gaussian and **filter-normalised**: each "
                    "neuron's incoming direction is scaled to the norm of that neuron's weights, biases left alone. "
                    "The centre (0, 0) is the trained network.")
    else:
        st.header("The path taken, on the plane that holds most of it")
        st.markdown("The weights after each epoch (and the initial ones), minus the final weights, are reduced "
                    "by PCA to their first two principal directions; the loss is drawn on that plane through the "
                    "final weights and the path projected onto it.")
    missing = [r.label for r in runs if view == "path" and not r.has_path]
    if missing:
        st.warning(f"No per-epoch weights were kept for {', '.join(missing)}: the path cannot be drawn.",
                   icon=":material/timeline:")
    planes = {} if missing else {r.label: (lr.slice_plane(r, resolution, half_range, seed) if view == "slice"
                                           else lr.path_plane(r, resolution)) for r in runs}
    name = lr.cache_name(view, resolution, half_range, seed, n_images)
    keys = {r.label: (source, r.label, name) for r in runs}
    for run in runs:
        if planes and keys[run.label] not in cache and run.run_id:
            cache[keys[run.label]] = lr.load_surface(run_store(), run.run_id, name)
    todo = [r for r in runs if planes and cache.get(keys[r.label]) is None]
    seconds = lr.estimated_seconds(todo, resolution, n_images)
    if todo and seconds > lr.SECONDS_WITHOUT_ASKING and not st.button(
            f"Compute {len(todo)} surface{'s' * (len(todo) > 1)} (about {seconds:.0f} s on this server)",
            key="landscape:compute", type="primary"):
        st.info(f"{resolution} × {resolution} points on {n_images:,} images takes about {seconds:.0f} s here; "
                "fewer images or a lower resolution is quicker.", icon=":material/hourglass:")
        planes = {}
    path_epoch = None
    if view == "path" and planes:  # the keyboard's way along the path: plotly's buttons cannot take focus
        points = max(len(plane.path.coords) for plane in planes.values())
        path_epoch = url.select("Epoch shown", "pep", list(range(points)), points - 1, widget="select_slider",
                                help="Epoch 0 is the initial weights.")
        st.caption("The star on each contour map opens at this epoch (the arrow keys step it) and moves along the "
                   "path in your browser with its own ▶ Play, ❚❚ Pause, step and ⟲ Reset buttons.")
    columns = st.columns(len(runs))
    boxes = {r.label: column.empty() for r, column in zip(runs, columns)}
    progress = st.progress(0.0, text="Evaluating the surfaces…") if planes and todo else None
    for number, run in enumerate(todo if planes else []):
        plane = planes[run.label]
        train, _ = probes(source + run.label, run, n_images, mnist)
        for done, surface in lr.surface_progress(run, plane, train, resolution):
            progress.progress((number + done) / len(todo), text=f"{run.label}: {done:.0%} of the rows")
            scale, unit = plots.ColourScale.spanning(surface.losses, log=log_colour), lr.loss_unit(run.config)
            boxes[run.label].plotly_chart(
                plots.contour_figure(plane.alphas, plane.betas, surface.losses, scale, unit, run.label, plane.path,
                                     path_epoch),
                key=f"live-{run.label}-{done:.4f}",
                alt=plots.surface_alt(plane.alphas, plane.betas, surface.losses, unit, run.label, plane.path,
                                      path_epoch))
        cache[keys[run.label]] = surface
        while len(cache) > 256:  # oldest first: a dict keeps insertion order
            cache.pop(next(iter(cache)))
        if run.run_id:
            lr.save_surface(run_store(), run.run_id, name, surface)
    if progress is not None:
        progress.empty()
    if planes and len(runs) == 2 and shared and runs[0].config.loss != runs[1].config.loss:
        st.caption("The two runs are scored by different losses: one colour scale compares their numbers, "
                   "not their shapes. Switch it off to see each run's own shape.")
    surfaces = {r.label: cache[keys[r.label]] for r in runs} if planes else {}
    common = plots.ColourScale.spanning(*[s.losses for s in surfaces.values()], log=log_colour) if surfaces else None
    for run, column in zip(runs, columns) if surfaces else ():
        plane, surface = planes[run.label], surfaces[run.label]
        scale = common if shared else plots.ColourScale.spanning(surface.losses, log=log_colour)
        unit = lr.loss_unit(run.config)
        alt = plots.surface_alt(plane.alphas, plane.betas, surface.losses, unit, run.label, plane.path, path_epoch)
        with column:
            boxes[run.label].plotly_chart(
                plots.contour_figure(plane.alphas, plane.betas, surface.losses, scale, unit, run.label, plane.path,
                                     path_epoch),
                key=f"contour-{run.label}", alt=alt)
            if show_3d:
                st.plotly_chart(plots.surface3d_figure(plane.alphas, plane.betas, surface.losses, scale, unit,
                                                       run.label, plane.path), key=f"surface-{run.label}", alt=alt)
            data_expander(plots.grid_table(plane.alphas, plane.betas, surface.losses, surface.accuracy),
                          f"Data: the surface of {run.label}", f"surface-{run.label}")
            text = f"Final weights' training loss on these {n_images:,} images: **{surface.centre_loss:.5g}**"
            if view == "slice":
                text += f" (centre of the surface: {surface.centre():.5g})"
            st.markdown(text + ".")
            if plane.path is not None:
                st.markdown(f"The two components hold **{plane.path.explained[0]:.1%}** and "
                            f"**{plane.path.explained[1]:.1%}** of the path's variance; the farthest epoch lies "
                            f"{plane.path.residual.max():.3g} off the plane.")
                data_expander(plots.path_table(plane.path), f"Data: the path of {run.label}", f"path-{run.label}")

st.header("What this picture can and cannot show")
ui.prose(
    f"- It is a slice: {runs[0].parameter_count:,} weights, shown along one or two directions. A valley here can "
    "be a ridge along a direction not drawn; a random slice says nothing about the directions training used.\n"
    "- How sharp a minimum looks depends on the length of the directions. Filter normalisation makes one unit "
    "along them mean \"as much as each neuron's own weights\", so two networks can be compared; unnormalised, "
    "a network with larger weights would look flatter for no reason.\n"
    f"- Every number is the loss averaged over {n_images:,} training images (the first of the set the run trained "
    "on); the centre of the slice and α = 1 of the line are the final weights' loss on those same images, not the "
    "average the run reported while it trained.\n"
    "- The path's plane holds the stated share of the path's variance: the rest of its motion is off the picture."
)
url.claim("pep")  # "Epoch shown" exists on the path's view once its surfaces are drawn: a link's value waits
url.finish()
