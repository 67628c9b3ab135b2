"""Headless training: the dataset on the device, objectives, optimizers, jitted chunks, the run loop.

May import numpy, jax, optax and lossviz's losses, data, config and settings; never streamlit, plotly or a page.
Callers use this facade (``from lossviz import engine``; ``engine.run(...)``), not the submodules.
"""

from lossviz.engine.training import (  # noqa: F401  (the public API, re-exported)
    BLOBS_SAMPLES,
    BLOBS_TRAIN,
    RECONSTRUCTION_DIGITS,
    TRACE_COUNTS,
    Dataset,
    Progress,
    RunResult,
    Spec,
    check_config,
    chunk_length,
    compile_seconds,
    confusion_matrix,
    epoch_order,
    estimated_step_seconds,
    honest_and_keras_bce,
    init_state,
    misclassified,
    optimizer,
    output_loss,
    predict,
    predicted_classes,
    prepare,
    run,
    slot_weights,
    spec_of,
    steps_per_epoch,
    widths,
)
