"""The Loss zoo page: controls, charts that speak, links in and out, hostile links, and a real browser."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, app_test, error_texts, open_data, screenshot, wait_for_app
from lossviz import data
from lossviz.lessons import zoo

PAGE = "pages/losses.py"
FIVE = ("sigmoid_binary_cross_entropy", "hinge_loss", "sigmoid_focal_loss", "poly_loss_cross_entropy",
        "multiclass_sparsemax_loss")


def page_app(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def alts(at: AppTest) -> list[str]:
    return [chart.proto.alt for chart in charts(at)]


def multiselect(at: AppTest, key: str):
    return next(w for w in at.multiselect if w.key == f"losses:{key}")


def slider(at: AppTest, key: str):
    return next(w for w in at.slider if w.key == f"losses:{key}")


def test_the_page_runs_under_the_app_and_every_chart_says_its_takeaway():
    at = app_test(PAGE)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Loss zoo"
    # Curves of both families, then each fit's picture and its training losses.
    assert len(charts(at)) == 6
    texts = alts(at)
    assert all(len(text) > 40 for text in texts), texts
    for name in zoo.DEFAULT_CLASSIFICATION:
        assert zoo.zoo()[name].title in texts[0]
    assert "RMS distance from the true line, closest first: Huber" in texts[2] or "log-cosh" in texts[2]
    assert "step 300 of 300" in texts[5]
    # Each chart's numbers are one click away, and each family has its property table.
    assert sum(e.label == "Data" for e in at.expander) == 6
    # The property tables and the fits' summaries are plain tables, a row per loss under its name.
    assert [list(t.value.index) for t in at.table] == [
        [zoo.zoo()[n].title for n in names] for names in
        (zoo.DEFAULT_CLASSIFICATION, zoo.DEFAULT_REGRESSION, zoo.DEFAULT_REGRESSION, zoo.DEFAULT_CLASSIFICATION)]
    assert not at.dataframe  # a chart's table is built only once its "Data" is opened
    assert len(open_data(at).dataframe) == 6 and len(at.download_button) == 6 and not at.exception
    assert multiselect(at, "cls").value == list(zoo.DEFAULT_CLASSIFICATION)
    assert not at.query_params, dict(at.query_params)
    # The survey of optax.losses and the properties' details are built only once their expanders are opened.
    tables = len(at.dataframe)
    for key in ("losses:survey", "losses:details-cls", "losses:details-reg"):
        at.session_state[key] = True
    assert len(at.run().dataframe) == tables + 3 and not at.exception


def test_a_link_sets_the_controls_and_moving_a_control_rewrites_the_link_and_the_chart_text():
    link = {"cls": ",".join(FIVE), "reg": "huber_loss,squared_error", "delta": "2", "out": "0.3",
            "model": "MLP", "csteps": "100"}
    at = page_app(link)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    assert multiselect(at, "cls").value == list(FIVE)
    assert multiselect(at, "reg").value == ["huber_loss", "squared_error"]
    assert slider(at, "delta").value == 2.0 and slider(at, "out").value == 0.3
    assert {k: at.query_params[k] for k in at.query_params} == link
    residual_alt = alts(at)[1]

    slider(at, "delta").set_value(0.5)
    at.run()
    assert at.query_params["delta"] == "0.5"
    assert alts(at)[1] != residual_alt  # Huber's curve and its sentence follow δ
    slider(at, "delta").set_value(1.0)  # back to the default: the key leaves the link
    at.run()
    assert "delta" not in at.query_params


def test_hostile_links_earn_notices_and_never_more_than_five_losses():
    six = ",".join(zoo.family_names(zoo.BINARY, zoo.MULTICLASS)[:6])
    at = page_app({"cls": six + ",<script>", "gamma": "nan", "out": "-5", "model": "SVM", "rsteps": "1e9",
                   "bogus": "1"})
    assert not at.exception, [e.value for e in at.exception]
    notices = " ".join(str(w.value) for w in at.warning)
    for text in ("<script>", "gamma=nan", "out=-5", "model=SVM", "rsteps=1e9", "bogus", "At most 5 losses"):
        assert text.replace("`", "'") in notices, (text, notices)
    assert len(multiselect(at, "cls").value) == 6  # the widget keeps the choice; the page draws five
    assert "for 5 losses" in alts(at)[0]


def test_with_no_loss_chosen_the_page_says_what_to_do():
    at = page_app({"cls": "", "reg": "log_cosh"})
    assert not at.exception
    assert any("Choose at least one loss" in str(i.value) for i in at.info)
    assert any("Choose a classification loss" in str(i.value) for i in at.info)
    assert len(charts(at)) == 3  # the residual curves and the regression fit only


# --------------------------------------------------------------------------
# In chromium: five losses overlaid, charts named for screen readers, uploads
# --------------------------------------------------------------------------


def _csv(tmp_path, name: str, text: bytes):
    path = tmp_path / name
    path.write_bytes(text)
    return path


def _upload(page, path, answer: str) -> None:
    """Upload ``path`` and wait for the page's ``answer`` to it (the rerun may start after a busy second)."""
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text(answer).first.wait_for(timeout=60_000)
    wait_for_app(page)


@pytest.mark.browser
def test_browser_five_losses_overlaid_and_uploads(server_url, page, tmp_path):
    page.goto(f"{server_url}/losses?cls={','.join(FIVE)}")
    wait_for_app(page, timeout_ms=180_000)
    assert not error_texts(page), error_texts(page)
    figures = page.locator('[data-testid="stPlotlyChart"]')
    assert figures.count() == 6
    labels = [figures.nth(i).get_attribute("aria-label") or "" for i in range(figures.count())]
    assert all(len(label) > 40 for label in labels), labels
    legend = page.locator('[data-testid="stPlotlyChart"]').first.locator(".legendtext")
    assert [legend.nth(i).text_content() for i in range(legend.count())] == [zoo.zoo()[n].title for n in FIVE]
    screenshot(page, "losses-five")

    _upload(page, _csv(tmp_path, "broken.csv", b"x1,x2,label\n1,2,a\n3,oops,b\n"),
            "Line 3, column x2: oops is not a number")
    assert any("Line 3, column x2: oops is not a number" in text for text in error_texts(page))
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 6  # the built-in fit stays

    x, labels = data.make_blobs(300, 3, 1.0, seed=5)
    rows = "".join(f"{a:.3f},{b:.3f},{['cat', 'dog', 'fox'][k]}\n" for (a, b), k in zip(x, labels))
    _upload(page, _csv(tmp_path, "mine.csv", ("x1,x2,label\n" + rows).encode()), "mine.csv: 300 points in 3 classes")
    assert not error_texts(page), error_texts(page)
    page.get_by_text("mine.csv: 300 points in 3 classes").first.wait_for(timeout=10_000)
    regions = page.locator('[data-testid="stPlotlyChart"]').nth(4).locator(".legendtext")
    assert [regions.nth(i).text_content() for i in range(regions.count())] == ["class cat", "class dog", "class fox"]
    screenshot(page, "losses-upload")
