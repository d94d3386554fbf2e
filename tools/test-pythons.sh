#!/usr/bin/env bash
# Run the whole test suite on other CPythons, each in a fresh venv of its own with fastwsgi installed from the sdist.
#
#   bash tools/test-pythons.sh [3.X ...]        (default: 3.9 3.13, the ends of requires-python; CI runs 3.11)
#
# Slow (a full suite per version, one after the other): extra arguments after `--` go to pytest, e.g.
# `bash tools/test-pythons.sh 3.12 -- -x tests/test_wire_http11.py`. Prints pytest's summary line per version and
# exits non-zero if any version is missing or fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/find-python.sh
VERSIONS=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do VERSIONS+=("$1"); shift; done
[ $# -gt 0 ] && shift
PYTEST_ARGS=("$@")
[ ${#PYTEST_ARGS[@]} -gt 0 ] || PYTEST_ARGS=(tests)
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(3.9 3.13)
WORK=$PWD/build/test-pythons
rm -rf "$WORK"
mkdir -p "$WORK"

FIRST=$(find_python "${VERSIONS[0]}")
[ -n "$FIRST" ] || FIRST=python3
"$FIRST" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q build
"$WORK/tools/bin/python" -m build --sdist --outdir "$WORK" . >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; exit 1; }
SDIST=$(ls "$WORK"/fastwsgi-*.tar.gz)

SUMMARY=()
FAILED=0
for v in "${VERSIONS[@]}"; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        SUMMARY+=("$v: NOT FOUND")
        FAILED=1
        continue
    fi
    echo "=== test-pythons: CPython $v ($py)"
    venv=$WORK/venv-$v
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "$SDIST[test]"
    start=$SECONDS
    set +e
    PATH=$venv/bin:$PATH "$venv/bin/python" -m pytest -p no:cacheprovider "${PYTEST_ARGS[@]}" 2>&1 | tee "$WORK/pytest-$v.log"
    rc=${PIPESTATUS[0]}
    set -e
    line=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$WORK/pytest-$v.log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
    SUMMARY+=("$("$venv/bin/python" -c 'import platform; print(platform.python_version())'): rc=$rc, $line ($((SECONDS - start)) s)")
    [ "$rc" = 0 ] || FAILED=1
done
echo "=== test-pythons: summary"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
