#!/usr/bin/env bash
# The dashboard test (tests/test_dashboard.py) drives a real Chromium through Playwright's
# Python package. Playwright's own browser download needs the internet, so the browser comes
# from the system's packages: Debian's `chromium`. Installs it when it is missing (needs root or
# sudo and the Debian mirror); does nothing when a chromium is already on PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends chromium >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }
command -v chromium >/dev/null 2>&1
