"""The Loss landscape page: a pair trained on the spot (small and short, to stay fast), its honest numbers,
charts that say what they show, links that restore the view, hostile links that get notices, chromium."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import app_test, error_texts, open_data, screenshot, wait_for_app
from test_bce_page import decode

PAGE = "pages/landscape.py"
SMALL = {"res": "11", "images": "500", "view": "slice"}


@pytest.fixture(scope="module", autouse=True)
def small_pairs(tmp_path_factory):
    """Pairs trained on 1,000 images for 2 epochs (the page's lessons, in seconds), in one run store for
    the module: the run service trains each pair once for all these tests."""
    from lossviz.lessons import landscape_runs as lr

    saved = lr.PAIR_TRAIN_IMAGES, lr.PAIR_EPOCHS, os.environ.get("LOSSVIZ_DATABASE_URL")
    lr.PAIR_TRAIN_IMAGES, lr.PAIR_EPOCHS = 1000, 2
    os.environ["LOSSVIZ_DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('store')}/runs.sqlite3"
    yield os.environ["LOSSVIZ_DATABASE_URL"]
    lr.PAIR_TRAIN_IMAGES, lr.PAIR_EPOCHS = saved[:2]
    if saved[2] is None:
        del os.environ["LOSSVIZ_DATABASE_URL"]
    else:
        os.environ["LOSSVIZ_DATABASE_URL"] = saved[2]


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at) -> dict[str, tuple[dict, str]]:
    """``{key: (plotly spec, alt text)}`` for every chart, by the key the page gave it."""
    return {c.proto.id.split("-", 2)[2]: (json.loads(c.proto.spec), c.proto.alt) for c in at.get("plotly_chart")}


def text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_a_pair_side_by_side_on_one_colour_scale_with_honest_centres():
    at = app_test(PAGE, SMALL)
    ok(at)
    shown = charts(at)
    assert set(shown) == {"contour-as written", "contour-fixed", "surface-as written", "surface-fixed"}
    contours = [shown["contour-as written"][0]["data"][0], shown["contour-fixed"][0]["data"][0]]
    assert contours[0]["zmin"] == contours[1]["zmin"] and contours[0]["zmax"] == contours[1]["zmax"]
    assert contours[0]["colorscale"][0][1].lower() == "#440154"  # viridis
    assert "nats per pixel" in contours[0]["colorbar"]["title"]["text"]
    for label in ("as written", "fixed"):
        losses = decode(shown[f"contour-{label}"][0]["data"][0]["customdata"])
        assert losses.shape == (11, 11) and np.isfinite(losses).all()
        alt = shown[f"contour-{label}"][1]
        assert alt.startswith(label) and "grid of 11 × 11 points" in alt
        assert f"Lowest {np.min(losses):.4g}" in alt and f"highest {np.max(losses):.4g}" in alt
    body = text(at)
    # The centre of each slice is the final weights' own loss on the same 500 images.
    for line in [m for m in body.splitlines() if m.startswith("Final weights' training loss on these 500 images")]:
        final = float(line.split("**")[1])
        centre = float(line.split("centre of the surface: ")[1].rstrip(").").rstrip(")"))
        assert centre == pytest.approx(final, rel=1e-5)
    assert body.count("Final weights' training loss on these 500 images") == 2
    assert "open it in the lab](/mnist?run=" in at.caption[0].value  # trained once, in the run store
    assert len(at.main.expander) >= 2 and all(e.label.startswith("Data") for e in at.main.expander)
    assert not at.dataframe  # each table is built only once its "Data" is opened
    assert len(open_data(at).dataframe) >= 2 and not at.exception


def test_the_line_view_starts_at_the_initial_and_ends_at_the_final_loss():
    at = app_test(PAGE, {"view": "line", "pair": "classifier", "images": "1000"})
    ok(at)
    shown = charts(at)
    assert set(shown) == {"line-MSE", "line-cross-entropy"}
    for label in ("MSE", "cross-entropy"):
        spec, alt = shown[f"line-{label}"]
        names = [t["name"] for t in spec["data"]]
        assert names == ["train loss", "test loss", "train accuracy", "test accuracy"]
        assert "Test accuracy" in alt and "α = 1 (final)" in alt
    for line in [m for m in text(at).splitlines() if m.startswith("On these 1,000 training images")]:
        parts = line.split("**")
        initial, final = float(parts[1]), float(parts[3])
        assert float(line.split("α = 0: ")[1].split(")")[0]) == pytest.approx(initial, rel=1e-5)
        assert float(line.split("α = 1: ")[1].split(")")[0]) == pytest.approx(final, rel=1e-5)
        assert final < initial


def test_a_control_that_changes_the_chart_changes_what_it_says():
    at = app_test(PAGE, {**SMALL, "pair": "classifier", "d3": "0"})
    ok(at)
    before = charts(at)["contour-MSE"][1]
    at.number_input(key="landscape:seed").set_value(5).run()
    ok(at)
    after = charts(at)["contour-MSE"][1]
    assert before != after and "surface-MSE" not in charts(at)
    assert at.query_params["seed"] in (["5"], "5")


def test_the_path_on_its_pca_plane_states_its_explained_variance():
    at = app_test(PAGE, {**SMALL, "view": "path", "pair": "classifier", "d3": "0"})
    ok(at)
    spec, alt = charts(at)["contour-MSE"]
    path = [t for t in spec["data"] if t.get("name", "").startswith("path")][0]
    assert len(decode(path["x"])) == 3  # initial and two epochs
    shares = [float(s.rstrip("%")) for s in text(at).split("of the path's variance")[0].split("**")[1::2][-2:]]
    assert 0 < shares[1] <= shares[0] and sum(shares) <= 100.05
    assert "explain" in alt and "PC 1" in spec["layout"]["xaxis"]["title"]["text"]
    # "Epoch shown" (the keyboard's way along the path) sets where the star opens, and the alt says so.
    star = [t for t in spec["data"] if t.get("name") == "epoch shown"][0]
    assert star["text"] == ["epoch 2"] and "star marks epoch 2" in alt
    at.select_slider(key="landscape:pep").set_value(1).run()
    ok(at)
    spec, alt = charts(at)["contour-MSE"]
    star = [t for t in spec["data"] if t.get("name") == "epoch shown"][0]
    assert star["text"] == ["epoch 1"] and "star marks epoch 1" in alt and at.query_params["pep"] == "1"
    assert (decode(star["x"])[0], decode(star["y"])[0]) == (decode(path["x"])[1], decode(path["y"])[1])


def test_a_long_surface_waits_for_a_click_with_its_estimate():
    at = app_test(PAGE, {"view": "slice", "res": "61", "images": "1000"})
    ok(at)
    assert not at.get("plotly_chart")
    button = at.button(key="landscape:compute")
    assert button.label.startswith("Compute 2 surfaces (about ")
    assert "61 × 61 points on 1,000 images" in at.info[0].value


def test_hostile_link_values_get_notices_and_the_page_still_draws():
    at = app_test(PAGE, {**SMALL, "res": "3", "range": "nan", "seed": "-4", "view": "<script>", "d3": "1",
                         "images": "7", "run": "../../etc/passwd", "pair": "zoo", "log": "maybe", "zz": "1"})
    assert not at.exception, [e.value for e in at.exception]
    notice = " ".join(w.value for w in at.warning)
    for expected in ("res=3", "range=nan", "seed=-4", "view=", "images=7", "`run=", "pair=zoo", "log=maybe",
                     "Unknown link parameter `zz`"):
        assert expected in notice, expected
    assert at.slider(key="landscape:res").value == 11  # clamped to the bottom of 11–61
    assert at.number_input(key="landscape:seed").value == 0
    assert len(at.get("plotly_chart")) == 2  # the autoencoder pair's lines: the view fell back to its default


@pytest.fixture(scope="module")
def stored_run(small_pairs, mnist):
    """A classifier trained into the module's real SQLite run store by the service's worker function."""
    from lossviz.config import PRESETS
    from lossviz.runs import ids, workers
    from lossviz.runs.store import RunStore

    url = small_pairs
    store = RunStore(url)
    plain = PRESETS["classifier-cce"].replace(epochs=3)
    config = workers.stored_config(plain, 1000)
    run_id = ids.run_id(plain, 1000, ids.data_sha256(mnist))
    store.insert_queued(run_id, config, None)
    assert workers.train_into_store(run_id, config, url, 1000, store=store, mnist=mnist).value == "finished"
    return store, run_id


def test_a_stored_run_opens_by_its_link_and_its_surface_is_cached_in_the_store(stored_run):
    from lossviz.lessons import landscape_runs as lr

    store, run_id = stored_run
    at = app_test(PAGE, {**SMALL, "run": run_id, "d3": "0"})
    ok(at)
    assert not at.warning, [w.value for w in at.warning]
    (key, (spec, alt)), = charts(at).items()
    assert key == f"contour-run {run_id}" and alt.startswith(f"run {run_id}")
    name = lr.cache_name("slice", 11, 1.0, 0, 500)
    assert name in store.array_names(run_id)
    cached = lr.load_surface(store, run_id, name)
    np.testing.assert_array_equal(cached.losses, decode(spec["data"][0]["customdata"]))
    assert cached.centre() == pytest.approx(cached.centre_loss, rel=1e-5)

    missing = app_test(PAGE, {**SMALL, "run": "0123456789abcdef"})
    assert not missing.exception
    assert "no run `0123456789abcdef` is stored" in " ".join(w.value for w in missing.warning)
    assert len(missing.get("plotly_chart")) == 4  # the pair instead


@pytest.mark.browser
def test_browser_draws_the_classifier_pair_with_named_charts(server_url, page):
    page.set_viewport_size({"width": 1400, "height": 3000})
    page.goto(f"{server_url}/landscape?pair=classifier&res=11&images=500&view=slice")
    wait_for_app(page, timeout_ms=180_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert not error_texts(page), error_texts(page)
    charts_ = page.locator('[data-testid="stPlotlyChart"]')
    assert charts_.count() == 4
    labels = [charts_.nth(i).get_attribute("aria-label") or "" for i in range(charts_.count())]
    assert all("grid of 11 × 11 points" in label for label in labels), labels
    # The "Data" under a chart opens from the keyboard.
    expander = page.locator('[data-testid="stExpander"]', has_text="Data: the surface of MSE")
    expander.locator("summary").focus()
    page.keyboard.press("Enter")
    expander.locator('[data-testid="stDataFrame"]').wait_for(state="visible", timeout=20_000)
    screenshot(page, "landscape-classifier-pair")

    page.goto(f"{server_url}/landscape?pair=classifier")  # the default view: the straight line
    wait_for_app(page, timeout_ms=180_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert not error_texts(page), error_texts(page)
    labels = page.locator('[data-testid="stPlotlyChart"]').evaluate_all("els => els.map(e => e.ariaLabel)")
    assert len(labels) == 2 and all("straight line" in label for label in labels), labels
    screenshot(page, "landscape-classifier-line")

    page.goto(f"{server_url}/landscape?pair=classifier&view=path&res=11&images=500&d3=0")
    wait_for_app(page, timeout_ms=180_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert not error_texts(page), error_texts(page)
    assert page.locator('[data-testid="stMarkdownContainer"]', has_text="The two components hold").count() == 2
    screenshot(page, "landscape-classifier-path")
