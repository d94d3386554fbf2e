"""The coverage-guided fuzz targets of tests/fuzz/ (atheris), each run for a few seconds from its seeds: the parser
fed in pieces, the PROXY header, the field template against fresh connections. A crash or a broken property fails
the test with the input that did it. tools/sanitize.sh runs them for minutes under ASan and UBSan."""
import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest

FUZZ_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
TARGETS = sorted(glob.glob(os.path.join(FUZZ_DIR, "fuzz_*.py")))
SECONDS = int(os.environ.get("FASTWSGI_FUZZ_SECONDS", "5"))

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


def test_there_are_targets():
    assert [os.path.basename(t) for t in TARGETS] == ["fuzz_fields.py", "fuzz_parser.py", "fuzz_proxy.py",
                                                      "fuzz_uwsgi.py"]


@pytest.mark.skipif(not HAVE_ATHERIS, reason=f"atheris is not installed for Python {sys.version.split()[0]} "
                    "(the test extras install it where it has a wheel): the fuzz targets did not run")
@pytest.mark.parametrize("target", TARGETS, ids=[os.path.basename(t)[5:-3] for t in TARGETS])
def test_fuzz_target_runs_clean(target, tmp_path):
    proc = subprocess.run([sys.executable, target, f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=2048"],
                          cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", timeout=SECONDS + 100)
    out = proc.stdout + proc.stderr
    crashes = {p.name: p.read_bytes() for p in tmp_path.glob("crash-*")}
    assert proc.returncode == 0 and not crashes, f"exit {proc.returncode}, inputs {crashes!r}:\n{out[-4000:]}"
    assert re.search(r"#\d+\s+DONE ", out), out[-2000:]     # it fuzzed (it did not stop while loading its seeds)
