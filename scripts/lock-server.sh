#!/usr/bin/env bash
# Regenerate requirements/server.lock: every package of the server image (`.[server,analytics]`),
# pinned with the hashes of every file PyPI has for it. Needs pip-tools (`pip install pip-tools`).
# Run it after changing the server or analytics dependencies in pyproject.toml, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/../requirements"
# PyPI only: no machine-local indexes, wheel folders or constraints.
env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
  pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
  --extra server --extra analytics \
  --index-url https://pypi.org/simple --no-emit-index-url --no-emit-find-links \
  --output-file server.lock ../pyproject.toml
# The analytics extra names citysense[server]: pip-compile lists the project itself by its local
# path, which cannot be hashed. The image installs the project separately (--no-deps).
python3 - <<'PY'
import re
from pathlib import Path

lock = Path("server.lock")
text = re.sub(
    r"# WARNING: pip install will require the following package to be hashed\.\n#.*\n"
    r"citysense @ file://\S+\n(    # via .*\n)*",
    "",
    lock.read_text(),
)
assert "file://" not in text, "a local path is left in the lock"
lock.write_text(text)
PY
echo "requirements/server.lock: $(grep -c '==' server.lock) packages pinned with hashes"
