"""The lab form's fields: presets offered, training sizes, link keys, and the hidden-widths text box."""

from __future__ import annotations

from typing import Any, Sequence

from lossviz.config import PRESETS, TrainConfig


MNIST_PRESETS = tuple(name for name, c in PRESETS.items() if c.task in ("autoencoder", "classifier"))
TRAIN_SIZES = (1000, 10000, 60000)
FIELD_KEYS = {
    "task": "task", "hidden": "hidden", "hidden_activation": "act", "output_activation": "out",
    "loss": "loss", "optimizer": "opt", "learning_rate": "lr", "batch_size": "bs", "epochs": "ep",
    "pixels": "px", "bias_init": "bias", "seed": "seed",
}
"""``TrainConfig`` field → the link key of the lab's widget for it."""


def hidden_text(hidden: Sequence[int]) -> str:
    """``(128, 64)`` → ``"128,64"``, the text the widths box shows."""
    return ",".join(str(int(w)) for w in hidden)


def parse_hidden(text: str, max_layers: int = 8, max_width: int = 2048) -> tuple[int, ...]:
    """``"128, 64"`` → ``(128, 64)``; empty text means no hidden layer.  ``ValueError`` when malformed."""
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    if len(parts) > max_layers:
        raise ValueError(f"at most {max_layers} hidden layers")
    widths = []
    for part in parts:
        if not part.isdigit():
            raise ValueError(f"{part!r} is not a whole number")
        width = int(part)
        if not 1 <= width <= max_width:
            raise ValueError(f"widths must be between 1 and {max_width}, not {width}")
        widths.append(width)
    return tuple(widths)


def widget_values(config: TrainConfig) -> dict[str, Any]:
    """The lab's widget values (by link key) that show ``config``."""
    values = {FIELD_KEYS[name]: getattr(config, name) for name in FIELD_KEYS}
    values["hidden"] = hidden_text(config.hidden)
    values["lr"] = float(config.learning_rate)
    values["bias"] = float(config.bias_init)
    return values


def preset_of(config: TrainConfig) -> str | None:
    """The name of the MNIST preset equal to ``config``, if any."""
    return next((name for name in MNIST_PRESETS if PRESETS[name] == config), None)


def test_size(train_size: int) -> int:
    """Test images evaluated after each epoch: all 10000 unless the training subset is smaller."""
    return min(int(train_size), 10000)
