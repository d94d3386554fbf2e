"""Build the Cython extension fastwsgi._core from ext/ (metadata lives in pyproject.toml).

Switches (environment variables, read at build time):
  FASTWSGI_DEBUG=1     a debug build: -O0 -g, C asserts and Cython `assert` statements kept, boundscheck and
                       wraparound on, line tracing compiled in (linetrace, CYTHON_TRACE, CYTHON_TRACE_NOGIL: the
                       module is visible to coverage and sys.settrace/sys.monitoring, and is much slower), and
                       the C macro FASTWSGI_DEBUG=1. Without it: -O2, no bounds or wraparound checks, and Cython
                       `assert`s compiled out (CYTHON_WITHOUT_ASSERTIONS).
  FASTWSGI_SANITIZE=1  instrument the C with AddressSanitizer and UndefinedBehaviorSanitizer (-fsanitize=address,
                       undefined -fno-omit-frame-pointer, -O1 -g). The module then needs the ASan runtime loaded first
                       (LD_PRELOAD) and PYTHONMALLOC=malloc to see Python objects: tools/sanitize.sh does all that.
                       FASTWSGI_SANITIZE=fuzz (with CC=clang) adds fuzzer-no-link, the libFuzzer coverage that
                       atheris's asan_with_fuzzer.so reads (the fuzz targets in tests/fuzz/).
  FASTWSGI_ANNOTATE=1  write Cython's HTML annotation next to the sources
  FASTWSGI_HTTP2=0     build without HTTP/2 even where libnghttp2's header is found (by default it is linked when
                       nghttp2/nghttp2.h compiles: the C macro FASTWSGI_HTTP2=1; without it --http-protocols h2 is
                       refused in one line)
"""
import os
import shutil
import subprocess
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTWSGI_DEBUG") == "1"
SANITIZE = os.environ.get("FASTWSGI_SANITIZE", "")
SANITIZERS = {"": None, "0": None, "1": "address,undefined", "fuzz": "address,undefined,fuzzer-no-link"}
if SANITIZE not in SANITIZERS:
    raise SystemExit(f"FASTWSGI_SANITIZE={SANITIZE!r}: expected 1 or fuzz")

if DEBUG:
    # -UNDEBUG: Python's own CFLAGS carry -DNDEBUG, which would drop C assert()s.
    compile_args = ["-O0", "-g", "-UNDEBUG"]
    macros = [("FASTWSGI_DEBUG", "1"), ("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")]
else:
    compile_args = ["-O2"]
    macros = [("FASTWSGI_DEBUG", "0"), ("CYTHON_WITHOUT_ASSERTIONS", "1")]
link_args = []
if SANITIZERS[SANITIZE]:
    if not DEBUG:
        compile_args = ["-O1"]  # readable reports at a bearable speed
    # -fno-wrapv: Python's CFLAGS carry -fwrapv, under which clang checks no pointer arithmetic (NULL + 0) and
    # neither compiler checks signed overflow
    compile_args += [f"-fsanitize={SANITIZERS[SANITIZE]}", "-fno-omit-frame-pointer", "-fno-wrapv", "-g"]
    link_args = ["-fsanitize=address,undefined"]  # gcc links its runtimes in; clang leaves them to LD_PRELOAD



def compiles(code, link=False):
    """Does this C compile (and link with -lnghttp2)? The probe for libnghttp2 and its newer functions."""
    cc = shutil.which(os.environ.get("CC", "cc").split()[0]) or shutil.which("gcc")
    if cc is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        cmd = [cc, src, "-o", os.path.join(tmp, "probe")] + (["-lnghttp2"] if link else ["-c"])
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


libraries = []
HTTP2 = os.environ.get("FASTWSGI_HTTP2", "") != "0" and compiles(
    "#include <nghttp2/nghttp2.h>\nint main(void) { nghttp2_session_callbacks *c; "
    "return nghttp2_session_callbacks_new(&c); }\n", link=True)
if HTTP2:
    libraries.append("nghttp2")
    macros.append(("FASTWSGI_HTTP2", "1"))
    for macro, call in (("FW_HAVE_RESET_RATE", "nghttp2_option_set_stream_reset_rate_limit(o, 1, 1)"),
                        ("FW_HAVE_MAX_CONTINUATIONS", "nghttp2_option_set_max_continuations(o, 1)")):
        if compiles("#include <nghttp2/nghttp2.h>\nint main(void) { nghttp2_option *o; nghttp2_option_new(&o); "
                    f"{call}; return 0; }}\n", link=True):
            macros.append((macro, "1"))
else:
    macros.append(("FASTWSGI_HTTP2", "0"))
    print("setup.py: libnghttp2 not found (nghttp2/nghttp2.h): building without HTTP/2", flush=True)

# cythonize regenerates the C only when a source is newer than it: a stamp makes a change of mode regenerate it too.
MODE = (("debug" if DEBUG else "release") + (f"+sanitize={SANITIZE}" if SANITIZERS[SANITIZE] else "")
        + ("+http2" if HTTP2 else ""))
MODE_STAMP = os.path.join("build", "cython-mode")


def last_mode():
    try:
        with open(MODE_STAMP) as f:
            return f.read()
    except OSError:
        return None


extension = Extension(
    "fastwsgi._core",
    ["ext/fastwsgi/_core.pyx"],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
    define_macros=macros,
    include_dirs=["ext"],
    libraries=libraries,
)

ext_modules = cythonize(
    [extension],
    language_level=3,
    include_path=["ext"],
    annotate=os.environ.get("FASTWSGI_ANNOTATE") == "1",
    force=last_mode() != MODE,
    compiler_directives={
        "boundscheck": DEBUG,
        "wraparound": DEBUG,
        "linetrace": DEBUG,
        "cdivision": True,
        "embedsignature": True,
    },
)
os.makedirs("build", exist_ok=True)
with open(MODE_STAMP, "w") as f:
    f.write(MODE)

setup(ext_modules=ext_modules)
