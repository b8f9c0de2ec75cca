#!/usr/bin/env bash
# Installs the Debian packages whose real servers the tests start, when they are missing.
# Uses apt-get directly as root, or sudo when it works without a password; otherwise says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# The status page is tested in a real headless Chromium (Debian's; Playwright never downloads one).
[ -x /usr/bin/chromium ] || need+=(chromium)
# The dashboards' panel queries (and the InfluxDB adapter) run against a real InfluxDB 1.x.
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || need+=(influxdb)
# The InfluxDB adapter's v2 write path (/api/v2/write) is tested against a real VictoriaMetrics.
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
# axe-core and Lighthouse (npm, tests/web/) check the web pages in that Chromium.
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)

start_postgres() {
  # The tests use a local PostgreSQL (127.0.0.1:5432, trust auth for 'postgres'); start it if it is installed but down.
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
      for version in /etc/postgresql/*; do
        pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
      done
    fi
  fi
}

install_web_checkers() {
  # The page tests' npm packages, exactly as locked; reinstalled when the lock file changes.
  local web=tests/web
  if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    echo "installing the page checkers (axe-core, Lighthouse) into $web/node_modules"
    npm ci --prefix "$web" --no-audit --no-fund --loglevel=error
  fi
}

if [ ${#need[@]} -eq 0 ]; then start_postgres; install_web_checkers; exit 0; fi

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "the tests need these Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} for the tests"
"${apt[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}"
start_postgres
install_web_checkers
