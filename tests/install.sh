#!/usr/bin/env bash
# Install what the test suite needs on a fresh machine: fastwsgi itself, built from its sdist (so a source or test
# file missing from the sdist fails here), with its test extras, and, where apt is available and we are root, the
# Debian tools some tests use (they skip loudly without them). Needs a C compiler and the Python headers.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # libnghttp2's headers before the build (HTTP/2: setup.py links it when found), and h2load/nghttp for the tests
    if ! [ -e /usr/include/nghttp2/nghttp2.h ] || ! command -v h2load >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq libnghttp2-dev nghttp2-client) >/dev/null 2>&1 \
            || echo "install.sh: could not install libnghttp2-dev nghttp2-client (HTTP/2 is then not built)" >&2
    fi
fi
echo "install.sh: building the sdist, then fastwsgi from it (Cython + C compile, quiet for about a minute)" >&2
python -m pip install -q build
rm -f dist/fastwsgi-*.tar.gz
if ! out=$(python -m build --sdist --outdir dist . 2>&1); then
    echo "$out" >&2
    exit 1
fi
sdist=$(ls dist/fastwsgi-*.tar.gz)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Every tracked file that the build or the tests read must be in the sdist (MANIFEST.in).
    missing=$(comm -23 <(git ls-files ext src tests docs examples LICENSE README.md setup.py pyproject.toml | LC_ALL=C sort) \
                       <(tar tzf "$sdist" | sed 's|^[^/]*/||' | LC_ALL=C sort))
    if [ -n "$missing" ]; then
        echo "install.sh: tracked files missing from $sdist (see MANIFEST.in):" $missing >&2
        exit 1
    fi
fi
python -m pip install -q "$sdist[test]"
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # wrk: the zero-loss tests under keep-alive load (tests/test_retire.py); nginx: its uwsgi_pass in front of
    # --protocol uwsgi (tests/test_uwsgi_nginx.py; the tests start their own nginx on free ports)
    for tool in curl wrk nginx; do
        if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
            (apt-get update -qq && apt-get install -y -qq "$tool") >/dev/null 2>&1 \
                || echo "install.sh: could not install $tool" >&2
        fi
    done
fi
