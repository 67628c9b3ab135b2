"""The Gradients page: AppTest drives every control, and chromium opens the page and a permalink."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from conftest import app_test, error_texts, screenshot, wait_for_app

PAGE = "pages/gradients.py"
CHARTS = ("curves", "outputs", "costs", "paths", "softmax")


def charts(at) -> dict[str, dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == len(CHARTS)
    return dict(zip(CHARTS, specs))


def values(data) -> np.ndarray:
    """Plotly's JSON holds arrays either as lists or as typed binary (``{"dtype", "bdata"}``)."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.asarray(data)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def traces(spec: dict, name: str) -> list[dict]:
    return [t for t in spec["data"] if t.get("name") == name]


def playback_markers(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t.get("mode") == "markers" and t.get("showlegend") is False]


def widget(at, kind: str, key: str):
    return getattr(at, kind)(key=f"gradients:{key}")


def test_defaults_show_the_classic_slowdown():
    at = app_test(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error and not at.warning, ([e.value for e in at.error], [w.value for w in at.warning])
    assert at.title[0].value == "Gradients"
    assert widget(at, "radio", "start").value == "0.98"
    assert (widget(at, "slider", "w").value, widget(at, "slider", "b").value) == (2.0, 2.0)
    assert widget(at, "slider", "ep").value == 300 and widget(at, "slider", "t").value == 300
    shown = metrics(at)
    # Quadratic from 0.98 has only just come down after 300 epochs; cross-entropy is long done.
    assert 0.15 < float(shown["output a, quadratic"]) < 0.25
    assert float(shown["output a, cross-entropy"]) < 0.05
    assert float(shown["∂C/∂z_correct there, log-likelihood (categorical CE)"]) == pytest.approx(-1.0, abs=1e-3)
    specs = charts(at)
    assert len(values(traces(specs["outputs"], "quadratic")[0]["x"])) == 301
    assert len(at.latex) >= 10
    table = at.table[0].value  # a plain table, a column per neuron (a chart's Data table is built once opened)
    assert [c.replace("\u00a0", " ") for c in table.columns] == [
        "a = 0.82, y = 0", "a = 0.98, y = 0", "a = 0.82, y = 1", "a = 0.98, y = 1"]
    assert list(table.loc["σ′(z)"]) == pytest.approx([0.82 * 0.18, 0.98 * 0.02] * 2, rel=1e-4)
    assert list(table.loc["∂C/∂b cross-entropy"]) == pytest.approx([0.82, 0.98, -0.18, -0.02], rel=1e-4)
    verdicts = " ".join(m.value for m in at.markdown)
    assert verdicts.count("quadratic: not reasonable") == 1
    assert not at.query_params  # a default view has a clean link


def test_controls_change_what_is_shown():
    at = app_test(PAGE)
    before = metrics(at)

    widget(at, "radio", "start").set_value("0.82").run()
    assert (widget(at, "slider", "w").value, widget(at, "slider", "b").value) == (0.6, 0.9)
    after = metrics(at)
    assert float(after["output a, quadratic"]) < 0.1 < float(before["output a, quadratic"])
    assert at.query_params["start"] == "0.82" and at.query_params["w"] == "0.6"

    widget(at, "slider", "w").set_value(1.0).run()
    assert widget(at, "radio", "start").value == "custom"
    assert values(charts(at)["paths"]["data"][1]["x"])[0] == pytest.approx(1.0)

    widget(at, "slider", "ep").set_value(100).run()
    assert widget(at, "slider", "t").value == 100
    assert len(values(traces(charts(at)["outputs"], "quadratic")[0]["x"])) == 101

    widget(at, "slider", "t").set_value(10).run()
    specs = charts(at)
    assert [values(m["x"])[0] for m in playback_markers(specs["outputs"])] == [10, 10]
    assert "epoch 10" in specs["paths"]["layout"]["title"]["text"]

    slow = metrics(at)["output a, quadratic"]
    widget(at, "slider", "eq").set_value(2.0).run()
    assert metrics(at)["output a, quadratic"] != slow

    widget(at, "slider", "y").set_value(1.0).run()
    assert "y = 1" in charts(at)["curves"]["layout"]["title"]["text"]

    widget(at, "radio", "ax").set_value("a").run()
    curves = charts(at)["curves"]
    assert curves["layout"]["xaxis"]["title"]["text"].startswith("output a")
    xs = values(traces(curves, "σ′(z)")[0]["x"])
    assert 0 < min(xs) and max(xs) < 1

    widget(at, "select_slider", "thr").set_value(0.2).run()
    assert any("σ′(z) < 0.2" in c.value for c in at.caption)

    widget(at, "slider", "k").set_value(3).run()
    widget(at, "slider", "d").set_value(8.0).run()
    assert "K = 3" in charts(at)["softmax"]["layout"]["title"]["text"]
    assert "logit 8" in charts(at)["softmax"]["layout"]["title"]["text"]
    assert not at.exception and not at.error
    for key in ("w", "ep", "t", "eq", "y", "ax", "thr", "k", "d"):
        assert key in at.query_params, key


def test_permalink_restores_the_view_and_tampered_values_get_a_notice():
    query = {"start": "custom", "w": "1.5", "b": "-1", "x": "2", "y": "1", "eq": "0.5", "ece": "0.05",
             "ep": "200", "t": "40", "ax": "a", "thr": "0.1", "k": "4", "d": "7"}
    at = app_test(PAGE, query)
    assert not at.exception and not at.error and not at.warning
    for kind, key in (("slider", "w"), ("slider", "b"), ("slider", "x"), ("slider", "y"), ("slider", "eq"),
                      ("slider", "ece"), ("slider", "ep"), ("slider", "t"), ("slider", "k"), ("slider", "d")):
        assert str(widget(at, kind, key).value).rstrip("0").rstrip(".") == query[key].rstrip("0").rstrip("."), key
    assert widget(at, "radio", "ax").value == "a" and widget(at, "select_slider", "thr").value == 0.1
    specs = charts(at)
    assert [values(m["x"])[0] for m in playback_markers(specs["costs"])] == [40, 40]
    assert "K = 4" in specs["softmax"]["layout"]["title"]["text"]

    bad = app_test(PAGE, {"t": "9999", "k": "lots", "start": "0.82", "w": "1"})
    assert not bad.exception and not bad.error
    notice = " ".join(w.value for w in bad.warning)
    assert "t=9999" in notice and "k=lots" in notice and "does not match" in notice
    assert widget(bad, "slider", "t").value == 300 and widget(bad, "slider", "k").value == 10


@pytest.mark.browser
def test_browser_opens_the_page_and_a_permalink(server_url, page):
    page.set_viewport_size({"width": 1400, "height": 4200})  # Streamlit scrolls inside; a tall window shows it all
    page.goto(f"{server_url}/gradients")
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert not error_texts(page), error_texts(page)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == len(CHARTS)
    assert page.get_by_text("Train the neuron under both costs").count() == 1
    screenshot(page, "gradients-default")

    page.goto(f"{server_url}/gradients?start=0.82&w=0.6&b=0.9&ax=a&t=120&k=3&d=8&ep=400")
    wait_for_app(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
    assert not error_texts(page), error_texts(page)
    assert page.get_by_text("Paths over the (w, b) plane; marker at epoch 120").count() == 1
    assert page.get_by_text("K = 3").count() >= 1
    assert "t=120" in page.url and "ep=400" in page.url
    screenshot(page, "gradients-permalink")
