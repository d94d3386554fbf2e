"""docs/settings.md is generated from the settings registry; regenerate with `python -m fastwsgi.docs_gen`.

The file on disk is checked against a fresh render, and against the command line the parser really accepts: every
flag of the argparse parser is documented, and every documented flag is accepted.
"""
import os
import re

from fastwsgi.config import build_parser
from fastwsgi.docs_gen import render
from fastwsgi.settings import SETTINGS

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "settings.md")
NOT_SETTINGS = {"help", "version"}  # argparse's own actions


def _doc():
    with open(DOC) as handle:
        return handle.read()


def _parser_flags():
    return {flag for action in build_parser()._actions if action.dest not in NOT_SETTINGS
            for flag in action.option_strings}


def test_settings_doc_is_up_to_date():
    assert _doc() == render(), "docs/settings.md is stale: run `python -m fastwsgi.docs_gen`"


def test_every_setting_has_a_section():
    headings = set(re.findall(r"^### `(\w+)[`(]", _doc(), re.M))  # hooks: ### `name(args)`
    missing = sorted(s.name for s in SETTINGS if s.name not in headings)
    assert not missing, f"settings without a section in docs/settings.md: {missing}"


def test_every_cli_flag_is_documented_and_every_documented_flag_exists():
    flags = _parser_flags()
    assert "--bind" in flags and "-w" in flags  # the parser is the real one, not an empty stand-in
    # a setting's flags are on the first line of its section: `-b ADDRESS`, `--bind ADDRESS` · default: ...
    documented = {flag for line in _doc().splitlines() if line.startswith("`-")
                  for flag in re.findall(r"`(--?[A-Za-z][\w-]*)", line.split(" · ")[0])}
    assert sorted(flags - documented) == [], "CLI flags missing from docs/settings.md"
    assert sorted(documented - flags) == [], "flags in docs/settings.md the command line does not accept"
