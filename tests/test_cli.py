"""The command line and the application spec: --version/--help/--check-config, app forms and their errors."""
import sys

import pytest

from fastwsgi.app_loader import load_app
from fastwsgi.errors import AppImportError
from fastwsgi.settings import SETTINGS
from tests.support.master import Master, get, run_cli, write_app


@pytest.fixture
def app_dir(tmp_path, monkeypatch):
    write_app(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m in ("pidapp", "broken_app", "pkg", "pkg.sub")]:
        del sys.modules[name]


def _call(app):
    seen = {}
    body = b"".join(app({"PATH_INFO": "/x"}, lambda status, headers: seen.update(status=status)))
    return seen["status"], body


# ------------------------------------------------------------------------------------------------ app spec forms
def test_module_colon_name(app_dir):
    assert load_app("pidapp:application").__name__ == "application"


def test_module_alone_means_application_then_app(app_dir):
    assert load_app("pidapp").__name__ == "application"
    (app_dir / "onlyapp.py").write_text("def app(environ, start_response):\n    return []\n")
    assert load_app("onlyapp").__name__ == "app"
    (app_dir / "neither.py").write_text("x = 1\n")
    with pytest.raises(AppImportError, match="neither 'application' nor 'app'"):
        load_app("neither")


def test_factory_with_literal_args(app_dir):
    assert _call(load_app("pidapp:create_app('hi', times=3)")) == ("200 OK", b"hihihi")
    assert _call(load_app("pidapp:create_app(\"yo\")")) == ("200 OK", b"yo")
    with pytest.raises(AppImportError, match="must be Python literals"):
        load_app("pidapp:create_app(os.getcwd())")


@pytest.mark.parametrize("spec, message", [
    ("app.py", "'app.py' looks like a file path; give a module instead, e.g. 'app:application'"),
    ("src/app.py:app", "looks like a file path"),
    ("pidapp:missing", "module 'pidapp' has no attribute 'missing'"),
    ("pidapp:not_callable", "application pidapp:not_callable is not callable (got int)"),
    ("pidapp:", "bad application spec"),
    ("pidapp:1+", "bad application name"),
    ("no_such_mod_xyz:app", "cannot import module 'no_such_mod_xyz': No module named 'no_such_mod_xyz'"),
    ("pidapp:create_app()", "factory pidapp:create_app raised TypeError"),
    ("", "no application given"),
])
def test_spec_errors_are_one_line(app_dir, spec, message):
    with pytest.raises(AppImportError) as info:
        load_app(spec)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_import_error_inside_the_app_names_module_cause_and_line(app_dir):
    (app_dir / "broken_app.py").write_text("import os\nimport no_such_dependency_abc\n")
    with pytest.raises(AppImportError) as info:
        load_app("broken_app:app")
    assert str(info.value) == ("error while importing 'broken_app': ModuleNotFoundError: No module named "
                               f"'no_such_dependency_abc' ({info.value.args[0].split('(')[-1]}")
    assert "line 2)" in str(info.value)


# ------------------------------------------------------------------------------------------------- command line
def test_version(tmp_path):
    result = run_cli(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("fastwsgi ")


def test_help_lists_every_flag(tmp_path):
    result = run_cli(["--help"], tmp_path)
    assert result.returncode == 0
    for setting in SETTINGS:
        for flag in setting.flags:
            assert flag in result.stdout
    assert "APP_MODULE" in result.stdout


def test_check_config(app_dir):
    assert run_cli(["--check-config", "pidapp:app"], app_dir).returncode == 0
    bad = run_cli(["--check-config", "pidapp:nope"], app_dir)
    assert bad.returncode == 4
    assert bad.stderr == "fastwsgi: error: module 'pidapp' has no attribute 'nope'\n"
    bad = run_cli(["--check-config", "-w", "x", "pidapp:app"], app_dir)
    assert bad.returncode == 2


def test_file_path_by_mistake_gets_a_hint(app_dir):
    result = run_cli(["pidapp.py"], app_dir)
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1
    assert "give a module instead, e.g. 'pidapp:application'" in result.stderr


def test_no_app_is_an_error(tmp_path):
    result = run_cli([], tmp_path)
    assert result.returncode == 2
    assert "no application given" in result.stderr


def test_chdir_pythonpath_and_env(tmp_path):
    sub = tmp_path / "site"
    sub.mkdir()
    write_app(sub)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "wrapped.py").write_text("from pidapp import application as app\n")
    assert run_cli(["--chdir", str(sub), "--check-config", "pidapp:app"], tmp_path).returncode == 0
    assert run_cli(["--check-config", "pidapp:app"], tmp_path).returncode == 4
    assert run_cli(["--chdir", str(sub), "--pythonpath", str(lib), "--check-config", "wrapped:app"],
                   tmp_path).returncode == 0
    master = Master(["--chdir", str(sub), "-e", "GREETING=hello there", "pidapp:app"], tmp_path)
    try:
        assert get(master.port, "/env?GREETING")[1] == "hello there"
    finally:
        assert master.stop() == 0


def test_working_directory_is_on_sys_path(app_dir):
    master = Master(["pidapp"], app_dir)
    try:
        assert get(master.port)[0] == 200
    finally:
        master.stop()


def test_bind_in_use_is_one_line(app_dir):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli(["-b", f"127.0.0.1:{port}", "pidapp:app"], app_dir)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"fastwsgi: error: address already in use: 127.0.0.1:{port}"


def test_pidfile_of_a_running_server_refuses_a_second_one(app_dir):
    pidfile = str(app_dir / "run.pid")
    master = Master(["--pid", pidfile, "pidapp:app"], app_dir)
    try:
        assert open(pidfile).read().strip() == str(master.pid)
        result = run_cli(["--pid", pidfile, "-b", "127.0.0.1:0", "pidapp:app"], app_dir)
        assert result.returncode == 1
        last = result.stderr.splitlines()[-1]
        assert last == f"fastwsgi: error: already running: pid {master.pid} (pidfile {pidfile})"
        assert open(pidfile).read().strip() == str(master.pid)
    finally:
        assert master.stop() == 0
    import os

    assert not os.path.exists(pidfile)


def test_bad_access_log_format_is_one_line(app_dir):
    result = run_cli(["--access-logformat", "%(h)s %(nope)s", "pidapp:app"], app_dir)
    assert result.returncode == 2
    assert result.stderr == ("fastwsgi: error: argument --access-logformat: invalid value '%(h)s %(nope)s': "
                             "unknown atom %(nope)s\n")
