"""Headless training: the dataset on the device, objectives, optimizers, jitted chunks, the run loop.

May import numpy, jax, optax and lossviz's losses, data, config and settings; never streamlit, plotly or a page.

Callers use this facade, not the submodules (``from lossviz import engine``)::

    dataset = engine.prepare(config, mnist=None, limit_train=None, limit_test=None)   # dataset.py
    result = engine.run(config, dataset, on_progress=None, should_stop=None,          # loop.py
                        chunk_steps=None, target_seconds_per_chunk=0.25, keep_epoch_params=False)
    result.status          # engine.Status.FINISHED | STOPPED | DIVERGED
    result.message         # one readable sentence about how the run ended
    result.epochs          # list of per-epoch dicts (the CLI's JSON lines)
    result.steps, result.step_losses   # every training step's batch loss
    result.params          # final parameters, models' layout [(kernel, bias), ...]
    result.initial_params, result.epoch_params   # with keep_epoch_params: flat [W0, b0, W1, b1, ...]

    engine.predict(config, params, x)                 # model outputs, numpy          (predict.py)
    engine.confusion_matrix(config, params, dataset)  # (C, C) counts, rows = true class
    engine.misclassified(config, params, dataset, n)  # (test indices, true, predicted)
    engine.honest_and_keras_bce(params, x, config)    # (honest BCE of outputs, Keras 3's number)
    engine.output_loss(config, logits, targets)       # per-example loss the run trains on  (objectives.py)
    engine.compile_seconds(config, dataset)           # cold compile times (the bench)     (chunk.py)

``Progress`` events reach ``on_progress`` between chunks: one ``EventKind.CHUNK``
event per chunk of steps (its ``step_losses``), then one ``EventKind.EPOCH`` event
after each epoch's last chunk (its metrics, ``record``, and ``params`` when kept).
"""

from lossviz.engine.chunk import (  # noqa: F401  (the public API, re-exported)
    TRACE_COUNTS,
    chunk_length,
    compile_seconds,
    epoch_order,
    estimated_step_seconds,
    init_state,
    slot_weights,
    steps_per_epoch,
)
from lossviz.engine.dataset import (  # noqa: F401
    BLOBS_SAMPLES,
    BLOBS_TRAIN,
    RECONSTRUCTION_DIGITS,
    Dataset,
    check_config,
    prepare,
    widths,
)
from lossviz.engine.loop import EventKind, Progress, RunResult, Status, flat_params, run  # noqa: F401
from lossviz.engine.objectives import Spec, optimizer, output_loss, spec_of  # noqa: F401
from lossviz.engine.predict import (  # noqa: F401
    confusion_matrix,
    honest_and_keras_bce,
    misclassified,
    predict,
    predicted_classes,
)
