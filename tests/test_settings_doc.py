"""docs/settings.md is generated from the settings registry; regenerate with `python -m fastwsgi.docs_gen`."""
import os

from fastwsgi.docs_gen import render
from fastwsgi.settings import SETTINGS

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "settings.md")


def test_settings_doc_is_up_to_date():
    with open(DOC) as handle:
        current = handle.read()
    assert current == render(), "docs/settings.md is stale: run `python -m fastwsgi.docs_gen`"


def test_every_setting_and_flag_is_documented():
    text = render()
    for setting in SETTINGS:
        assert f"### `{setting.name}" in text
        for flag in setting.flags:
            assert f"`{flag}" in text
