"""--reload: workers restart when the app's source (or a --reload-extra-file) changes; the Reloader without servers."""
import os
import sys
import time

import pytest

from fastwsgi.reloader import Reloader, error_app, error_files, is_app_file, module_files
from tests.support.master import Master, get, wait_for, write_app

APP = '''\
import os
HERE = os.path.dirname(os.path.abspath(__file__))

def application(environ, start_response):
    if environ["PATH_INFO"] == "/extra":
        with open(os.path.join(HERE, "data.txt")) as handle:
            body = (EXTRA + "|" + handle.read()).encode()
    else:
        body = {body!r}.encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]

with open(os.path.join(HERE, "data.txt")) as handle:
    EXTRA = handle.read()  # read at import: only a restart shows a new data.txt here
'''


def write_module(directory, body: str, source: str = APP) -> None:
    """Rewrite hello.py in place, as an editor does (each version differs in size: no stale .pyc)."""
    write_app(directory, "hello", source.format(body=body) if "{body" in source else source)


def body_of(port: int, path: str = "/") -> str:
    try:
        status, body, _ = get(port, path, timeout=5.0)
    except OSError:
        return ""  # between workers: the listen queue holds the connection, but be lenient
    return f"{status} {body}"


@pytest.fixture
def app_dir(tmp_path):
    (tmp_path / "data.txt").write_text("v1")
    write_module(tmp_path, "one")
    return tmp_path


@pytest.mark.parametrize("engine", ["inotify", "poll"])
def test_changed_module_is_served_within_10s(app_dir, engine):
    master = Master(["--reload", "--reload-engine", engine, "-w", "2", "hello:application"], app_dir)
    assert body_of(master.port) == "200 one"
    master.wait_log(rf"Reloader is on \({engine}\)", count=2)
    write_module(app_dir, "two, changed")
    wait_for(lambda: body_of(master.port) == "200 two, changed", 10, interval=0.2, what="the new response")
    assert "hello.py modified" in master.log()
    # every worker was replaced: the old answer is gone for good
    assert all(body_of(master.port) == "200 two, changed" for _ in range(10))
    assert master.stop() == 0


def test_extra_file_and_preload_off(app_dir):
    master = Master(["--reload", "--preload", "--reload-extra-file", "data.txt", "hello:application"], app_dir)
    assert body_of(master.port, "/extra") == "200 v1|v1"
    (app_dir / "data.txt").write_text("v2")
    wait_for(lambda: body_of(master.port, "/extra") == "200 v2|v2", 10, interval=0.2, what="a restart on data.txt")
    write_module(app_dir, "after preload")  # --reload turned --preload off: the workers import the app
    wait_for(lambda: body_of(master.port) == "200 after preload", 10, interval=0.2, what="the new response")
    assert master.stop() == 0


def test_import_error_is_served_then_fixed(app_dir):
    master = Master(["--reload", "hello:application"], app_dir)
    write_module(app_dir, "", source="def application(environ, start_response):\n    return [b'x'\n")
    wait_for(lambda: body_of(master.port).startswith("500 "), 10, interval=0.2, what="the error page")
    _, body, _ = get(master.port)
    assert "SyntaxError" in body and "hello.py" in body
    write_module(app_dir, "fixed")
    wait_for(lambda: body_of(master.port) == "200 fixed", 10, interval=0.2, what="the fixed app")
    assert master.proc.poll() is None
    assert master.stop() == 0


# ------------------------------------------------------------------------------------------------ without servers

@pytest.mark.parametrize("engine", ["inotify", "poll"])
def test_reloader_notices_changes(tmp_path, engine):
    extra = tmp_path / "conf.ini"
    extra.write_text("a")
    later = tmp_path / "later.txt"  # an extra file that does not exist yet
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.html").write_text("<p>")
    time.sleep(0.02)  # catch-up: files modified just before (10 ms) a Reloader starts may count as changed
    reloader = Reloader([str(extra), str(later), str(templates / "*.html")], engine)
    try:
        assert reloader.engine == engine
        assert reloader.changed() is None
        extra.write_text("bb")
        assert reloader.changed() == str(extra)
        reloader = _fresh(reloader, [str(later)], engine)
        later.write_text("now")
        assert reloader.changed() == str(later)
        reloader = _fresh(reloader, [str(templates / "*.html")], engine)
        (templates / "page.html").write_text("<p>changed")
        assert reloader.changed() == str(templates / "page.html")
    finally:
        reloader.close()


def _fresh(old, extra, engine):
    old.close()
    return Reloader(extra, engine)


def test_reloader_sees_modules_imported_later(tmp_path, monkeypatch):
    (tmp_path / "late_module_for_reload.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reloader = Reloader([], "poll")
    try:
        __import__("late_module_for_reload")
        assert reloader.changed() is None  # first sight: recorded
        path = tmp_path / "late_module_for_reload.py"
        path.write_text("X = 222\n")
        assert reloader.changed() == str(path)
    finally:
        sys.modules.pop("late_module_for_reload", None)
        reloader.close()


def test_catch_up_reports_files_modified_during_the_import(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    reloader = Reloader([], "poll")
    try:
        path = tmp_path / "raced_module_for_reload.py"
        path.write_text("X = 1\n")  # saved by the editor while the worker was importing the app
        __import__("raced_module_for_reload")
        reloader.refresh(catch_up=True)
        assert reloader.changed() == str(path)
        assert reloader.changed() is None
    finally:
        sys.modules.pop("raced_module_for_reload", None)
        reloader.close()


def test_app_files_exclude_the_library(tmp_path):
    assert not is_app_file(os.__file__)
    assert not is_app_file(pytest.__file__)
    assert not is_app_file(sys.modules["fastwsgi.reloader"].__file__)
    assert is_app_file(str(tmp_path / "app.py"))
    assert module_files([os, pytest]) == set()


def test_error_files_and_error_app(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("def f(:\n")
    try:
        compile(bad.read_text(), str(bad), "exec")
    except SyntaxError:
        try:
            raise RuntimeError("cannot import 'broken'") from None
        except RuntimeError as wrapped:
            error = wrapped
    assert str(bad) in error_files(error)
    app = error_app(error)
    seen = []
    body = b"".join(app({}, lambda status, headers: seen.append(status)))
    assert seen == ["500 Internal Server Error"]
    assert b"cannot import 'broken'" in body and b"SyntaxError" in body


def test_reload_settings():
    from fastwsgi.config import load_config
    from fastwsgi.errors import ConfigError

    cfg = load_config(["--reload", "--reload-extra-file", "a.txt", "--reload-extra-file", "b/*.html", "m:app"], {},
                      config_default_dir=None)
    assert cfg.reload and cfg.reload_engine == "auto" and cfg.reload_extra_files == ["a.txt", "b/*.html"]
    with pytest.raises(ConfigError, match="reload-engine"):
        load_config(["--reload-engine", "fsevents", "m:app"], {}, config_default_dir=None)


def test_reload_settings_from_each_source(tmp_path):
    from fastwsgi.config import ENV_ARGS, load_config

    (tmp_path / "fastwsgi.conf.py").write_text("reload = True\nreload_engine = 'poll'\nreload_extra_files = ['x']\n")
    cfg = load_config([], {}, config_default_dir=str(tmp_path))
    assert (cfg.reload, cfg.reload_engine, cfg.reload_extra_files) == (True, "poll", ["x"])
    cfg = load_config(["--reload-extra-file", "z"], {ENV_ARGS: "--reload-engine inotify --reload-extra-file y"},
                      config_default_dir=str(tmp_path))
    assert (cfg.reload_engine, cfg.reload_extra_files) == ("inotify", ["z"])  # a higher source replaces the list
    assert load_config(["--reload"], {}, config_default_dir=None).sources["reload"] == "command line"



def test_no_setting_is_shadowed_by_a_config_attribute():
    """cfg.reload must be the setting, not a method of Config (it once was: every worker ran the reloader)."""
    from fastwsgi.config import Config, load_config
    from fastwsgi.settings import SETTINGS

    assert [s.name for s in SETTINGS if hasattr(Config, s.name)] == []
    assert load_config(["m:app"], {}, config_default_dir=None).reload is False
