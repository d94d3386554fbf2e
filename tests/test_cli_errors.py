"""Command-line errors: exit codes of usage errors, import errors at --log-level debug, help of off-flags."""
import re

import pytest

from fastwsgi.settings import SETTINGS
from tests.support.master import run_cli

# The app imports a package whose second module fails while being imported: the cause is two imports deep.
DEEP = {
    "deepapp.py": "import deeplib.level1\n\napp = deeplib.level1.make_app()\n",
    "deeplib/__init__.py": "",
    "deeplib/level1.py": "from deeplib.level2 import connect\n\n\ndef make_app():\n    return connect\n",
    "deeplib/level2.py": "def _open():\n    raise RuntimeError('database unreachable')\n\n\n"
                         "def connect(environ, start_response):\n    return []\n\n\n_open()\n",
}
CAUSE = "fastwsgi: error: error while importing 'deepapp': RuntimeError: database unreachable"


@pytest.fixture
def deep_app(tmp_path):
    for name, text in DEEP.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_no_app_is_a_usage_error(tmp_path):
    result = run_cli(["-w", "2"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("fastwsgi: error: no application given")
    assert result.stderr.count("\n") == 1


# how the app gets imported: by the first worker (default), by the master (--preload), by --check-config
MODES = [["-b", "127.0.0.1:0"], ["-b", "127.0.0.1:0", "--preload"], ["--check-config"]]


@pytest.mark.parametrize("mode", MODES, ids=["worker", "preload", "check-config"])
def test_import_error_at_debug_shows_the_whole_traceback(deep_app, mode):
    result = run_cli([*mode, "--log-level", "debug", "deepapp:app"], deep_app)
    assert result.returncode == 4
    err = result.stderr
    assert "Traceback (most recent call last)" in err
    frames = re.findall(r'File "[^"]*?(deepapp|level1|level2)\.py", line (\d+)', err)
    assert frames == [("deepapp", "1"), ("level1", "1"), ("level2", "9"), ("level2", "2")], err
    assert "RuntimeError: database unreachable" in err
    assert err.strip().splitlines()[-1].startswith(CAUSE)


@pytest.mark.parametrize("mode", MODES, ids=["worker", "preload", "check-config"])
def test_import_error_below_debug_is_one_line(deep_app, mode):
    result = run_cli([*mode, "deepapp:app"], deep_app)
    assert result.returncode == 4
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(CAUSE) and last.endswith("level2.py, line 2)")
    if mode == ["--check-config"]:
        assert result.stderr.count("\n") == 1


def _help_of(help_text: str, flag: str) -> str:
    """The help paragraph argparse printed for `flag` (one option per block, continuation lines indented)."""
    match = re.search(rf"^  {re.escape(flag)}\b(.*?)(?=^  -|^\S|\Z)", help_text, re.M | re.S)
    assert match, f"{flag} not in --help"
    return " ".join(match.group(1).split())


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.action == "store_false"], ids=lambda s: s.flags[0])
def test_off_flag_help_says_what_the_flag_does(tmp_path, setting):
    """`--no-X` turns X off: its help starts by saying so, not by describing the default."""
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0
    shown = _help_of(result.stdout, setting.flags[0])
    assert shown.startswith(("Do not ", "Disable ")), shown
