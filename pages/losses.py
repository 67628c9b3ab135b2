"""Loss zoo: every optax loss against the margin or the residual, its gradient, and what it does to a fit."""

import time

import streamlit as st

from lossviz import lab, settings, ui
from lossviz.figures import zoo as plots
from lossviz.lessons import zoo
from lossviz.lessons import zoo_fit as zf
from lossviz.lessons import zoo_upload
from lossviz.ui.charts import chart, opened_expander, small_table
from lossviz.ui.words import formula

PAGE = "losses"
LOSSES = zoo.zoo()
CLASSIFICATION = zoo.family_names(zoo.BINARY, zoo.MULTICLASS)
REGRESSION = zoo.family_names(zoo.REGRESSION)

st.title("Loss zoo")
url = ui.UrlState(PAGE)
survey = zoo.survey()
ui.prose(
    f"Every function in `optax.losses` (optax {zoo.OPTAX_VERSION}) that scores **one prediction against one "
    f"target** — {len(survey.drawn)} of them — drawn against the **margin** (classification) or the "
    "**residual** (regression), with its derivative from `jax.grad`, and trained side by side. "
    "Every value on this page comes from optax's own function; nothing is re-implemented."
)
survey_box = opened_expander(f"All {len(survey.drawn) + len(survey.skipped)} functions in optax.losses, and why "
                             "some are not drawn", f"{PAGE}:survey")
if survey_box is not None:
    survey_box.dataframe(zoo.survey_rows(), hide_index=True)


def chosen(label: str, key: str, options: list[str], default) -> list[str]:
    names = url.multiselect(label, key, options, default, format_func=lambda n: LOSSES[n].title)
    if len(names) > zoo.MAX_CHOSEN:
        url.note(f"At most {zoo.MAX_CHOSEN} losses are drawn at once; showing the first {zoo.MAX_CHOSEN} "
                 f"of {len(names)} chosen.")
    return names[: zoo.MAX_CHOSEN]


# --------------------------------------------------------------------------
st.header("1 · Choose up to five losses of each kind")
left, right = st.columns(2)
with left:
    classification = chosen("Classification losses", "cls", CLASSIFICATION, zoo.DEFAULT_CLASSIFICATION)
with right:
    regression = chosen("Regression losses", "reg", REGRESSION, zoo.DEFAULT_REGRESSION)
used = zoo.param_keys(classification + regression)
hyper = {}
for column, param in zip(st.columns(len(zoo.PARAMS)), zoo.PARAMS):
    with column:  # every slider always exists (disabled when unused) so links never carry stale keys
        hyper[param.key] = url.slider(param.label, param.key, param.low, param.high, param.default,
                                      step=param.step, help=param.help, disabled=param.key not in used)
hyper_vector = [hyper[p.key] for p in zoo.PARAMS]


def relevant(names: list[str]) -> tuple:
    """The parameter values that the named losses use (a fit's cache key ignores the others)."""
    return tuple((key, hyper[key]) for key in sorted(zoo.param_keys(names)))


# Figures are cached by what they show (plotly builds them slowly; many visitors ask for the same ones).
@st.cache_resource(max_entries=64, show_spinner=False)
def curve_view(names: tuple, hyper_values: tuple, axis_label: str):
    found = zoo.curves(names, hyper_values)
    args = (found.x, found.values, found.slopes, [LOSSES[n].title for n in names], axis_label)
    return plots.curves_figure(*args), plots.curves_alt(*args), plots.curves_data(*args)


@st.cache_resource(max_entries=32, show_spinner=False)
def finished_view(key: tuple, _frame, _build):
    """A finished fit's pictures, built once for every visitor with the same settings."""
    return _build(_frame)


def family_section(names: list[str], axis_label: str, key: str, words: dict[str, str]) -> None:
    if not names:
        st.info("Choose at least one loss above to draw it.", icon=":material/touch_app:")
        return
    figure, alt, table = curve_view(tuple(names), tuple(hyper_vector), axis_label)
    chart(figure, alt, table, f"curves-{key}")
    rename = lambda rows: [{words.get(k, k): v for k, v in row.items()} for row in rows]  # noqa: E731
    small_table(rename(zoo.property_table(names, hyper_vector)), "loss")
    details = opened_expander("How each property is decided, and the numbers behind it", f"{PAGE}:details-{key}")
    if details is not None:
        details.markdown("\n".join(f"- **{words.get(k, k)}**: {note}" for k, note in zoo.PROPERTY_NOTES.items()))
        details.dataframe(rename(zoo.property_table(names, hyper_vector, details=True)), hide_index=True,
                          key=f"property-details-{key}")
    for tab, name in zip(st.tabs([LOSSES[n].title for n in names]), names):
        loss = LOSSES[name]
        with tab:
            formula(loss.formula, f"In words: {loss.words}.")
            st.markdown(f"optax: `{loss.call}`  \nKeras: " + (f"`keras.losses.{loss.keras}`" if loss.keras else
                                                                "no built-in loss of this kind."))


# --------------------------------------------------------------------------
st.header("2 · Classification losses against the margin")
ui.prose(
    "For a binary loss the score $z$ is read against a label $y \\in \\{-1, +1\\}$ (optax wants $\\{0, 1\\}$ "
    "for some losses; the calls below show which): the **margin** $m = y\\,z$ is positive when the sign is "
    "right. For a multiclass loss the margin is the true class's logit with the other two logits at 0 "
    "(three classes, as in the fit below). Right of 0 the prediction is correct."
)
family_section(classification, "margin m", "cls",
               {"zero when right": "zero for a correct margin", "calibrated": "calibrated probabilities",
                "robust": "robust to label noise"})

st.header("3 · Regression losses against the residual")
st.markdown("The **residual** $r = \\hat y - y$ is the prediction's error. A loss's derivative is how hard "
            "a point with that residual pulls on the fit.")
family_section(regression, "residual r", "reg",
               {"zero when right": "zero at residual 0", "calibrated": "elicits the mean",
                "robust": "robust to outliers"})


# --------------------------------------------------------------------------
def fit_live(task: str, names: list[str], points, steps: int, seed: int, model: str, key: tuple, draw) -> None:
    """Draw the fit with these settings: kept from an earlier visitor, or trained now (redrawn after each chunk
    once it has taken longer than ``zf.DRAW_LIVE_AFTER_SECONDS``)."""
    frame = zf.finished(key)
    if frame is not None:
        draw(frame, live=False)
        return
    status = st.empty()

    def queued(ahead: int) -> None:
        status.info(f"Queued: all {lab.SLOTS.capacity} training slots of this server are busy "
                    f"({ahead} ahead of you).")

    with lab.SLOTS.slot(on_wait=queued):
        status.caption("Starting: a server's first fit of this kind compiles its program first (seconds)…")
        started = time.monotonic()
        for frame in zf.fit(task, names, points, steps, seed, hyper, model=model):
            if frame.step < frame.total and time.monotonic() - started > zf.DRAW_LIVE_AFTER_SECONDS:
                status.caption(f"Training: step {frame.step} of {frame.total}")
                draw(frame, live=True)
        draw(frame, live=False)
    status.empty()
    zf.keep(key, frame)


st.header("4 · Fit a line through outliers")
r1, r2, r3, r4 = st.columns(4)
with r1:
    outliers = url.slider("Outlier fraction", "out", 0.0, 0.4, 0.2, step=0.05)
with r2:
    model = url.select("Model", "model", list(zf.MODELS), "line", widget="segmented_control")
with r3:
    reg_steps = url.slider("Adam steps", "rsteps", zf.CHUNK_STEPS, 2000, 400, step=zf.CHUNK_STEPS)
with r4:
    reg_seed = url.number("Seed", "rseed", 0, 9999, 0, step=1)
model = model or "line"  # a segmented control can be cleared
st.caption(f"{zf.REGRESSION_POINTS} points around y = {zf.TRUE_SLOPE}x + {zf.TRUE_INTERCEPT} (noise σ = "
           f"{zf.NOISE}), a fraction moved 5–9 units up. Every loss starts from the same weights and trains on "
           f"the same points with Adam (learning rate {zf.LEARNING_RATES[zf.REGRESSION_TASK]}), all in one "
           "vmapped, jit-compiled program.")
reg_points = zf.regression_points(outliers, reg_seed)
reg_slots = st.empty(), st.empty()


def history(frame) -> tuple:
    titles = [LOSSES[n].title for n in frame.names]
    return (plots.history_figure(frame.losses, titles, frame.total),
            plots.history_alt(frame.losses, titles, frame.total), plots.history_data(frame.losses, titles))


def show_fit(slots, frame, live: bool, prefix: str, key: tuple, build) -> None:
    """The fit's picture over its training losses, and its summary table once it is done.

    ``build(frame)`` gives (picture, history, summary), each picture a (figure, alt, data) triple.
    """
    picture, losses, summary = build(frame) if live else finished_view(key, frame, build)
    tag = f"{frame.step}-live" if live else "final"
    with slots[0].container():
        chart(*picture, f"{prefix}-fit-{tag}", with_data=not live)
    with slots[1].container():
        chart(*losses, f"{prefix}-history-{tag}", with_data=not live)
        if not live:
            small_table(summary, "loss", percent=tuple(k for k in summary[0] if k.startswith("accuracy")))


def regression_view(frame) -> tuple:
    titles = [LOSSES[n].title for n in frame.names]
    grid = zf.regression_grid(reg_points)
    fitted = zf.predict(frame, grid[:, None])[..., 0]
    summary = zf.regression_summary(frame, reg_points)
    picture = (plots.regression_figure(reg_points.x[:, 0], reg_points.y, reg_points.corrupted, grid, fitted,
                                       zf.TRUE_SLOPE * grid + zf.TRUE_INTERCEPT, titles, frame.step),
               plots.regression_alt(summary, frame.step, int(reg_points.corrupted.sum()), len(reg_points.y)),
               plots.regression_data(grid, fitted, titles))
    return picture, history(frame), summary


reg_key = ("regression", tuple(regression), relevant(regression), outliers, model, reg_steps, reg_seed)


if regression:
    fit_live(zf.REGRESSION_TASK, regression, reg_points, reg_steps, reg_seed, model, reg_key,
             lambda frame, live: show_fit(reg_slots, frame, live, "reg", reg_key, regression_view))
else:
    st.info("Choose a regression loss in section 1 to fit it.", icon=":material/touch_app:")


# --------------------------------------------------------------------------
st.header("5 · Classify 2-D points")
limits = settings.limits()
c1, c2, c3 = st.columns(3)
with c1:
    noise = url.slider("Label noise (fraction relabelled)", "noise", 0.0, 0.5, 0.1, step=0.05)
with c2:
    cls_steps = url.slider("Adam steps", "csteps", zf.CHUNK_STEPS, 1000, 300, step=zf.CHUNK_STEPS)
with c3:
    cls_seed = url.number("Seed", "cseed", 0, 9999, 0, step=1)
upload = st.file_uploader(
    f"Your own points: a CSV with the header x1,x2,label (at most {limits.max_upload_rows:,} rows and "
    f"{limits.max_upload_classes} classes)", type=["csv"], key=f"{PAGE}:upload", max_upload_size=1)
st.caption("An uploaded file stays in this browser tab: it is **not part of the page's link**, so whoever opens "
           "your link sees the built-in blobs with your settings.")
class_names, source = None, f"the app's {zf.BLOB_POINTS} seeded points in {zf.BLOB_CLASSES} blobs"
if upload is not None:
    try:
        uploaded, class_names = zoo_upload.read_points(upload.getvalue(), limits.max_upload_rows,
                                                       limits.max_upload_classes)
    except zoo_upload.UploadError as err:
        st.error(f"**`{upload.name.replace('`', '')}` cannot be used.** {err} The built-in blobs stay in place.",
                 icon=":material/error:")
    else:
        source = f"`{upload.name.replace('`', '')}`: {len(uploaded.y):,} points in {len(class_names)} classes"
if class_names is None:
    cls_points = zf.blob_points(noise, cls_seed)
    class_names = [str(k + 1) for k in range(zf.BLOB_CLASSES)]
    data_key = ("blobs",)
else:
    cls_points = zf.with_label_noise(uploaded.x, uploaded.y, noise, cls_seed)
    data_key = ("upload", zoo_upload.fingerprint(upload.getvalue()))
st.caption(f"Data: {source}; {int(cls_points.corrupted.sum())} labels moved to another class. A tanh network "
           f"2 → {zf.CLASSIFIER_HIDDEN} → classes, full-batch Adam; binary losses score each class's logit "
           "one-vs-rest, multiclass losses the logit vector.")
cls_slots = st.empty(), st.empty()


def classification_view(frame) -> tuple:
    titles = [LOSSES[n].title for n in frame.names]
    summary = zf.accuracy(frame, cls_points)
    gx, gy, regions = zf.decision_grid(frame, cls_points)
    picture = (plots.regions_figure(gx, gy, regions, cls_points.x, cls_points.y, titles, class_names, frame.step),
               plots.regions_alt(summary, frame.step, bool(cls_points.corrupted.any())),
               zf.point_predictions(frame, cls_points, class_names))
    return picture, history(frame), summary


cls_key = ("classification", tuple(classification), relevant(classification), noise, cls_steps, cls_seed,
           data_key)


if classification:
    fit_live(zf.CLASSIFICATION_TASK, classification, cls_points, cls_steps, cls_seed, "line", cls_key,
             lambda frame, live: show_fit(cls_slots, frame, live, "cls", cls_key, classification_view))
else:
    st.info("Choose a classification loss in section 1 to fit it.", icon=":material/touch_app:")

url.finish()
