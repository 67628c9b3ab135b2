"""The MNIST lab page under AppTest (configure, fix, train, compare, download) and in chromium (live, Stop)."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError

from conftest import app_test, error_texts, screenshot, wait_for_app
from lossviz import lab, settings, site
from lossviz.figures import lab as lab_plots
from lossviz.ui import charts

PAGE = "pages/mnist.py"


def figures(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def arr(value) -> np.ndarray:
    """A trace's x/y/z from plotly JSON: a list, or plotly 6's base64 typed array."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            flat = flat.reshape([int(n) for n in str(value["shape"]).split(",")])
        return flat.astype(np.float64)  # plotly narrows integers (int8 counts would overflow a sum)
    return np.asarray(value)


def figure_titled(at, words: str) -> dict:
    matches = [f for f in figures(at) if words in f["layout"].get("title", {}).get("text", "")]
    assert matches, (words, [f["layout"].get("title", {}).get("text") for f in figures(at)])
    return matches[0]


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def runs_table(at):
    """The page's table of runs (the first table with a run column; charts' Data tables come and go)."""
    return next((d.value for d in at.dataframe if "run" in d.value), None)


def settle(at, timeout: float = 180):
    """Rerun until every run the page lists has ended: runs train on the server, a script run only submits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        statuses = [m.value for m in at.metric if m.label == "Status"]
        table = runs_table(at)
        listed = list(table["status"]) if table is not None and "status" in table else []
        if statuses and statuses[0] not in ("queued", "running") and not {"queued", "running"} & set(listed):
            return at
        time.sleep(0.2)
        at.run()
    raise AssertionError(f"runs still live after {timeout} s: {statuses} {listed}")


def texts(at) -> str:
    return " ".join(e.value for kind in ("markdown", "info", "success", "warning", "caption")
                    for e in at.get(kind) if isinstance(getattr(e, "value", None), str))


def test_default_page_diagnoses_the_seed_and_the_fix_buttons_change_the_widgets():
    at = app_test(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "MNIST lab"
    assert "2 problems found" in texts(at)
    assert {b.key for b in at.button if b.key} == {"fix-softmax-bce", "fix-targets-outside-unit"}
    assert 'activation="softmax"' in at.code[-1].value  # the Keras code shows the configuration

    at.button(key="fix-softmax-bce").click().run()
    assert at.selectbox(key="mnist:out").value == "sigmoid"
    assert at.query_params["out"] == "sigmoid"
    assert {b.key for b in at.button if b.key} == {"fix-targets-outside-unit"}
    at.button(key="fix-targets-outside-unit").click().run()
    assert not at.exception
    # Both fixes together are the fixed preset: the preset box follows, and the link is short again.
    assert at.selectbox(key="mnist:p").value == "autoencoder-sigmoid-bce"
    assert at.query_params["p"] == "autoencoder-sigmoid-bce" and "out" not in at.query_params
    assert "0 problems found" in texts(at)
    assert 'activation="sigmoid"' in at.code[-1].value
    # The exported script is built into the page only once its expander is opened.
    assert not any("import optax" in c.value for c in at.code)
    at.session_state["mnist:script"] = True
    at.run()
    assert any("import optax" in c.value and 'activation="sigmoid"' not in c.value for c in at.code)


def test_a_link_opens_the_same_setup_and_a_bad_link_gives_notices():
    at = app_test(PAGE, {"p": "classifier-mse", "lr": "0.5", "hidden": "x1", "ep": "9999"})
    assert not at.exception
    assert at.selectbox(key="mnist:p").value == "classifier-mse"
    assert at.number_input(key="mnist:lr").value == 0.5
    assert at.text_input(key="mnist:hidden").value == ""  # the bad widths were ignored
    assert at.number_input(key="mnist:ep").value == settings.limits().max_epochs
    notices = " ".join(w.value for w in at.warning)
    assert "hidden=x1" in notices and "ep=9999" in notices
    assert "Squared error on a softmax output" in texts(at)
    assert "See why on the Gradients page" in [link.proto.label for link in at.get("page_link")]


def test_train_a_tiny_classifier_then_compare_mse_with_ce():
    at = app_test(PAGE, {"p": "classifier-cce", "n": "1000", "ep": "2"})
    settle(button(at, "Train").click().run())
    assert not at.exception, [e.value for e in at.exception]
    assert "Finished" in " ".join(s.value for s in at.success)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "finished"
    assert 0.5 < float(metrics["Test accuracy"].rstrip("%")) / 100 <= 1.0
    steps = figure_titled(at, "per step")
    assert arr(steps["data"][0]["x"])[-1] == 2 * 32  # 1000 images in batches of 32, two epochs
    assert len(arr(figure_titled(at, "per epoch")["data"][0]["x"])) == 2
    assert len(arr(figure_titled(at, "accuracy")["data"][0]["y"])) == 2
    confusion = figure_titled(at, "Confusion")
    assert arr(confusion["data"][0]["z"]).sum() == 1000
    figure_titled(at, "Misclassified")
    downloads = [b for b in at.get("download_button") if b.proto.label != charts.DOWNLOAD_LABEL]
    assert len(downloads) == 4  # epoch CSV, step CSV, JSON, script (besides each chart's Data CSV)

    settle(button(at, "MSE vs CE").click().run())
    assert not at.exception, [e.value for e in at.exception]
    pair = at.multiselect(key="mnist_compare").value
    # The pair's CE run is the run trained above (same configuration, seed and images): attached, not retrained.
    assert len(pair) == 2 and len(at.selectbox(key="mnist_shown").options) == 2
    overlay = figure_titled(at, "smoothed training loss per step")
    names = [t["name"] for t in overlay["data"]]
    assert "classifier-mse (seed 0, 2 ep)" in names[0] and "classifier-cce (seed 0, 2 ep)" in names[1]
    at.selectbox(key="mnist:cmp").set_value("test accuracy per epoch").run()
    accuracy = figure_titled(at, "test accuracy per epoch")
    assert len(accuracy["data"]) == 2
    table = runs_table(at)
    assert list(table["run"]) == names and list(table["status"]) == ["finished", "finished"]


def test_tiny_softmax_autoencoder_shows_keras_number_then_the_fix_shows_the_floor():
    at = app_test(PAGE, {"hidden": "16", "n": "1000", "ep": "1"})
    settle(button(at, "Train").click().run())
    assert not at.exception, [e.value for e in at.exception]
    first = at.query_params["run"]
    keras = " ".join(i.value for i in at.info)
    assert "Honest BCE of the softmax outputs" in keras and "What Keras 3 would report" in keras
    figure_titled(at, "reconstructions")
    epoch_traces = [t["name"] for t in figure_titled(at, "per epoch")["data"]]
    assert "what Keras 3 reports" in epoch_traces

    at.button(key="fix-softmax-bce").click().run()
    at.button(key="fix-targets-outside-unit").click().run()
    settle(button(at, "Train").click().run())
    assert not at.exception
    steps = figure_titled(at, "per step")
    floor = [t for t in steps["data"] if t["name"].startswith("BCE floor")]
    assert floor and 0.05 < arr(floor[0]["y"])[0] < 0.065
    assert "Excess over the BCE floor" in [m.label for m in at.metric]
    table = runs_table(at)
    common = list(table["test BCE, pixels in [0,1]"])
    assert len(common) == 2 and common[0] > common[1] > 0  # the softmax run is far worse on common ground
    # Both runs are kept; the run picker can show the first again.
    at.selectbox(key="mnist_shown").set_value(first).run()
    assert "Honest BCE of the softmax outputs" in " ".join(i.value for i in at.info)


def scroll_to_progress(page) -> None:
    """Bring the run's progress bar into view; a live run's reruns may replace it while it is found."""
    for _ in range(50):
        try:
            page.locator('[data-testid="stProgress"]').first.scroll_into_view_if_needed(timeout=5_000)
            return
        except PlaywrightError:
            time.sleep(0.2)
    raise AssertionError("the progress bar never stayed on the page")


@pytest.mark.browser
def test_browser_live_chart_grows_and_stop_ends_the_run(server_url, page):
    # A fresh server's very first load of a page link shows a spurious "Page not found" dialog
    # (the top-level pages/ folder vs st.navigation; see the report); open the home page first.
    page.goto(server_url)
    wait_for_app(page)
    page.goto(f"{server_url}/mnist?p=autoencoder-sigmoid-bce&ep=20")
    wait_for_app(page)
    assert not error_texts(page)
    screenshot(page, "mnist-lab-ready")
    page.locator('[data-testid="stBaseButton-primary"]').filter(has_text="Train").click()

    def step_trace():
        return page.evaluate("""() => {
            for (const el of document.querySelectorAll('.js-plotly-plot')) {
                const t = ((el.layout && el.layout.title && el.layout.title.text) || '').replace(/<[^>]*>/g, '');  // Streamlit bolds titles with <b>
                // plotly.js decodes the base64 arrays of the spec into _fullData
                const x = el._fullData && el._fullData[0] && el._fullData[0].x;
                if (t.startsWith('Training') && t.includes('per step') && x && x.length) {  // not Compare's overlay
                    return [x.length, Number(x[x.length - 1])];
                }
            }
            return null;
        }""")

    def sample(seconds: float):
        """The live chart's (point count, last step); the chart is briefly absent while it is replaced."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            found = step_trace()
            if found is not None:
                return found
            time.sleep(0.05)
        return None

    first = sample(90)
    assert first is not None, "no live loss chart appeared"
    scroll_to_progress(page)
    screenshot(page, "mnist-lab-live-1")
    time.sleep(1.5)
    second = sample(10)
    assert second is not None
    screenshot(page, "mnist-lab-live-2")
    assert second[1] > first[1] and second[0] <= lab_plots.LIVE_MAX_POINTS, (first, second)  # grown, thinned

    page.get_by_role("button", name="Stop", exact=True).click()
    wait_for_app(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    live = body[body.find("Train, live"):body.find("Compare")]
    scroll_to_progress(page)
    screenshot(page, "mnist-lab-stopped")
    assert "Stopped." in live, live[:1500]
    assert not error_texts(page)
    stopped_at = sample(10)
    assert stopped_at is not None and stopped_at[1] >= second[1]
    screenshot(page, "mnist-lab-stopped")


def test_a_diverging_run_ends_with_a_clear_message_and_keeps_its_history():
    at = app_test(PAGE, {"p": "autoencoder-sigmoid-mse", "hidden": "16", "act": "linear", "out": "linear",
                         "px": "raw", "opt": "sgd", "lr": "0.01", "n": "1000", "ep": "1"})
    settle(button(at, "Train").click().run())
    assert not at.exception, [e.value for e in at.exception]
    warning = " ".join(w.value for w in at.warning)
    assert "The run diverged" in warning and "+inf at step" in warning
    assert {m.label: m.value for m in at.metric}["Status"] == "diverged"
    kept = int(warning.split("+inf at step ", 1)[1].split(" ", 1)[0]) - 1  # the history up to the bad step
    assert len(arr(figure_titled(at, "per step")["data"][0]["x"])) == kept >= 1


def test_finished_runs_survive_a_visit_to_another_page():
    other = next(p.file for p in site.existing_pages() if p.url_path != "mnist")
    at = app_test(PAGE, {"p": "classifier-cce", "n": "1000", "ep": "1"})
    settle(button(at, "Train").click().run())
    run_id = at.query_params["run"]
    label = list(runs_table(at)["run"])[0]
    at.switch_page(other).run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key="mnist_shown").value == run_id and at.query_params["run"] == run_id
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    assert list(runs_table(at)["run"]) == [label]
    figure_titled(at, "Confusion")


def test_a_visitor_beyond_the_limit_is_queued_and_sees_the_place_until_a_slot_frees(monkeypatch):
    from lossviz import config as cfg
    from lossviz import settings
    from lossviz.ui import runs as ui_runs

    monkeypatch.setenv("LOSSVIZ_MAX_CONCURRENT_TRAININGS", "1")
    at = app_test(PAGE, {"p": "classifier-cce", "n": "1000", "ep": "1"})
    service = ui_runs._service_for(settings.database_url(), settings.ray_address())  # the page's own service
    long_run = cfg.PRESETS["classifier-cce"].replace(epochs=200, batch_size=8)
    other = service.submit(long_run, "another visitor", 1000)  # holds the only training slot
    deadline = time.time() + 60
    while service.store.state(other.run_id).value != "running" and time.time() < deadline:
        time.sleep(0.05)
    button(at, "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Queued: number 1 in line" in " ".join(i.value for i in at.info)
    assert any(other.run_id not in m.value and "Your runs in progress" in m.value for m in at.markdown)
    assert service.stop(other.run_id, "another visitor") == "stopped"
    settle(at)
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
