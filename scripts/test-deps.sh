#!/usr/bin/env bash
# What `make test` needs besides the pinned npm tools and the Rust toolchain, from Debian's
# packages: PostgreSQL (the market's and the scheduler's PostgreSQL tests), Chromium (the
# market web UI test, driven by the npm-pinned playwright-core) and Python 3 (the classify app's
# tests run the model script). Installs what is missing (as
# root), starts PostgreSQL on 127.0.0.1 and makes sure the `poco` test role and database exist.
# Without root, it says the one command that installs the packages and stops.
set -euo pipefail

missing=()
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# the classify app's tests compare its output with scripts/train-model.py's own prediction
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "make test needs Debian packages that are not installed: ${missing[*]}" >&2
    echo "install them once with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi
}
if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
  if [ "$(id -u)" -eq 0 ]; then
    service postgresql start >/dev/null
  else
    echo "PostgreSQL is installed but not running; start it with: sudo service postgresql start" >&2
    exit 1
  fi
fi
as_postgres "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'poco'\"" | grep -q 1 \
  || as_postgres "psql -q -c \"CREATE USER poco WITH PASSWORD 'poco' CREATEDB\""
as_postgres "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'poco'\"" | grep -q 1 \
  || as_postgres "psql -q -c \"CREATE DATABASE poco OWNER poco\""
echo "test dependencies ready: chromium, PostgreSQL at postgres://poco:poco@127.0.0.1/poco"
