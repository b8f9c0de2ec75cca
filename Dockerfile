# The citysense image: one image, every server-side command (`citysense ingest|analytics|api|simulate|migrate`).
# Multi-stage: wheels are built in the first stage, the runtime stage has no compiler and runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY citysense citysense
COPY edge edge
COPY ingest ingest
COPY analytics analytics
COPY api api
COPY dashboards dashboards
COPY simulators simulators
COPY launcher launcher
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[server,analytics]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 citysense
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER citysense
WORKDIR /home/citysense
ENV CITYSENSE_DATA_DIR=/home/citysense/var
ENTRYPOINT ["citysense"]
