#!/usr/bin/env bash
# Install what the test suite needs on a fresh machine: the package itself (compiled) with its test extras,
# and, where apt is available and we are root, the Debian tools some tests use (they skip loudly without them).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q ".[test]"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if ! command -v curl >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq curl) >/dev/null 2>&1 || echo "install.sh: could not install curl" >&2
    fi
fi
