"""lossviz with a start-up hook: ``streamlit run serve.py`` serves ``app.py`` and warms the process first.

``streamlit run app.py`` runs none of our code before a first visitor arrives, who then waits for the
imports (JAX, optax, plotly, pandas, SQLAlchemy: about 1.8 s on 2 cores) and for the first script run of
the page, which computes what every visitor of it sees (BCE's surfaces and MNIST floors, the zoo's fits,
the landscape's pair of runs: 1–5 s each) and loads its JAX programs. Streamlit 1.67 serves a file that
defines an ``st.App`` with uvicorn and runs its lifespan after its runtime starts and before it answers
anyone: here, the imports, one browserless visit of every page (unless ``LOSSVIZ_WARMUP=0``), and the
start of the background warm-up (MNIST and the lab's presets, in its own thread).
"""

import sys
from contextlib import asynccontextmanager

import streamlit as st

SECONDS_PER_PAGE = 60.0
"""A page whose first run takes longer (the landscape's pair on a fresh run store) is left to finish in the
run service; the server answers meanwhile."""


@asynccontextmanager
async def warmed(_app):
    from lossviz import settings, site, ui, warmup  # every page's heavy imports (JAX, plotly, pandas…)

    if settings.warmup():
        warmup.configure_compilation_cache()
        paths = ["", *(page.url_path for page in site.existing_pages())]
        try:
            opened = await ui.navigation.visit_pages(paths, seconds_each=SECONDS_PER_PAGE)
        except Exception as err:  # noqa: BLE001 — an optimisation: serve without it rather than not at all
            print(f"lossviz: the pages could not be opened before the first visitor ({err!r}); serving anyway",
                  file=sys.stderr, flush=True)
        else:
            print("lossviz: every page opened once before the first visitor: "
                  + "; ".join(f"/{path} {outcome}" for path, outcome in opened.items()), file=sys.stderr, flush=True)
    ui.data.start_warm_up()
    yield


app = st.App("app.py", lifespan=warmed)
