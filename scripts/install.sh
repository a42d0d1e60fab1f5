#!/bin/sh
# Installs everything pyrunc needs on a fresh Debian 12 machine (run as root from the repo root):
# the apt packages, a venv in .venv with the package and its cffi build, and /usr/local/bin/pyrunc.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
grep -v '^\s*#' scripts/apt-packages.txt | xargs apt-get install -y -qq --no-install-recommends >/dev/null
[ -x .venv/bin/python3 ] || /usr/bin/python3 -m venv .venv
.venv/bin/pip install -q -r requirements-dev.txt
rm -rf build
.venv/bin/pip install -q --no-build-isolation --force-reinstall --no-deps .
for b in .venv/bin/pyrunc*; do ln -sf "$PWD/$b" "/usr/local/bin/${b##*/}"; done
echo "installed: $(/usr/local/bin/pyrunc --version | head -n1)"
