"""What the lab hands out as code: the standalone training script (a real file, ``standalone.py``) and Keras code.

May import numpy, lossviz's data, losses, config, engine and lab.records; ``standalone.py`` imports no lossviz at all.
"""

from lossviz.lab.export.keras import keras_snippet
from lossviz.lab.export.script import export_script, script_filename

__all__ = ["export_script", "keras_snippet", "script_filename"]
