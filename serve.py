"""lossviz with a start-up hook: ``streamlit run serve.py`` serves ``app.py`` and warms the process first.

``streamlit run app.py`` runs none of our code before a first visitor arrives, who then waits for the
imports (JAX, optax, plotly, pandas, SQLAlchemy: about 1.8 s on 2 cores) and shares the CPU with the
warm-up. Streamlit 1.67 serves a file that defines an ``st.App`` with uvicorn and runs its lifespan
before it answers anyone: here, the imports and the warm-up's start (MNIST and the presets follow in the
warm-up's own thread).
"""

from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def warmed(_app):
    from lossviz import ui  # every page's heavy imports (JAX, plotly, pandas…), before the first visitor

    ui.data.start_warm_up()
    yield


app = st.App("app.py", lifespan=warmed)
