"""The animation player in chromium, inside Streamlit: nothing moves by itself; Play, Pause, step and Reset work.

Plotly's buttons are SVG: they are clicked by their text, and the frame shown is read from the scrubber's
current-value label (what a student sees).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import error_texts, wait_for_app
from lossviz.figures import player

GRADIENT_EPOCHS = [f"epoch {e}" for e in player.frame_indices(301, keep=300)]  # the page's defaults: 300 epochs


def open_page(page, url: str, title: str):
    page.goto(url)
    wait_for_app(page, quiet_seconds=1.0)
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=title)
    expect(chart.locator(".updatemenu-button").first).to_be_visible(timeout=60_000)
    assert not error_texts(page), error_texts(page)
    return chart


def shown(chart) -> str:
    return chart.locator(".slider-label").first.text_content()


def press(chart, label: str) -> None:
    chart.locator(".updatemenu-button", has_text=label).click()


@pytest.mark.browser
def test_play_pause_step_and_reset_run_in_the_browser_and_nothing_moves_by_itself(server_url, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto(server_url + "/")  # a fresh server's first deep link can show "Page not found" (see test_site)
        wait_for_app(page, quiet_seconds=1.0)
        outputs = open_page(page, f"{server_url}/gradients", "Output a per epoch")
        assert player.ALT_SENTENCE in outputs.get_attribute("aria-label")
        assert shown(outputs) == GRADIENT_EPOCHS[-1]  # opens where the `t` slider is: the last epoch
        page.wait_for_timeout(500)
        assert shown(outputs) == GRADIENT_EPOCHS[-1]  # no autoplay

        press(outputs, player.RESET)
        expect(outputs.locator(".slider-label").first).to_have_text(GRADIENT_EPOCHS[0])
        press(outputs, player.STEP_ON)
        expect(outputs.locator(".slider-label").first).to_have_text(GRADIENT_EPOCHS[1])

        press(outputs, player.PLAY)
        for _ in range(100):  # a few frames (150 ms each), however slowly a busy browser draws them
            page.wait_for_timeout(100)
            if GRADIENT_EPOCHS.index(shown(outputs)) >= 3:
                break
        press(outputs, player.PAUSE)
        paused = GRADIENT_EPOCHS.index(shown(outputs))
        assert 1 < paused < len(GRADIENT_EPOCHS) - 1, shown(outputs)
        page.wait_for_timeout(400)
        assert GRADIENT_EPOCHS.index(shown(outputs)) == paused  # Pause held

        press(outputs, player.STEP_ON)  # exactly one frame on, without a script run
        expect(outputs.locator(".slider-label").first).to_have_text(GRADIENT_EPOCHS[paused + 1])
        press(outputs, player.STEP_BACK)
        press(outputs, player.STEP_BACK)
        expect(outputs.locator(".slider-label").first).to_have_text(GRADIENT_EPOCHS[paused - 1])
        assert page.get_attribute('[data-testid="stApp"]', "data-test-script-state") == "notRunning"
        press(outputs, player.RESET)
        expect(outputs.locator(".slider-label").first).to_have_text(GRADIENT_EPOCHS[0])

        fit = open_page(page, f"{server_url}/softmax-kl", "Fitting one Gaussian")
        assert shown(fit) == "Adam step 600"  # the final fit, still
        press(fit, player.STEP_BACK)
        expect(fit.locator(".slider-label").first).to_have_text("Adam step 575")
        expect(fit.locator(".gtitle")).to_have_text("Fitting one Gaussian q to p (step 575)")
    finally:
        context.close()
