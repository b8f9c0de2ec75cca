# The citysense image: one image, every server-side command (`citysense ingest|analytics|api|simulate|migrate`).
# Multi-stage: wheels are built in the first stage, the runtime stage has no compiler and runs as a non-root user.
# Every third-party package is pinned with its hashes in requirements/server.lock (scripts/lock-server.sh
# writes it from pyproject.toml): pip refuses any file whose hash is not there, and any unpinned dependency.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/server.lock requirements/server.lock
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements/server.lock
COPY pyproject.toml README.md ./
COPY citysense citysense
COPY edge edge
COPY ingest ingest
COPY analytics analytics
COPY api api
COPY dashboards dashboards
COPY simulators simulators
COPY launcher launcher
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 citysense
COPY --from=build /wheels /wheels
# Exactly the locked set and the project: nothing resolved or fetched at this point.
RUN pip install --no-cache-dir --no-index --no-deps /wheels/*.whl && pip check && rm -rf /wheels
USER citysense
WORKDIR /home/citysense
ENV CITYSENSE_DATA_DIR=/home/citysense/var
ENTRYPOINT ["citysense"]
