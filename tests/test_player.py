"""The animation player: frames, the buttons each frame rewrites, the scrubber, sizes, and each animated figure."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from lossviz.figures import player

ROW = [player.PLAY, player.PAUSE, player.STEP_BACK, player.STEP_ON, player.RESET]


def simple(count: int, start: int | None = None) -> player.AnimatedFigure:
    fig = go.Figure([go.Scatter(x=np.arange(count), y=np.arange(count) ** 2, name="curve"),
                     go.Scatter(x=[0], y=[0], mode="markers", showlegend=False)])
    frames = [dict(traces=[1], data=[dict(x=[k], y=[k * k])]) for k in range(count)]
    return player.add_player(fig, frames, [str(k) for k in range(count)], start)


def target(button: dict) -> list | None:
    """The frames an animate button asks for (None: all of them)."""
    assert button["method"] == "animate"
    return button["args"][0]


def spec(fig) -> dict:
    return json.loads(pio.to_json(fig.to_dict(), validate=False))


@pytest.mark.parametrize("total", [1, 2, 7, 41, 42, 301, 1001])
def test_frame_indices_are_bounded_spread_and_keep_the_ends_and_the_chosen_one(total):
    for keep in (None, 0, total // 3, total - 1):
        picked = player.frame_indices(total, keep=keep)
        assert picked[0] == 0 and picked[-1] == total - 1
        assert len(picked) <= player.MAX_FRAMES + (keep is not None)
        assert np.all(np.diff(picked) > 0)
        if keep is not None:
            assert keep in picked
        if total >= player.MAX_FRAMES:
            gaps = np.diff(player.frame_indices(total))
            assert gaps.max() - gaps.min() <= 1  # evenly spread
    with pytest.raises(ValueError):
        player.frame_indices(0)


@pytest.mark.parametrize("start", [None, 0, 4, 9])
def test_every_frame_points_its_steps_at_its_neighbours_and_play_on_from_itself(start):
    fig = simple(10, start)
    frames = fig.player_frames
    names = [f["name"] for f in frames]
    assert names == [str(k) for k in range(10)]
    for k, frame in enumerate(frames):
        (menu,) = frame["layout"]["updatemenus"]  # only the first menu is rewritten
        buttons = {b["label"]: b for b in menu["buttons"]}
        assert list(buttons) == ROW
        assert target(buttons[player.PAUSE]) == [None] and target(buttons[player.RESET]) == ["0"]
        assert target(buttons[player.STEP_BACK]) == [names[max(k - 1, 0)]]
        assert target(buttons[player.STEP_ON]) == [names[min(k + 1, 9)]]
        play = buttons[player.PLAY]
        assert target(play) is None and play["args"][1]["fromcurrent"] is True
        assert frame["traces"] == [1] and frame["data"] == [dict(x=[k], y=[k * k])]
    # Before anything has played, the buttons are those of the frame the figure opens on.
    shown = 9 if start is None else start
    menus = fig.player_layout["updatemenus"]
    opening = {b["label"]: b for b in menus[player.BUTTONS]["buttons"]}
    assert target(opening[player.STEP_BACK]) == [names[max(shown - 1, 0)]]
    assert target(opening[player.STEP_ON]) == [names[min(shown + 1, 9)]]
    # plotly knows no current frame yet, so Play names the frames after the opening one (all, from the last).
    assert target(opening[player.PLAY]) == (None if shown == 9 else names[shown + 1:])
    assert fig.player_layout["sliders"][0]["active"] == shown


def test_pause_reset_speeds_and_the_scrubber():
    fig = simple(6, 2)
    menus = fig.player_layout["updatemenus"]
    buttons = {b["label"]: b for b in menus[player.BUTTONS]["buttons"]}
    assert list(buttons) == ROW
    assert target(buttons[player.PAUSE]) == [None]
    assert target(buttons[player.RESET]) == ["0"]
    speeds = menus[player.SPEED]["buttons"]
    assert [b["label"] for b in speeds] == [f"{s:g}×" for s in player.SPEEDS]
    assert [b["args"][1]["frame"]["duration"] for b in speeds] == [player.FRAME_MS / s for s in player.SPEEDS]
    assert menus[player.SPEED]["buttons"][menus[player.SPEED]["active"]]["label"] == "1×"
    (slider,) = fig.player_layout["sliders"]
    assert [step["label"] for step in slider["steps"]] == [str(k) for k in range(6)]
    assert [target(step) for step in slider["steps"]] == [[str(k)] for k in range(6)]
    assert slider["currentvalue"]["prefix"] == "epoch "
    every = [b for m in menus for b in m["buttons"]] + slider["steps"]
    every += [b for f in fig.player_frames for b in f["layout"]["updatemenus"][0]["buttons"]]
    # Frames jump: no transition anywhere; every control is labelled.
    assert all(b["args"][1]["transition"] == {"duration": 0} for b in every)
    assert all(b["label"].strip() for b in every)


def test_buttons_are_dark_text_on_white_in_both_themes():
    for menu in simple(3).player_layout["updatemenus"]:
        assert menu["bgcolor"] == "white" and menu["font"]["color"] == "#000000"


def test_the_browser_gets_frames_and_controls_and_a_copy_keeps_them():
    fig = simple(5)
    sent = spec(fig)
    assert len(sent["frames"]) == 5 and len(sent["layout"]["updatemenus"]) == 2 and sent["layout"]["sliders"]
    assert sent["layout"]["height"] == 450 + player.PLAYER_HEIGHT
    restyled = player.keep_player(fig, go.Figure(fig))  # e.g. the projector's restyled copy
    assert isinstance(restyled, player.AnimatedFigure) and spec(restyled)["frames"] == sent["frames"]
    assert player.keep_player(go.Figure(), go.Figure()).__class__ is go.Figure
    assert player.alt_of(fig, "A curve.").endswith(player.ALT_SENTENCE)
    assert player.alt_of(go.Figure(), "A curve.") == "A curve."
    with pytest.raises(ValueError):
        player.add_player(go.Figure(), [dict(traces=[], data=[])], ["a", "b"])


# -- the animated figures ---------------------------------------------------------


def frames_json_size(fig) -> int:
    return len(json.dumps(spec(fig)["frames"]))


def test_gradients_training_frames_follow_the_history_and_open_at_the_chosen_epoch():
    from lossviz.figures import gradients as gp
    from lossviz.lessons import gradients as g

    h = g.train_neuron(2.0, 2.0, 1.0, 0.0, 0.15, 0.15, 300)
    fig = gp.training_figure(h, 120, "a")
    epochs = [int(label) for label in (s["label"] for s in fig.player_layout["sliders"][0]["steps"])]
    assert epochs == player.frame_indices(301, keep=120).tolist()
    assert fig.player_layout["sliders"][0]["active"] == epochs.index(120)
    for epoch, frame in zip(epochs, fig.player_frames):
        quadratic, cross_entropy = frame["data"]
        assert quadratic["x"] == [epoch] and quadratic["y"][0] == pytest.approx(h.a[0, epoch], abs=1e-6)
        assert cross_entropy["y"][0] == pytest.approx(h.a[1, epoch], abs=1e-6)
        assert frame["layout"]["shapes"] == [dict(x0=epoch, x1=epoch)]
        assert [fig.data[i].mode for i in frame["traces"]] == ["markers", "markers"]
    assert frames_json_size(fig) < 45_000  # 41 frames of two markers and the row of buttons

    w_axis, b_axis, surfaces = g.cost_surfaces(h, 1.0, 0.0, points=11)
    paths = gp.path_figure(w_axis, b_axis, surfaces, h, 120)
    frame = paths.player_frames[epochs.index(210)]
    assert [(d["x"][0], d["y"][0]) for d in frame["data"]] == [
        pytest.approx((h.w[i, 210], h.b[i, 210]), abs=1e-5) for i in range(2)]
    assert frame["layout"]["title"]["text"].endswith("epoch 210")
    assert all(paths.data[i].marker.symbol == "diamond" for i in frame["traces"])
    assert frames_json_size(paths) < 50_000


def test_kl_fit_frames_are_the_fits_and_the_figure_opens_on_the_last():
    from lossviz.figures import softmax_kl as skp
    from lossviz.lessons import kl_fit

    fits = list(kl_fit.fit_kl_directions(7.0, 0.4, 1.5, 2000))
    fig = skp.kl_fit_figure(kl_fit.FIT_GRID, kl_fit.mixture_density(kl_fit.FIT_GRID, 7.0, 0.4), fits)
    frames = fig.player_frames
    assert len(frames) == player.MAX_FRAMES < len(fits)
    steps = [int(s["label"]) for s in fig.player_layout["sliders"][0]["steps"]]
    assert steps[0] == 25 and steps[-1] == 2000 and fig.player_layout["sliders"][0]["active"] == len(steps) - 1
    x = np.asarray(fig.data[0].x, dtype=float)
    by_step = {f.step: f for f in fits}
    for step, frame in zip(steps[::10], frames[::10]):
        fit = by_step[step]
        for direction, trace in enumerate(frame["data"]):  # a normal density, written out independently
            mean, std = fit.means[direction], fit.stds[direction]
            expected = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
            np.testing.assert_allclose(trace["y"], expected, atol=2e-4)
            assert f"μ={mean:.2f}" in trace["name"]
        assert frame["layout"]["title"]["text"].endswith(f"(step {step})")
    np.testing.assert_allclose(frames[-1]["data"][1]["y"], np.asarray(fig.data[2].y, float), atol=2e-4)
    assert frames_json_size(fig) < 115_000  # 41 frames of two 101-point curves


def test_classifier_curves_get_a_reveal_player_only_once_training_is_done():
    from lossviz.figures import softmax_kl as skp

    losses = np.exp(-np.linspace(0, 3, 200))[None].repeat(2, 0)
    args = (["CE", "KL"], ["categorical_crossentropy", "kl_divergence"], [0.01, 0.01])
    live = skp.training_curves(*args, losses[:, :50], 1 - losses[:, :50], 200)
    assert not isinstance(live, player.AnimatedFigure)
    done = skp.training_curves(*args, losses, 1 - losses, 200)
    layout = done.to_dict()["layout"]
    curves = [t for t in done.data if t.name]
    assert {(t.xaxis, t.yaxis) for t in curves} == {("x3", "y3"), ("x4", "y4")}
    assert layout["yaxis3"]["matches"] == "y" and layout["yaxis4"]["matches"] == "y2"
    assert layout["xaxis3"]["domain"] == list(layout["xaxis"]["domain"])  # opens with every epoch shown
    epochs = [int(s["label"]) for s in done.player_layout["sliders"][0]["steps"]]
    for epoch, frame in zip(epochs, done.player_frames):
        start, end = frame["layout"]["xaxis3"]["domain"]
        low, high = frame["layout"]["xaxis3"]["range"]
        # Same scale as the visible axis: the hidden panel's right edge sits where the visible axis has ``high``.
        visible_start, visible_end = layout["xaxis"]["domain"]
        assert end == pytest.approx(visible_start + (high - 1) / 199 * (visible_end - visible_start), abs=1e-3)
        assert start == visible_start and low == 1 and high >= epoch - 0.01
        assert frame["data"] == []
    assert frames_json_size(done) < 45_000  # no data in the frames: axes only


def toy_path():
    """An 8-point path (initial, then 7 epochs) over a bowl on a 9 × 9 grid: coords, path, grid, losses, scale."""
    from lossviz.figures import landscape as lp
    from lossviz.lessons.landscape_path import PcaPath

    coords = np.column_stack([np.linspace(3, 0, 8), np.sin(np.linspace(0, 3, 8))])
    path = PcaPath(coords=coords, explained=np.array([0.8, 0.1]), residual=np.zeros(8), directions=(None, None))
    grid = np.linspace(-4, 4, 9)
    losses = np.add.outer(grid ** 2, grid ** 2)
    scale = lp.ColourScale.spanning(losses, log=False)
    return coords, path, grid, losses, scale


def test_landscape_path_gets_a_star_that_steps_along_it():
    from lossviz.figures import landscape as lp

    coords, path, grid, losses, scale = toy_path()
    fig = lp.contour_figure(grid, grid, losses, scale, "nats", "run", path)
    (star,) = [t for t in fig.data if t.name == "epoch shown"]
    assert (star.x[0], star.y[0]) == (coords[-1, 0], coords[-1, 1])
    for epoch, frame in enumerate(fig.player_frames):
        assert (frame["data"][0]["x"][0], frame["data"][0]["y"][0]) == pytest.approx(tuple(coords[epoch]))
        assert frame["traces"] == [fig.data.index(star)]
    assert "nothing moves by itself" in lp.surface_alt(grid, grid, losses, "nats", "run", path)
    assert not isinstance(lp.contour_figure(grid, grid, losses, scale, "nats", "run"), player.AnimatedFigure)


# -- the frame each figure opens on: the keyboard's way through an animation ------------------------


def test_kl_fit_opens_on_the_chosen_step_and_keeps_it_among_the_frames():
    from lossviz.figures import softmax_kl as skp
    from lossviz.lessons import kl_fit

    fits = list(kl_fit.fit_kl_directions(7.0, 0.4, 1.5, 2000))
    mixture = kl_fit.mixture_density(kl_fit.FIT_GRID, 7.0, 0.4)
    chosen = fits[7]  # step 200: not one of the 41 evenly spread frames (25, 75, …)
    assert chosen.step not in [int(s["label"]) for s in
                               skp.kl_fit_figure(kl_fit.FIT_GRID, mixture, fits).player_layout["sliders"][0]["steps"]]
    fig = skp.kl_fit_figure(kl_fit.FIT_GRID, mixture, fits, chosen.step)
    (slider,) = fig.player_layout["sliders"]
    assert slider["steps"][slider["active"]]["label"] == str(chosen.step)
    assert fig.layout.title.text.endswith(f"(step {chosen.step})")
    x = np.asarray(fig.data[0].x, dtype=float)
    for direction in range(2):  # the curves drawn are that step's fits, not the last ones
        mean, std = chosen.means[direction], chosen.stds[direction]
        expected = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
        np.testing.assert_allclose(np.asarray(fig.data[1 + direction].y, float), expected, atol=2e-4)
        assert f"μ={mean:.2f}" in fig.data[1 + direction].name
    unknown = skp.kl_fit_figure(kl_fit.FIT_GRID, mixture, fits, 13)  # a step no fit has: the last
    assert unknown.layout.title.text.endswith("(step 2000)")


def test_classifier_curves_open_with_the_chosen_epochs_revealed():
    from lossviz.figures import softmax_kl as skp

    losses = np.exp(-np.linspace(0, 3, 200))[None].repeat(2, 0)
    args = (["CE", "KL"], ["categorical_crossentropy", "kl_divergence"], [0.01, 0.01], losses, 1 - losses, 200)
    full, part = skp.training_curves(*args), skp.training_curves(*args, epoch=77)
    (slider,) = part.player_layout["sliders"]
    assert slider["steps"][slider["active"]]["label"] == "77"
    opening = part.player_frames[slider["active"]]["layout"]
    layout = part.to_dict()["layout"]
    assert layout["xaxis3"]["domain"] == opening["xaxis3"]["domain"]  # drawn as its opening frame
    assert layout["xaxis3"]["range"] == opening["xaxis3"]["range"] == [1, pytest.approx(77, abs=0.01)]
    assert layout["xaxis3"]["domain"][1] < full.to_dict()["layout"]["xaxis3"]["domain"][1]
    assert layout["title"]["text"].endswith("(epochs 1–77 shown)")
    assert full.to_dict()["layout"]["title"]["text"].endswith("(epochs 1–200 shown)")


def test_landscape_star_opens_on_the_chosen_epoch_and_the_alt_says_which():
    from lossviz.figures import landscape as lp

    coords, path, grid, losses, scale = toy_path()
    fig = lp.contour_figure(grid, grid, losses, scale, "nats", "run", path, 3)
    (star,) = [t for t in fig.data if t.name == "epoch shown"]
    assert (star.x[0], star.y[0]) == (coords[3, 0], coords[3, 1]) and star.text == ("epoch 3",)
    assert fig.player_layout["sliders"][0]["active"] == 3
    assert "star marks epoch 3 of the path" in lp.surface_alt(grid, grid, losses, "nats", "run", path, 3)
    assert "star marks epoch 7 of the path" in lp.surface_alt(grid, grid, losses, "nats", "run", path)
    beyond = lp.contour_figure(grid, grid, losses, scale, "nats", "run", path, 99)  # another run's longer path
    assert [t for t in beyond.data if t.name == "epoch shown"][0].text == ("epoch 7",)
