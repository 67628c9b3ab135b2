"""Teaching controls without a browser: exercise links (hide= and Reveal) and projector mode (present=1).

The browser side (what a student sees, the phone viewport) is in test_classroom_browser.py.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

from conftest import app_test
from lossviz.figures import home, theme
from lossviz.ui import links, present


# --------------------------------------------------------------------------
# Pure: the names a link hides, and the projector's restyling
# --------------------------------------------------------------------------
def test_hide_names_are_checked_against_the_page_and_round_trip():
    field = links.names_field({"x", "curves", "z1"})
    notices: list[str] = []
    assert links.read_link("hide", ["curves, x,curves,,zz,<b>,x"], field, notices) == ["curves", "x"]
    assert len(notices) == 1 and "`hide`" in notices[0] and "zz, <b>" in notices[0]
    again: list[str] = []
    assert links.read_link("hide", [field.serialize(["curves", "x"])], field, again) == ["curves", "x"]
    assert again == []
    anything = links.names_field()  # before the page has said which names it has: any well-formed one
    assert anything.parse("hide", "a,b-c,d_1,é,a b", notices := []) == ["a", "b-c", "d_1"]
    assert "é" in notices[0] and "a b" in notices[0]
    assert links.read_link("hide", ["x" * 5000], field, notices := []) is None and "hide" in notices[0]


def test_exercise_help_lists_every_name_and_an_example_link():
    text = present.exercise_help("/bce", ["y", "slice", "clip"])
    assert "`y`, `slice`, `clip`" in text and "`/bce?hide=y,slice`" in text and "present=1" in text
    assert "nothing to hide" in present.exercise_help("/", [])


def _figure(frames: bool = True) -> go.Figure:
    x = np.linspace(0, 1, 5)
    fig = go.Figure(
        [go.Scatter(x=x, y=x, name="a", line=dict(width=3)),
         go.Scatter(x=x, y=x ** 2, name="b", mode="lines+markers", marker=dict(size=np.array([0, 8, 0, 8, 0]))),
         go.Heatmap(z=np.eye(3))],
        layout=theme.layout(title=dict(text="t", font=dict(size=15)), xaxis_title="x",
                            annotations=[dict(text="note", font=dict(size=10), x=0, y=0)]),
    )
    if frames:
        fig.frames = [go.Frame(data=[go.Scatter(x=x, y=x * k)], name=str(k)) for k in range(3)]
    return fig


def test_projector_thickens_lines_markers_text_and_grid_and_restyles_frames():
    fig = _figure()
    before = fig.to_plotly_json()
    out = theme.projector(fig)
    assert fig.to_plotly_json() == before, "the builder's figure (maybe cached for every visitor) was changed"
    assert out.data[0].line.width == 6 and out.data[1].line.width == 4  # plotly's default width is 2
    assert list(out.data[1].marker.size) == [0, 12, 0, 12, 0]
    assert out.data[2].type == "heatmap" and "line" not in out.data[2].to_plotly_json()
    assert out.layout.font.size >= theme.PROJECTOR_MIN_FONT > theme.FONT["size"]
    assert out.layout.title.font.size == 22 and out.layout.annotations[0].font.size == 18  # 15 × 1.4, 10 × 1.4
    assert out.layout.xaxis.gridwidth == 2 and out.layout.yaxis.gridwidth == 2
    # Streamlit's chart theme sizes ticks, axis titles and legends itself: set outright, or they stay small
    assert out.layout.xaxis.tickfont.size == 18 and out.layout.xaxis.title.font.size == 20
    assert out.layout.legend.font.size == 18 and out.data[2].colorbar.tickfont.size == 18
    assert [f.data[0].line.width for f in out.frames] == [4, 4, 4]
    assert out.layout.template == fig.layout.template  # the theme stays Streamlit's (light and dark)
    assert all(t.line.color == s.line.color for t, s in zip(out.data[:2], fig.data[:2]))
    theme.projector(_figure(frames=False))  # no frames: nothing to restyle there


def test_projector_restyles_a_3d_scene():
    fig = go.Figure(go.Scatter3d(x=[0, 1], y=[0, 1], z=[0, 1], mode="lines"), layout=dict(scene=dict(xaxis_title="w")))
    out = theme.projector(fig)
    assert out.data[0].line.width == 4 and out.layout.scene.xaxis.gridwidth == 2


# --------------------------------------------------------------------------
# AppTest: the pages
# --------------------------------------------------------------------------
def _link(at) -> dict[str, str]:
    """The page's link as AppTest holds it (a value is a string or a list of them)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in ((k, at.query_params[k]) for k in at.query_params)}


def _spec(chart) -> dict:
    return json.loads(chart.proto.spec)


def test_hide_link_hides_controls_and_a_section_then_reveal_shows_them():
    at = app_test("pages/gradients.py", {"hide": "x,thr,curves,nosuch", "x": "2"})
    assert not at.exception
    keys = {s.key for s in at.get("slider")} | {s.key for s in at.get("select_slider")}
    assert "gradients:x" not in keys and "gradients:thr" not in keys and "gradients:y" in keys
    charts_hidden = len(at.get("plotly_chart"))
    assert "nosuch" in " ".join(w.value for w in at.warning) and "hide" in " ".join(w.value for w in at.warning)
    # Before any full run of the page in this process, a name might be inside the hidden section: it is kept.
    assert _link(at)["hide"] in ("x,thr,curves", "x,thr,curves,nosuch") and _link(at)["x"] == "2"
    assert any("(x = 2, y = 0)" in m.value for m in at.markdown)  # the hidden x is the link's
    assert "x, thr, curves" in at.info[0].value
    names = at.sidebar.expander[-1].caption[0].value
    assert all(f"`{n}`" in names for n in ("x", "y", "thr", "curves", "start", "t"))

    at.button(key="_lossviz_reveal:gradients").click().run()
    assert not at.exception
    assert at.slider(key="gradients:x").value == 2.0  # revealed with the exercise's value
    assert "hide" not in _link(at) and _link(at)["x"] == "2"
    assert len(at.get("plotly_chart")) == charts_hidden + 1
    assert not at.info

    at.query_params["hide"] = "curves,nosuch"  # after a full run the page's names are known: a typo is dropped
    at.run()
    assert "ignored unknown names nosuch" in " ".join(w.value for w in at.warning)
    assert _link(at)["hide"] == "curves" and len(at.get("plotly_chart")) == charts_hidden
    assert at.slider(key="gradients:x").value == 2.0


def test_present_link_turns_on_projector_mode_and_it_follows_the_visitor():
    at = app_test(query={"present": "1"})
    assert not at.exception
    toggle = at.sidebar.toggle[0]
    assert toggle.label == present.TOGGLE_LABEL and toggle.value
    assert _link(at)["present"] == "1"
    assert [e.label for e in at.expander][0] == present.PROSE_LABEL  # the prose folded away
    widths = [t.get("line", {}).get("width") for t in _spec(at.get("plotly_chart")[0])["data"]]
    built = [t.line.width or 2 for t in home.bce_minimum_figure().data]  # plotly's default width is 2
    assert widths == [2 * w for w in built]

    at.switch_page("pages/softmax-kl.py").run()  # a page without present= in its link
    assert not at.exception and at.sidebar.toggle[0].value and _link(at)["present"] == "1"
    at.sidebar.toggle[0].set_value(False).run()
    assert "present" not in at.query_params and not at.sidebar.toggle[0].value
    assert present.PROSE_LABEL not in [e.label for e in at.expander]


def test_bad_present_and_unknown_hide_names_get_the_usual_notice():
    at = app_test(query={"present": "maybe", "hide": "picture,zz"})
    assert not at.exception
    notices = " ".join(w.value for w in at.warning)
    assert "`present=maybe`" in notices and "zz" in notices
    assert not at.sidebar.toggle[0].value and not at.get("plotly_chart")  # the picture is hidden
    assert _link(at)["hide"] == "picture" and "present" not in at.query_params
