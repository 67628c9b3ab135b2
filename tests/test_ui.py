"""Link-bound widgets: a shared link restores a view; bad link values get a notice, never an exception."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

SCRIPT = """
from lossviz import ui
url = ui.UrlState("demo")
y = url.slider("target y", "y", 0.0, 1.0, 0.5, step=0.01)
n = url.slider("grid", "n", 11, 201, 51)
scale = url.select("scale", "scale", ["linear", "log"], "linear", widget="radio")
lr = url.select("learning rate", "lr", [0.001, 0.01, 0.1], 0.01, widget="select_slider")
clip = url.toggle("clip", "clip", True)
losses = url.multiselect("losses", "losses", ["cce", "kl"], ["cce"])
widths = url.text("widths", "widths", "128,64", check=lambda s: [int(w) for w in s.split(",")])
import streamlit as st
st.markdown(f"y={y} n={n} scale={scale} lr={lr} clip={clip} losses={losses} widths={widths}")
url.finish()
"""


def run(query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def shown(at: AppTest) -> str:
    return at.markdown[-1].value


def notices(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_defaults_leave_the_link_clean():
    at = run()
    assert not at.exception
    assert shown(at) == "y=0.5 n=51 scale=linear lr=0.01 clip=True losses=['cce'] widths=128,64"
    assert dict(at.query_params) == {}
    assert not at.warning


def test_changing_widgets_writes_the_link_and_back_to_default_clears_it():
    at = run()
    at.slider(key="demo:y").set_value(0.7).run()
    at.radio(key="demo:scale").set_value("log").run()
    at.toggle(key="demo:clip").set_value(False).run()
    assert at.query_params["y"] == "0.7"
    assert at.query_params["scale"] == "log"
    assert at.query_params["clip"] == "0"
    at.slider(key="demo:y").set_value(0.5).run()
    assert "y" not in at.query_params


def test_a_link_restores_every_widget():
    at = run({"y": "0.25", "n": "101", "scale": "log", "lr": "0.1", "clip": "0",
              "losses": "kl,cce", "widths": "32,16"})
    assert not at.exception and not at.warning
    assert shown(at) == "y=0.25 n=101 scale=log lr=0.1 clip=False losses=['kl', 'cce'] widths=32,16"


@pytest.mark.parametrize("query, expected, notice", [
    ({"y": "5"}, "y=1.0", "outside"),
    ({"y": "-1e308"}, "y=0.0", "outside"),
    ({"y": "nan"}, "y=0.5", "finite"),
    ({"y": "inf"}, "y=0.5", "finite"),
    ({"y": "zero"}, "y=0.5", "ignored"),
    ({"n": "3.5"}, "n=51", "whole number"),
    ({"n": "-40"}, "n=11", "outside"),
    ({"n": "9" * 400}, "n=51", "characters long"),
    ({"scale": "cubic"}, "scale=linear", "not one of"),
    ({"lr": "1e9"}, "lr=0.01", "not one of"),
    ({"clip": "maybe"}, "clip=True", "expected 1 or 0"),
    ({"losses": "kl,hinge"}, "losses=['kl']", "hinge"),
    ({"widths": "12,abc"}, "widths=128,64", "ignored"),
    ({"bogus": "1"}, "y=0.5", "Unknown link parameter"),
    ({"y": ["0.2", "0.3"]}, "y=0.3", "2 times"),
    ({"ÿ💥": "∞"}, "y=0.5", "Unknown link parameter"),
])
def test_bad_link_values_are_clamped_or_ignored_with_a_notice(query, expected, notice):
    at = run(query)
    assert not at.exception
    assert expected in shown(at)
    assert notice in notices(at)


def test_unknown_parameters_are_dropped_from_the_link():
    at = run({"bogus": "1", "y": "0.3"})
    assert "bogus" not in at.query_params
    assert at.query_params["y"] == "0.3"


STOPPING = """
from lossviz import ui
url = ui.UrlState("demo")
y = url.slider("target y", "y", 0.0, 1.0, 0.5, step=0.01)
url.stop()
url.slider("never reached", "n", 11, 201, 51)
"""


def test_stopping_early_still_shows_the_notices_and_keeps_later_parameters():
    at = AppTest.from_string(STOPPING, default_timeout=30)
    at.query_params["y"] = "nan"
    at.query_params["n"] = "101"
    at.run()
    assert not at.exception
    assert "`y=nan`" in notices(at)
    assert "Unknown" not in notices(at)  # n belongs to a widget the page did not reach
    assert at.query_params["n"] == "101"


def test_claimed_parameters_are_not_unknown():
    at = AppTest.from_string(
        "from lossviz import ui\nimport streamlit as st\nurl = ui.UrlState('demo')\n"
        "st.markdown(str(url.claim('run')))\nurl.finish()", default_timeout=30)
    at.query_params["run"] = ["a", "b"]
    at.run()
    assert at.markdown[0].value == "b" and not at.warning
