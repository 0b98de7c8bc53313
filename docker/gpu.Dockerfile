# syntax=docker/dockerfile:1
# ValueFlow's GPU image, for the Celery worker of the `gpu` queue only (HiVES training, local LLM generation).
# Same code and layout as docker/Dockerfile, with the CUDA build of torch. Run it on a host with an NVIDIA driver
# and the NVIDIA container toolkit:  docker compose -f docker/compose.yml --profile gpu up -d worker-gpu
FROM python:3.11-slim

# PyTorch's CUDA 12.8 wheels bundle the CUDA runtime, cuDNN and NCCL, so no CUDA base image is needed; only the
# host's driver. Pick another index (e.g. .../whl/cu126) to match an older driver.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    VALUEFLOW_DATA_DIR=/data \
    MODELING_DEVICE=cuda

WORKDIR /app

COPY requirements/ /app/requirements/
RUN pip install -r requirements/base.txt \
 && pip install --index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' requirements/ml.txt)" \
 && pip install -r requirements/ml.txt \
 && pip install --no-deps -r requirements/ml-nodeps.txt

# The code, with the start scripts of every service in /app/docker/bin.
COPY . /app/
RUN chmod 0755 /app/docker/bin/*

# A worker serves no pages, so this image collects no static files.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home valueflow \
 && mkdir -p /data \
 && chown valueflow:valueflow /data
USER valueflow
VOLUME ["/data"]

CMD ["/app/docker/bin/start-worker", "--queues=gpu", "--concurrency=1"]
