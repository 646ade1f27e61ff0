# readiness in a container, for CI systems without Python (usage: docs/ci.md).
#
#   docker build -t readiness .
#   docker run --rm -v "$PWD/models/credit:/bundle:ro" -v "$PWD/out:/out" readiness \
#       check /bundle --json /out/scorecard.json --sarif /out/readiness.sarif
#
# Build argument EXTRAS: pip extras to install (default "sklearn", which .skops source models need; "" for none).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY readiness ./readiness
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ARG EXTRAS=sklearn
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN set -eu; wheel="$(ls /wheels/readiness-*.whl)"; \
    if [ -n "$EXTRAS" ]; then spec="${wheel}[${EXTRAS}]"; else spec="$wheel"; fi; \
    pip install "$spec"; rm -rf /wheels; \
    useradd --create-home --uid 10001 --shell /usr/sbin/nologin readiness
USER readiness
WORKDIR /home/readiness
ENTRYPOINT ["readiness"]
CMD ["check", "/bundle"]
