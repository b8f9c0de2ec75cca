#!/usr/bin/env bash
# The server image's lock (requirements/server.lock, used by the Dockerfile) installs as it is into a
# fresh venv from PyPI with --require-hashes (pip refuses any file whose hash is not in the lock, and
# any dependency the lock does not pin), the set is consistent (`pip check`), and the services start
# from it: the project itself on top with --no-deps, then its commands and service modules import.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
pip=("$work/venv/bin/pip" --disable-pip-version-check --quiet)
# PyPI only: what the Dockerfile's build gets, not a machine's local wheel folders or indexes.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_CONSTRAINT PIP_INDEX_URL 2>/dev/null || true
"${pip[@]}" install --index-url https://pypi.org/simple --require-hashes -r requirements/server.lock
"${pip[@]}" install --no-deps --no-build-isolation . 2>/dev/null || "${pip[@]}" install --no-deps .
"$work/venv/bin/pip" check
"$work/venv/bin/python" -c "import api.app, ingest.service, analytics.service, simulators.run, citysense.cli"
"$work/venv/bin/citysense" --help >/dev/null
echo "requirements/server.lock installs with --require-hashes and runs the services' imports"
