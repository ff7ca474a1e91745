# The mchmc image: the CLI, the Prefect flows and a Ray node in one image. The Ray head, the Ray
# workers, the retraining scheduler and the CLI all run it (docker-compose.yml), so every node has
# the same mchmc, torch and Ray versions: Ray ships the page workers' classes by reference, and a
# driver and its cluster must run the same Ray.
#
#   docker build -t mchmc:cpu .                                              # CPU torch (default)
#   docker build -t mchmc:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# No telemetry; Prefect and the patch cache write where any UID can (compose may run as the host's UID).
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 RAY_USAGE_STATS_ENABLED=0 \
    PREFECT_HOME=/tmp/prefect MCHMC_DATA_ROOT=/data MCHMC_CACHE=/cache

# torch first and on its own index: the CPU wheel by default (the GPU worker builds with a CUDA index).
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

WORKDIR /opt/mchmc
COPY pyproject.toml setup.py README.md ./
COPY mchmc ./mchmc
COPY flows ./flows
COPY cli ./cli
COPY configs ./configs
# Editable install: configs/ stays beside the package, where `--config cpu` looks for it.
RUN pip install -e . \
 && useradd --create-home --uid 10001 mchmc \
 && mkdir -p /archive /models /data /cache \
 && chown mchmc:mchmc /archive /models /data /cache
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/mchmc-entrypoint

USER mchmc
ENTRYPOINT ["mchmc-entrypoint"]
CMD ["--help"]
