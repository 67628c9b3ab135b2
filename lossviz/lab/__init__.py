"""The MNIST lab's logic: run records, comparison, smoothing, downloads, fair sharing, the form, reports, ``export/``.

May import numpy, lossviz's engine, losses, data, config and settings; never streamlit or plotly.
"""

from lossviz.lab.compare import OVERLAY_METRICS, comparison_rows, overlay_series, pair_configs
from lossviz.lab.downloads import history_csv, history_json, steps_csv
from lossviz.lab.export import export_script, keras_snippet, script_filename
from lossviz.lab.form import (FIELD_KEYS, MNIST_PRESETS, TRAIN_SIZES, hidden_text, parse_hidden, preset_of,
                              test_size, widget_values)
from lossviz.lab.records import EPOCH_FIELDS, RunRecord, describe, short_loss
from lossviz.lab.reports import (autoencoder_common_bce, bce_floor_applies, bce_floor_of_images,
                                 classifier_report)
from lossviz.lab.slots import SLOTS, TrainingSlots
from lossviz.lab.smoothing import debiased_ema

__all__ = [
    "EPOCH_FIELDS", "FIELD_KEYS", "MNIST_PRESETS", "OVERLAY_METRICS", "SLOTS", "TRAIN_SIZES", "RunRecord",
    "TrainingSlots", "autoencoder_common_bce", "bce_floor_applies", "bce_floor_of_images", "classifier_report",
    "comparison_rows", "debiased_ema", "describe", "export_script", "hidden_text", "history_csv", "history_json",
    "keras_snippet", "overlay_series", "pair_configs", "parse_hidden", "preset_of", "script_filename",
    "short_loss", "steps_csv", "test_size", "widget_values",
]
