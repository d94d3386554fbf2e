#!/usr/bin/env bash
# The core under AddressSanitizer and UndefinedBehaviorSanitizer (issue 25): build fastwsgi._core with
# FASTWSGI_SANITIZE=1 (-fsanitize=address,undefined; clang or gcc) into a throwaway venv, then run under it
#   1. the core's test files, inline and with FASTWSGI_TEST_THREADS=4;
#   2. the mixed-endings stress (tests/test_stress_mix.py) with a few thousand connections;
#   3. each fuzz target of tests/fuzz/ for FUZZ_SECONDS (atheris; a clang build with libFuzzer coverage of the C when
#      clang is installed, else the build of step 1, guided by the targets' Python checks only).
# Any sanitizer report (in a server's log, a test's output or the reports directory), a failed test or a fuzz crash
# makes it exit 1. It takes several minutes and is not part of CI's main run (CI runs each fuzz target for seconds).
#
#   tools/sanitize.sh [TEST_FILE...]     the test files to run instead of the core's
#
# Environment: SANITIZE_DIR (work directory, default $TMPDIR/fastwsgi-sanitize, emptied first), PYTHON (python3),
# FUZZ_SECONDS (per target, default 120; 0 skips the fuzzing), STRESS_CONNECTIONS (default 3000; 0 skips it),
# SANITIZE_CC (clang when installed, else gcc: clang's UBSan also reports pointer arithmetic on NULL, "applying
# zero offset to null pointer", which gcc's does not; Debian: apt-get install clang).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${SANITIZE_DIR:-${TMPDIR:-/tmp}/fastwsgi-sanitize}
PY=${PYTHON:-python3}
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
STRESS_CONNECTIONS=${STRESS_CONNECTIONS:-3000}
SANITIZE_CC=${SANITIZE_CC:-$(command -v clang > /dev/null && echo clang || echo gcc)}
CORE_TESTS=(tests/test_environ.py tests/test_field_template.py tests/test_strict.py tests/test_fuzz.py
            tests/test_http11.py tests/test_threads.py tests/test_loop.py tests/test_input.py tests/test_response.py
            tests/test_proxy_protocol.py tests/test_stress_mix.py)
TESTS=("${CORE_TESTS[@]}")
[ $# -gt 0 ] && TESTS=("$@")
failed=()

say() { printf '\n== %s\n' "$*"; }
die() { echo "sanitize.sh: $*" >&2; exit 2; }

rm -rf "$WORK" && mkdir -p "$WORK"/{logs,reports,tmp} || die "cannot make $WORK"
cd "$ROOT" || die "no $ROOT"

# -- build --------------------------------------------------------------------------------------------------------
# from a copy of the sources, so the checkout's build/ stays a release build
build() {  # build VENV ENV... : a venv with fastwsgi built with the given environment
    local venv=$1 src=$WORK/src-$(basename "$1")
    shift
    mkdir -p "$src"
    git ls-files -z --cached --others --exclude-standard -- \
        setup.py pyproject.toml MANIFEST.in README.md LICENSE src ext | xargs -0 cp --parents -t "$src" || return 1
    "$PY" -m venv --system-site-packages "$venv" || return 1
    env "$@" "$venv/bin/pip" install -q --no-deps "$src" > "$WORK/build-$(basename "$venv").log" 2>&1
}

IGNORELIST="-fsanitize-ignorelist=$ROOT/tools/sanitize-ignorelist.txt"    # clang: checks left out of Cython's code
say "building with FASTWSGI_SANITIZE=1 ($SANITIZE_CC) into $WORK/venv"
if [ "$SANITIZE_CC" = clang ]; then
    build "$WORK/venv" CC=clang LDSHARED="clang -shared" CFLAGS="$IGNORELIST" FASTWSGI_SANITIZE=1 || BUILD_FAILED=1
    LIBASAN=$(clang -print-file-name=libclang_rt.asan-x86_64.so)   # holds UBSan's handlers too
else
    build "$WORK/venv" CC=gcc FASTWSGI_SANITIZE=1 || BUILD_FAILED=1
    LIBASAN=$(gcc -print-file-name=libasan.so)
fi
[ -z "${BUILD_FAILED:-}" ] || { tail -30 "$WORK/build-venv.log"; die "build failed"; }
[ -e "$LIBASAN" ] || die "no ASan runtime from $SANITIZE_CC ($LIBASAN)"
nm -D "$WORK"/venv/lib/python*/site-packages/fastwsgi/_core*.so | grep __asan_report > /dev/null \
    || die "the build is not sanitized"

# Sanitizer settings for every Python process below (the pytest process, the servers it starts, their workers).
# PYTHONMALLOC=malloc: pymalloc's arenas would hide freed objects from ASan. detect_leaks=0: CPython keeps objects
# until exit by design. FASTWSGI_SANITIZED=1: tests that bound a server's RSS skip (ASan's shadow and quarantine).
# Each report also goes to $WORK/reports (log_path), whatever a test does with its output.
sanitized() {
    env PYTHONMALLOC=malloc LD_PRELOAD="$LIBASAN" FASTWSGI_SANITIZED=1 \
        TMPDIR="$WORK/tmp" FASTWSGI_TEST_LOG_DIR="$WORK/logs" \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$WORK/reports/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$WORK/reports/ubsan" \
        "$@"
}
sanitized "$WORK/venv/bin/python" -c "import fastwsgi._core" || die "the sanitized build does not import"

# -- tests ----------------------------------------------------------------------------------------------------------
run_tests() {  # NAME ENV... : the test files under the sanitizers
    local name=$1
    shift
    say "tests ($name): ${TESTS[*]}"
    sanitized env "$@" "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest-$name" \
        "${TESTS[@]}" 2>&1 | tee "$WORK/pytest-$name.log" | tail -15
    [ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("tests ($name)")
}
run_tests inline FASTWSGI_TEST_THREADS=1 FASTWSGI_STRESS_CONNECTIONS=400
run_tests threads4 FASTWSGI_TEST_THREADS=4 FASTWSGI_STRESS_CONNECTIONS=400

if [ "$STRESS_CONNECTIONS" -gt 0 ]; then
    say "stress: $STRESS_CONNECTIONS connections per server (tests/test_stress_mix.py)"
    sanitized env FASTWSGI_STRESS_CONNECTIONS="$STRESS_CONNECTIONS" FASTWSGI_STRESS_SECONDS=300 \
        "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest-stress" \
        tests/test_stress_mix.py 2>&1 | tee "$WORK/pytest-stress.log" | tail -15
    [ "${PIPESTATUS[0]}" -eq 0 ] || failed+=("stress")
fi

# -- fuzzing --------------------------------------------------------------------------------------------------------
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    FUZZ_PY=$WORK/venv/bin/python
    FUZZ_PRELOAD=$LIBASAN
    if ! "$FUZZ_PY" -c "import atheris" 2>/dev/null; then
        "$WORK/venv/bin/pip" install -q atheris > "$WORK/atheris.log" 2>&1 || true
    fi
    if ! "$FUZZ_PY" -c "import atheris" 2>/dev/null; then
        failed+=("fuzzing: atheris does not install for $("$FUZZ_PY" -V)")
    else
        # atheris's wheel ships clang's ASan runtime with libFuzzer in it, beside the package
        ATHERIS_RT=$("$FUZZ_PY" -c "import atheris, os; print(os.path.dirname(os.path.dirname(atheris.__file__)))")
        ATHERIS_RT=$ATHERIS_RT/asan_with_fuzzer.so
        if command -v clang > /dev/null && [ -e "$ATHERIS_RT" ]; then
            # clang's -fsanitize=fuzzer-no-link: libFuzzer sees the C's edges and comparisons, not only Python's
            say "building with CC=clang FASTWSGI_SANITIZE=fuzz into $WORK/venv-fuzz"
            if build "$WORK/venv-fuzz" CC=clang LDSHARED="clang -shared" CFLAGS="$IGNORELIST" FASTWSGI_SANITIZE=fuzz \
                    && "$WORK/venv-fuzz/bin/pip" install -q atheris >> "$WORK/build-venv-fuzz.log" 2>&1; then
                FUZZ_PY=$WORK/venv-fuzz/bin/python
                FUZZ_PRELOAD=$ATHERIS_RT
            else
                echo "clang build failed (see $WORK/build-venv-fuzz.log): fuzzing the gcc build"
            fi
        else
            echo "no clang: the fuzz targets are guided by Python's coverage only (apt-get install clang for the C's)"
        fi
        for target in tests/fuzz/fuzz_*.py; do
            name=$(basename "$target" .py)
            say "fuzzing $name for ${FUZZ_SECONDS}s ($FUZZ_PY, LD_PRELOAD=$(basename "$FUZZ_PRELOAD"))"
            mkdir -p "$WORK/fuzz/$name"
            (cd "$WORK/fuzz/$name" && sanitized env LD_PRELOAD="$FUZZ_PRELOAD" "$FUZZ_PY" "$ROOT/$target" \
                -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
                > "$WORK/fuzz-$name.log" 2>&1)
            rc=$?
            tail -5 "$WORK/fuzz-$name.log"
            [ $rc -eq 0 ] \
                || failed+=("fuzzing $name (exit $rc, $WORK/fuzz-$name.log; crash inputs in $WORK/fuzz/$name)")
        done
    fi
fi

# -- reports --------------------------------------------------------------------------------------------------------
say "sanitizer reports"
reports=$(grep -rlE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" \
    "$WORK/reports" "$WORK/logs" "$WORK"/pytest-* "$WORK"/*.log 2>/dev/null | sort -u)
if [ -n "$reports" ]; then
    echo "$reports"
    for f in $reports; do
        grep -m1 -hE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$f"
    done | sort | uniq -c
    failed+=("sanitizer reports")
else
    echo "none"
fi

if [ ${#failed[@]} -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "clean: no sanitizer report, every test and fuzz target passed (logs in $WORK)"
