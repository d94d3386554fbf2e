"""Lint as a test (as uvloop runs flake8 from its suite): ruff over the Python code, cython-lint over ext/.

Both are configured in pyproject.toml ([tool.ruff], [tool.cython-lint]) and installed by the `test` extras.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args):
    # cython-lint runs pycodestyle by name: put this interpreter's scripts first on PATH
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_ruff():
    code, output = run(["ruff", "check", "--no-cache", "src", "tests", "bench"])
    assert code == 0, f"ruff check src tests bench:\n{output}"


def test_cython_lint():
    if sys.version_info < (3, 10) and importlib.util.find_spec("cython_lint") is None:
        pytest.skip("NOT RUN: cython-lint 0.22 needs Python >= 3.10 (not installed here); CI on 3.11 runs it")
    code, output = run(["cython_lint.cython_lint", "ext"])
    assert code == 0, f"cython-lint ext:\n{output}"
