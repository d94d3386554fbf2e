"""fastwsgi where gunicorn stood (issue 21): every gunicorn 27 flag and config key is known (implemented, accepted with
the line that says why it changes nothing, or refused in one line), gunicorn.conf.py is read when there is no
fastwsgi.conf.py, and the command lines and config files of real deployments start, serve, log where they say and
stop cleanly."""
import os
import shutil
import signal
import time

import pytest

from fastwsgi.config import load_config
from fastwsgi.errors import ConfigError
from fastwsgi.settings import BY_NAME, SETTINGS
from fastwsgi.settings_gunicorn import GUNICORN_27
from tests.support.master import Master, alive, free_port, get, run_cli, wait_for

DEPLOYMENTS = os.path.join(os.path.dirname(__file__), "deployments")


def test_every_gunicorn_27_setting_is_known():
    assert len(GUNICORN_27) == 120 and len(set(GUNICORN_27)) == 120
    assert not [name for name in GUNICORN_27 if name not in BY_NAME]


def test_the_list_is_gunicorn_27s_own():
    config = pytest.importorskip("gunicorn.config", reason="gunicorn not installed (27 needs Python 3.10+)")
    import gunicorn

    if gunicorn.__version__ != "27.0.1":
        pytest.skip(f"gunicorn {gunicorn.__version__}, not 27.0.1")
    assert tuple(s.name for s in config.KNOWN_SETTINGS) == GUNICORN_27
    ours = {flag for setting in SETTINGS for flag in setting.flags}
    assert [flag for s in config.KNOWN_SETTINGS for flag in (s.cli or []) if flag not in ours] == []


def _sample(setting):
    """A command-line value gunicorn takes for this setting: its default where it has one that says something."""
    if setting.action in ("store_true", "store_false"):
        return []
    samples = {"bind": "127.0.0.1:8000", "worker_class": "gthread", "worker_tmp_dir": "/dev/shm", "user": "0",
               "group": "0", "umask": "0", "paste": "production.ini", "raw_paste_global_conf": "FOO=1",
               "forwarded_allow_ips": "127.0.0.1", "proxy_protocol": "v1", "ssl_version": "TLS",
               "cert_reqs": "0", "reload_engine": "poll", "syslog_addr": "udp://localhost:514",
               "statsd_host": "localhost:8125", "logger_class": "gunicorn.glogging.Logger",
               "control_socket_mode": "0600", "http2_cleartext": "off", "http_protocols": "h1", "protocol": "http",
               "header_map": "drop", "http_parser": "auto", "worker_connections": "1000",
               "config": "g.conf.py"}
    if setting.name in samples:
        return [samples[setting.name]]
    default = setting.default_value()
    if isinstance(default, bool) or default is None or default == "" or default == []:
        return ["x"]
    return [str(default[0] if isinstance(default, list) else default)]


@pytest.mark.parametrize("name", GUNICORN_27)
def test_no_gunicorn_flag_is_unrecognized(name, tmp_path):
    setting = BY_NAME[name]
    (tmp_path / "production.ini").write_text("[app:main]\nuse = call:pidapp:paste_factory\n")
    (tmp_path / "g.conf.py").write_text("workers = 1\n")
    for flag in setting.flags:
        try:
            load_config([flag, *_sample(setting), "pidapp:app"], environ={}, config_default_dir=str(tmp_path))
        except ConfigError as exc:
            text = str(exc)
            assert "unrecognized arguments" not in text and "\n" not in text, text
            assert "invalid value" in text or "such file" in text or "cannot" in text, text


@pytest.mark.parametrize("argv, expected", [
    (["--http-protocols", "h2"], "a list without h1 is refused"),
    (["--dirty-timeout", "0"], "fastwsgi has no dirty arbiters"),
    (["--protocol", "fastcgi"], "expected one of http, uwsgi"),
    (["--dirty-workers", "2"], "fastwsgi has no dirty arbiters"),
    (["--asgi-loop", "uvloop"], "fastwsgi serves WSGI applications only"),
    (["--header-map", "dangerous"], "fastwsgi always drops header names holding '_'"),
])
def test_what_fastwsgi_cannot_do_is_refused_in_one_line(argv, expected, app_dir):
    result = run_cli([*argv, "pidapp:app"], app_dir)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_gunicorn_conf_py_is_read_when_there_is_no_fastwsgi_conf_py(app_dir):
    port = free_port()
    (app_dir / "gunicorn.conf.py").write_text(f"bind = '127.0.0.1:{port}'\nworkers = 2\nworker_tmp_dir = '/dev/shm'\n")
    master = Master(["pidapp:app"], app_dir, bind=None)
    assert master.port == port and len(master.wait_workers(2)) == 2
    log = master.log()
    assert f"Config file: {app_dir / 'gunicorn.conf.py'}" in log
    assert "Setting worker_tmp_dir: no effect: the workers' heartbeat is a shared-memory page" in log
    assert master.stop() == 0
    # ours wins when both are there
    (app_dir / "fastwsgi.conf.py").write_text(f"bind = '127.0.0.1:{port}'\nworkers = 1\n")
    master = Master(["pidapp:app"], app_dir, bind=None)
    assert len(master.wait_workers(1)) == 1 and "fastwsgi.conf.py" in master.log()
    assert master.stop() == 0


# -- the command lines people run (Procfiles, Dockerfiles, platform docs); the app is ours, the port the test's --

COMMAND_LINES = {
    # Docker guides' line (gthread, heartbeat on /dev/shm, logs to stdout)
    "dockerfile": "--worker-tmp-dir /dev/shm --workers=2 --threads=4 --worker-class=gthread --log-file=- {app}",
    # Heroku's Django Procfile
    "heroku": "{app} --log-file -",
    # Cloud Run's quickstart (its --bind :$PORT becomes the test's address)
    "cloud-run": "--workers 1 --threads 8 --timeout 0 {app}",
    # Render / Fly
    "render": "{app} --workers 2 --access-logfile - --error-logfile -",
    # Flask's deployment docs: an app factory
    "flask": "-w 2 'pidapp:create_app(\"hi\")'",
    # Django's docs: settings through the environment
    "django": "--env DJANGO_SETTINGS_MODULE=mysite.settings {app}",
    # uvicorn-era habits: a keep-alive and forwarded headers trusted from anywhere
    "proxied": "--keep-alive 75 --forwarded-allow-ips=* --proxy-allow-from=* --graceful-timeout 10 {app}",
}


@pytest.mark.parametrize("name", sorted(COMMAND_LINES))
def test_real_command_lines_start_serve_and_stop(name, app_dir):
    import shlex

    argv = shlex.split(COMMAND_LINES[name].format(app="pidapp:app"))
    master = Master(argv, app_dir)
    status, body, _ = get(master.port, "/")
    assert status == 200 and body
    assert "unrecognized" not in master.log()
    assert master.stop() == 0


def test_the_docker_line_logs_why_worker_tmp_dir_changes_nothing(app_dir):
    master = Master(["--worker-tmp-dir", "/dev/shm", "--workers=2", "--threads=4", "--worker-class=gthread",
                     "--log-file=-", "pidapp:app"], app_dir)
    assert len(master.wait_workers(2)) == 2
    assert master.log().count("Setting worker_tmp_dir: no effect") == 1
    assert master.stop() == 0


def test_a_cloud_run_bind_spelling_is_understood():
    cfg = load_config(["--bind", ":8080", "pidapp:app"], environ={}, config_default_dir=None)
    assert cfg.bind == [":8080"] or cfg.bind == ["0.0.0.0:8080"]


# -- config files --

def _conf(app_dir, name):
    shutil.copy(os.path.join(DEPLOYMENTS, name), app_dir / name)
    return str(app_dir / name)


def test_a_django_docker_gunicorn_conf_py_with_hooks(app_dir):
    port = free_port()
    master = Master(["-c", _conf(app_dir, "django_docker.conf.py"), "pidapp:app"], app_dir, bind=None,
                    env={"TEST_BIND": f"127.0.0.1:{port}"})
    assert master.port == port
    workers = master.wait_workers(2)
    master.wait_log(r"Worker spawned \(pid: \d+\)", count=2)
    status, body, _ = get(master.port, "/")
    assert status == 200
    wait_for(lambda: '"GET / HTTP/1.1" 200' in master.log(), 5, what="the access line")
    assert master.stop() == 0
    for pid in workers:
        assert f"Worker exiting (pid: {pid})" in master.log()


def test_a_logconfig_dict_config_logs_where_it_says(app_dir):
    port = free_port()
    access, error = app_dir / "access.log", app_dir / "error.log"
    master = Master(["-c", _conf(app_dir, "logconfig_dict.conf.py"), "pidapp:app"], app_dir, bind=None, wait=False,
                    env={"TEST_BIND": f"127.0.0.1:{port}", "TEST_ACCESS": str(access), "TEST_ERROR": str(error)})
    wait_for(lambda: _serves(port), 15, what="the server (its error log is the file)")
    assert get(port, "/hello")[0] == 200
    wait_for(lambda: access.exists() and "GET /hello" in access.read_text(), 5, what="the access file")
    assert master.stop() == 0
    text = error.read_text()
    assert "[INFO] Starting fastwsgi" in text and "Listening at:" in text


def test_secure_scheme_headers_of_the_config_file(app_dir):
    port = free_port()
    master = Master(["-c", _conf(app_dir, "custom_scheme.conf.py"), "pidapp:app"], app_dir, bind=None,
                    env={"TEST_BIND": f"127.0.0.1:{port}"})
    assert get(port, "/scheme", headers={"X-Scheme": "https"})[1] == "https"
    assert get(port, "/scheme", headers={"X-Scheme": "http"})[1] == "http"
    # gunicorn's default three are not in this dict: not trusted for the scheme any more
    assert get(port, "/scheme", headers={"X-Forwarded-Proto": "https"})[1] == "http"
    assert master.stop() == 0


def test_a_pyramid_production_ini_served_with_paste(app_dir):
    pytest.importorskip("paste.deploy", reason="PasteDeploy is in the test extras")
    _conf(app_dir, "production.ini")
    master = Master(["--paste", "production.ini", "--paste-global", "FOO=bar"], app_dir)
    status, body, _ = get(master.port, "/")
    assert status == 200 and body == "from paste|bar"
    # the ini's [loggers] configure logging, as gunicorn does with --paste; [server:main] is not read
    wait_for(lambda: "PASTELOG" in master.log() and "paste app called for /" in master.log(), 5,
             what="the ini's log format")
    assert "6543" not in master.log()
    assert master.stop() == 0


def test_paste_without_the_file_is_one_line(app_dir):
    result = run_cli(["--paste", "missing.ini"], app_dir)
    assert result.returncode == 4 and result.stderr.strip().count("\n") == 0
    assert "--paste: no such file" in result.stderr


def test_daemon_detaches_and_serves(app_dir):
    port = free_port()
    pidfile = app_dir / "master.pid"
    start = time.monotonic()
    result = run_cli(["-D", "--pid", str(pidfile), "-b", f"127.0.0.1:{port}", "pidapp:app"], app_dir)
    assert result.returncode == 0 and time.monotonic() - start < 10
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, what="the pidfile"))
    try:
        wait_for(lambda: _serves(port), 10, what="the daemon to serve")
        assert os.getsid(pid) == pid or os.getsid(pid) != os.getsid(0)     # its own session, not the test's
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 10, what="the daemon to stop")


def _serves(port):
    try:
        return get(port, "/", timeout=2)[0] == 200
    except OSError:
        return False


def test_spew_traces_the_app(app_dir):
    master = Master(["--spew", "pidapp:app"], app_dir)
    get(master.port, "/")
    wait_for(lambda: "pidapp.py:" in master.log(), 5, what="a traced line of the app")
    master.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="--initgroups needs root (to switch users)")
def test_initgroups_gives_the_workers_the_users_groups(app_dir):
    import grp
    import pwd

    user = pwd.getpwnam("nobody")
    os.chmod(app_dir, 0o755)
    expected = {g.gr_gid for g in grp.getgrall() if "nobody" in g.gr_mem} | {user.pw_gid}

    def groups(*extra):
        master = Master(["--preload", "--user", "nobody", "--group", str(user.pw_gid), *extra, "pidapp:app"],
                        app_dir)
        worker = master.wait_workers(1)[0]
        with open(f"/proc/{worker}/status") as handle:
            line = next(x for x in handle if x.startswith("Groups:"))
        master.stop()
        return {int(x) for x in line.split()[1:]}

    assert groups() == set()
    assert groups("--initgroups") == expected


def test_a_config_module_as_gunicorn_names_it(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "__init__.py").write_text("")
    (tmp_path / "conf" / "gunicorn_prod.py").write_text("workers = 3\nworker_tmp_dir = '/dev/shm'\n")
    cfg = load_config(["-c", "python:conf.gunicorn_prod", "pidapp:app"], environ={}, config_default_dir=str(tmp_path))
    assert cfg.workers == 3 and cfg.config == str(tmp_path / "conf" / "gunicorn_prod.py")
    with pytest.raises(ConfigError, match="not found"):
        load_config(["-c", "python:conf.missing", "pidapp:app"], environ={}, config_default_dir=str(tmp_path))


def test_gunicorn_defaults_written_out_in_a_config_file_load(tmp_path):
    # a config that states gunicorn's defaults (generated, or copied from its docs) loads: nothing is refused
    (tmp_path / "g.conf.py").write_text(
        "asgi_disconnect_grace_period = 3\ndirty_threads = 1\ndirty_timeout = 300\ndirty_workers = 0\n"
        "websocket_max_message_size = 16777216\nroot_path = ''\nhttp_protocols = 'h1'\nprotocol = 'http'\n"
        "header_map = 'drop'\nasgi_loop = 'auto'\n")
    cfg = load_config(["-c", "g.conf.py", "pidapp:app"], environ={}, config_default_dir=str(tmp_path))
    assert cfg.dirty_timeout == 300 and cfg.http_protocols == "h1"


def test_h2_and_h1_serves_http_1_1_as_before(app_dir):
    # (HTTP/2 itself: tests/test_http2.py)
    master = Master(["--http-protocols", "h2,h1", "pidapp:app"], app_dir)
    assert get(master.port, "/")[0] == 200
    assert "Setting http_protocols" not in master.log()        # not inert any more
    assert master.stop() == 0


def test_inert_settings_in_a_config_file_say_so_once(app_dir):
    port = free_port()
    (app_dir / "g.conf.py").write_text(
        f"bind = '127.0.0.1:{port}'\nsuppress_ragged_eofs = False\nstrip_header_spaces = True\n"
        "worker_tmp_dir = '/dev/shm'\nworkers = 1\n")
    master = Master(["-c", "g.conf.py", "pidapp:app"], app_dir, bind=None)
    log = master.log()
    for name in ("suppress_ragged_eofs", "strip_header_spaces", "worker_tmp_dir"):
        assert log.count(f"Setting {name}: ") == 1, name
    assert master.stop() == 0
