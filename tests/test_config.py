"""Settings: every setting from the command line, a config file and FASTWSGI_CMD_ARGS, with their precedence."""
import shlex

import pytest

from fastwsgi import heartbeat
from fastwsgi.config import ENV_ARGS, load_config
from fastwsgi.errors import ConfigError
from fastwsgi.settings import BY_NAME, SETTINGS
from tests.support.master import run_cli, write_app

# Three distinct valid values per setting: (command-line text, converted value). The config file gets the converted
# value as Python. A setting missing here fails test_every_setting_has_samples.
SAMPLES = {
    "bind": [("127.0.0.1:9001", ["127.0.0.1:9001"]), ("[::1]:9002", ["[::1]:9002"]),
             ("unix:/tmp/f.sock", ["unix:/tmp/f.sock"])],
    "backlog": [("11", 11), ("22", 22), ("33", 33)],
    "workers": [("2", 2), ("3", 3), ("4", 4)],
    "worker_connections": [("10", 10), ("20", 20), ("30", 30)],
    "max_requests": [("100", 100), ("200", 200), ("0", 0)],
    "max_requests_jitter": [("1", 1), ("2", 2), ("3", 3)],
    "timeout": [("10", 10.0), ("20.5", 20.5), ("0", 0.0)],
    "graceful_timeout": [("1", 1.0), ("2", 2.0), ("3", 3.0)],
    "keepalive": [("0", 0.0), ("5", 5.0), ("7.5", 7.5)],
    "header_timeout": [("1", 1.0), ("2", 2.0), ("3.5", 3.5)],
    "body_timeout": [("4", 4.0), ("5", 5.0), ("6", 6.0)],
    "send_timeout": [("7", 7.0), ("8", 8.0), ("9", 9.0)],
    "limit_request_line": [("0", 0), ("1024", 1024), ("2048", 2048)],
    "limit_request_fields": [("10", 10), ("20", 20), ("30", 30)],
    "limit_request_field_size": [("100", 100), ("200", 200), ("300", 300)],
    "limit_request_body": [("1000", 1000), ("2000", 2000), ("0", 0)],
    "body_buffer_size": [("65536", 65536), ("0", 0), ("1048576", 1048576)],
    "threads": [("2", 2), ("8", 8), ("1", 1)],
    "worker_class": [("gthread", "gthread"), ("sync", "sync"), ("gunicorn.workers.gthread.ThreadWorker", "gthread")],
    "forwarded_allow_ips": [("10.0.0.1", ["10.0.0.1"]), ("*", ["*"]), ("1.2.3.4,5.6.7.8", ["1.2.3.4", "5.6.7.8"])],
    "proxy_protocol": [("v1", "v1"), ("V2", "v2"), ("auto", "auto")],
    "proxy_allow_ips": [("10.0.0.1", ["10.0.0.1"]), ("*", ["*"]), ("1.2.3.4,::1", ["1.2.3.4", "::1"])],
    "protocol": [("uwsgi", "uwsgi"), ("http", "http"), ("UWSGI", "uwsgi")],
    "certfile": [("/a.pem", "/a.pem"), ("b.pem", "b.pem"), ("/c/d.crt", "/c/d.crt")],
    "keyfile": [("/a.key", "/a.key"), ("b.key", "b.key"), ("/c/d.key", "/c/d.key")],
    "ca_certs": [("/ca.pem", "/ca.pem"), ("ca2.pem", "ca2.pem"), ("/etc/ca.crt", "/etc/ca.crt")],
    "cert_reqs": [("1", 1), ("2", 2), ("CERT_NONE", 0)],
    "ssl_version": [("TLSv1_2", "TLSv1_2"), ("TLSv1_3", "TLSv1_3"), ("5", "TLSv1_2")],
    "ciphers": [("ECDHE+AESGCM", "ECDHE+AESGCM"), ("HIGH", "HIGH"), ("DEFAULT", "DEFAULT")],
    "chdir": [("/tmp", "/tmp"), ("/", "/"), ("/usr", "/usr")],
    "pythonpath": [("/a", ["/a"]), ("/b,/c", ["/b", "/c"]), ("/d", ["/d"])],
    "raw_env": [("A=1", ["A=1"]), ("B=2", ["B=2"]), ("C=x=y", ["C=x=y"])],
    "pidfile": [("/tmp/a.pid", "/tmp/a.pid"), ("/tmp/b.pid", "/tmp/b.pid"), ("/tmp/c.pid", "/tmp/c.pid")],
    "user": [("0", 0), ("root", 0), ("65534", 65534)],
    "group": [("0", 0), ("root", 0), ("65534", 65534)],
    "umask": [("022", 0o22), ("0o077", 0o77), ("0", 0)],
    "accesslog": [("-", "-"), ("/tmp/a.log", "/tmp/a.log"), ("/tmp/b.log", "/tmp/b.log")],
    "access_log_format": [("%(h)s", "%(h)s"), ("%(r)s %(s)s", "%(r)s %(s)s"),
                          ("%({user-agent}i)s", "%({user-agent}i)s")],
    "errorlog": [("-", "-"), ("/tmp/e1.log", "/tmp/e1.log"), ("/tmp/e2.log", "/tmp/e2.log")],
    "loglevel": [("debug", "debug"), ("WARNING", "warning"), ("error", "error")],
    "logger_class": [("gunicorn.glogging.Logger", "gunicorn.glogging.Logger"),
                     ("gunicorn.instrument.statsd.Statsd", "gunicorn.instrument.statsd.Statsd"),
                     ("fastwsgi.logs.Logs", "fastwsgi.logs.Logs")],
    "logconfig": [("/a.ini", "/a.ini"), ("b.ini", "b.ini"), ("/c/d.conf", "/c/d.conf")],
    "logconfig_json": [("/a.json", "/a.json"), ("b.json", "b.json"), ("/c/d.json", "/c/d.json")],
    "syslog_addr": [("udp://localhost:514", "udp://localhost:514"), ("tcp://10.0.0.1:601", "tcp://10.0.0.1:601"),
                    ("unix:///dev/log#dgram", "unix:///dev/log#dgram")],
    "syslog_prefix": [("a", "a"), ("b", "b"), ("c.d", "c.d")],
    "syslog_facility": [("local0", "local0"), ("DAEMON", "daemon"), ("user", "user")],
    "proc_name": [("one", "one"), ("two", "two"), ("three", "three")],
    "statsd_host": [("localhost", "localhost:8125"), ("10.0.0.1:9125", "10.0.0.1:9125"),
                    ("unix:/run/s.sock", "unix:/run/s.sock")],
    "statsd_prefix": [("a", "a"), ("b.", "b."), ("c.d", "c.d")],
    "dogstatsd_tags": [("env:a", "env:a"), ("env:b,x:y", "env:b,x:y"), ("c", "c")],
    "reload_engine": [("poll", "poll"), ("inotify", "inotify"), ("AUTO", "auto")],
    "reload_extra_files": [("a.txt", ["a.txt"]), ("b.txt", ["b.txt"]), ("t/*.html", ["t/*.html"])],
    "spool_limit": [("auto", -1), ("0", 0), ("1000000", 1000000)],
    "tmp_upload_dir": [("/tmp", "/tmp"), ("/var/tmp", "/var/tmp"), ("up", "up")],
    # gunicorn's, implemented or accepted (settings_gunicorn.py)
    "paste": [("a.ini", "a.ini"), ("b.ini#admin", "b.ini#admin"), ("/c.ini", "/c.ini")],
    "raw_paste_global_conf": [("A=1", ["A=1"]), ("B=2", ["B=2"]), ("C=x=y", ["C=x=y"])],
    "forwarder_headers": [("SCRIPT_NAME", ["SCRIPT_NAME"]), ("PATH_INFO", ["PATH_INFO"]),
                          ("SCRIPT_NAME,REMOTE_USER", ["SCRIPT_NAME", "REMOTE_USER"])],
    "worker_tmp_dir": [("/dev/shm", "/dev/shm"), ("/tmp", "/tmp"), ("/run", "/run")],
    "http_parser": [("auto", "auto"), ("fast", "fast"), ("python", "python")],
    "control_socket": [("/run/a.ctl", "/run/a.ctl"), ("b.ctl", "b.ctl"), ("/c.ctl", "/c.ctl")],
    "control_socket_mode": [("0600", 0o600), ("0660", 0o660), ("0640", 0o640)],
    "uwsgi_allow_ips": [("10.0.0.1", ["10.0.0.1"]), ("*", ["*"]), ("1.2.3.4,::1", ["1.2.3.4", "::1"])],
    "http2_cleartext": [("off", "off"), ("upgrade", "upgrade"), ("both", "both")],
    "http2_max_concurrent_streams": [("10", 10), ("20", 20), ("30", 30)],
    "http2_initial_window_size": [("1000", 1000), ("2000", 2000), ("65535", 65535)],
    "http2_max_frame_size": [("16384", 16384), ("32768", 32768), ("65536", 65536)],
    "http2_max_header_list_size": [("1000", 1000), ("2000", 2000), ("3000", 3000)],
    "metrics_bind": [("127.0.0.1:9100", "127.0.0.1:9100"), ("[::1]:9101", "[::1]:9101"),
                     ("0.0.0.0:9102", "0.0.0.0:9102")],
}
FLAGS = {"reuse_port", "preload_app", "check_config", "print_config", "reload",  # store_true
         "capture_output", "syslog", "disable_redirect_access_to_syslog", "enable_stdio_inheritance",
         # gunicorn's (settings_gunicorn.py)
         "daemon", "initgroups", "spew", "suppress_ragged_eofs", "do_handshake_on_connect", "casefold_http_method",
         "strip_header_spaces", "permit_obsolete_folding", "permit_unconventional_http_method",
         "permit_unconventional_http_version", "enable_backlog_metric", "control_socket_disable"}
ON_FLAGS = {"suppress_ragged_eofs"}  # gunicorn's store_true whose default is already True (the flag changes nothing)
OFF_FLAGS = {"sendfile", "io_uring"}  # store_false: on unless the flag is given
# (a gunicorn setting refused unless at its default has one valid value: tests/test_gunicorn_dropin.py)
VALUED = [s for s in SETTINGS if s.flags and s.name not in FLAGS | OFF_FLAGS and s.name != "config" and not s.refuse]


def _cli(setting, text):
    return [setting.flags[-1], text]


def _write_conf(tmp_path, text):
    path = tmp_path / "fastwsgi.conf.py"
    path.write_text(text)
    return str(path)


def _load(tmp_path, argv=(), env_args=None):
    environ = {} if env_args is None else {ENV_ARGS: env_args}
    return load_config(list(argv), environ, config_default_dir=str(tmp_path))


def test_every_setting_has_samples():
    assert {s.name for s in VALUED} == set(SAMPLES)
    assert {s.name for s in SETTINGS if s.action == "store_true"} == FLAGS
    assert {s.name for s in SETTINGS if s.action == "store_false"} == OFF_FLAGS


@pytest.mark.parametrize("setting", VALUED, ids=lambda s: s.name)
def test_setting_from_each_source_and_precedence(tmp_path, setting):
    (file_text, file_value), (env_text, env_value), (cli_text, cli_value) = SAMPLES[setting.name]
    default = _load(tmp_path)
    assert default.sources[setting.name] == "default"

    _write_conf(tmp_path, f"{setting.name} = {file_value!r}\n")
    cfg = _load(tmp_path)
    assert getattr(cfg, setting.name) == file_value
    assert cfg.sources[setting.name] == "config file"

    cfg = _load(tmp_path, env_args=shlex.join(_cli(setting, env_text)))
    assert getattr(cfg, setting.name) == env_value, "env beats the config file"
    assert cfg.sources[setting.name] == "env"

    cfg = _load(tmp_path, _cli(setting, cli_text), env_args=shlex.join(_cli(setting, env_text)))
    assert getattr(cfg, setting.name) == cli_value, "command line beats env and config file"
    assert cfg.sources[setting.name] == "command line"

    (tmp_path / "fastwsgi.conf.py").unlink()
    assert getattr(_load(tmp_path, env_args=shlex.join(_cli(setting, env_text))), setting.name) == env_value
    assert getattr(_load(tmp_path, _cli(setting, cli_text)), setting.name) == cli_value
    for flag in setting.flags:  # every spelling works
        assert getattr(_load(tmp_path, [flag, cli_text]), setting.name) == cli_value


@pytest.mark.parametrize("name", sorted(FLAGS - {"check_config", "print_config"}) + ["check_config", "print_config"]
                         + sorted(OFF_FLAGS))
def test_boolean_setting_from_each_source(tmp_path, name):
    setting = BY_NAME[name]
    given = name not in OFF_FLAGS             # what the flag sets: --reuse-port on, --no-sendfile off
    assert getattr(_load(tmp_path), name) is not given or name in ON_FLAGS
    assert getattr(_load(tmp_path, [setting.flags[0]]), name) is given
    assert getattr(_load(tmp_path, env_args=setting.flags[0]), name) is given
    _write_conf(tmp_path, f"{name} = {given}\n")
    assert getattr(_load(tmp_path), name) is given
    assert _load(tmp_path).sources[name] == "config file"


def test_repeatable_flags_collect_and_replace_lower_layers(tmp_path):
    _write_conf(tmp_path, "bind = ['127.0.0.1:1', '127.0.0.1:2']\nraw_env = ['A=1']\n")
    cfg = _load(tmp_path, ["-b", "127.0.0.1:3", "--bind", "unix:/tmp/s", "-e", "B=2", "--env", "C=3"])
    assert cfg.bind == ["127.0.0.1:3", "unix:/tmp/s"]
    assert cfg.env == {"B": "2", "C": "3"}
    assert _load(tmp_path).bind == ["127.0.0.1:1", "127.0.0.1:2"]


def test_config_file_by_flag_env_and_default_name(tmp_path):
    (tmp_path / "other.py").write_text("workers = 7\n")
    _write_conf(tmp_path, "workers = 5\n")
    assert _load(tmp_path).workers == 5
    assert _load(tmp_path, ["-c", "other.py"]).workers == 7
    assert _load(tmp_path, env_args="--config other.py").workers == 7
    assert _load(tmp_path, ["-c", str(tmp_path / "other.py")]).config == str(tmp_path / "other.py")


def test_config_file_app_and_hooks(tmp_path):
    _write_conf(tmp_path, "wsgi_app = 'pkg.mod:app'\ndef on_starting(server):\n    pass\nhelper = 3\n")
    cfg = _load(tmp_path)
    assert cfg.app_uri == "pkg.mod:app"
    assert cfg.on_starting.__name__ == "on_starting"
    assert cfg.sources["on_starting"] == "config file"
    assert _load(tmp_path, ["other:app"]).app_uri == "other:app"
    assert _load(tmp_path, env_args="envapp:app").app_uri == "envapp:app"


def test_env_dependent_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert _load(tmp_path).bind == ["127.0.0.1:8000"]
    assert _load(tmp_path).workers == 1
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert _load(tmp_path).bind == ["0.0.0.0:5000"]
    assert _load(tmp_path).workers == 3
    assert _load(tmp_path, ["-w", "2"]).workers == 2


@pytest.mark.parametrize("argv, env_args, conf, message", [
    (["-w", "abc"], None, None, "argument -w/--workers: invalid value 'abc': expected a positive integer"),
    (["-w", "0"], None, None, "expected a positive integer"),
    (["--timeout", "-1"], None, None, "expected a number >= 0"),
    (["-b", "1::2:80"], None, None, "IPv6 addresses need brackets"),
    (["-b", "host:http"], None, None, "bad port"),
    (["--log-level", "loud"], None, None, "expected one of debug, info"),
    (["--umask", "999"], None, None, "expected an octal mask"),
    (["-e", "NOEQUALS"], None, None, "expected KEY=VALUE"),
    (["--user", "no-such-user-xyz"], None, None, "no such user"),
    (["--no-such-flag"], None, None, "unrecognized arguments: --no-such-flag"),
    ([], "--keep-alive never", None, "FASTWSGI_CMD_ARGS: argument --keep-alive: invalid value 'never'"),
    ([], "'unterminated", None, "FASTWSGI_CMD_ARGS: No closing quotation"),
    ([], None, "workers = 'many'\n", "fastwsgi.conf.py: workers: invalid value 'many'"),
    ([], None, "preload_app = 'perhaps'\n", "expected a boolean"),
    ([], None, "def on_starting():\n    pass\n", "on_starting: invalid value"),
    ([], None, "workers = (\n", "line 1: syntax error"),
    ([], None, "import no_such_module_here\n", "ModuleNotFoundError"),
])
def test_bad_values_are_one_line_config_errors(tmp_path, argv, env_args, conf, message):
    if conf is not None:
        _write_conf(tmp_path, conf)
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, argv, env_args)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_bad_value_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    write_app(tmp_path)
    result = run_cli(["-w", "abc", "pidapp:app"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == "fastwsgi: error: argument -w/--workers: invalid value 'abc': expected a positive integer\n"
    assert result.stdout == ""


def test_bad_value_from_env_and_config_file_exit_2(tmp_path):
    write_app(tmp_path)
    result = run_cli(["pidapp:app"], tmp_path, env={ENV_ARGS: "--backlog x"})
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "FASTWSGI_CMD_ARGS: argument --backlog: invalid value 'x'" in result.stderr
    _write_conf(tmp_path, "timeout = 'soon'\n")
    result = run_cli(["pidapp:app"], tmp_path)
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "timeout: invalid value 'soon'" in result.stderr


def test_print_config_shows_precedence_result(tmp_path):
    _write_conf(tmp_path, "workers = 3\nkeepalive = 9\nbacklog = 5\n")
    result = run_cli(["--print-config", "--keep-alive", "4", "pidapp:app"], tmp_path, env={ENV_ARGS: "-w 6"})
    assert result.returncode == 0, result.stderr
    values = {k.strip(): v for k, v in (line.split(" = ", 1) for line in result.stdout.splitlines())}
    expected = {"workers": "6", "keepalive": "4.0", "backlog": "5", "app_uri": "'pidapp:app'"}
    assert expected.items() <= values.items()


def test_settings_reach_the_loop(tmp_path):
    from fastwsgi.logs import Logs
    from fastwsgi.worker import Worker

    cfg = _load(tmp_path, ["-w", "3", "--keep-alive", "7", "--max-requests", "50", "--worker-connections", "9",
                           "--header-timeout", "4", "--body-timeout", "5", "--send-timeout", "6",
                           "--limit-request-line", "111", "--limit-request-fields", "12",
                           "--limit-request-field-size", "333", "--limit-request-body", "444",
                           "--body-buffer-size", "555", "--forwarded-allow-ips", "", "--no-sendfile",
                           "--no-io-uring", "--proxy-protocol", "v2", "--proxy-allow-from", "10.0.0.1,10.0.0.2",
                           "--threads", "4",
                           "--protocol", "uwsgi", "--uwsgi-allow-from", "10.0.0.3"])
    worker = Worker(1, 0, [], None, cfg, Logs("-", "info", None, cfg.access_log_format))
    options = worker.loop_options()
    assert {k: v for k, v in options.items() if k not in ("on_tick", "on_stop", "logger", "stats")} == dict(
        keepalive=7.0, header_timeout=4.0, body_timeout=5.0, send_timeout=6.0, max_requests=50, worker_connections=9,
        limit_request_line=111, limit_request_fields=12, limit_request_field_size=333, limit_request_body=444,
        body_buffer_size=555, threads=4, multiprocess=True, forwarded_allow_ips=None, sendfile=False,
        io_uring=False, proxy_protocol="v2", proxy_allow_ips=["10.0.0.1", "10.0.0.2"], ssl_context=None, spool_limit=-1,
        tmp_upload_dir=None, http_protocols="h1", http2_cleartext="off", http2_max_concurrent_streams=100,
        http2_initial_window_size=65535, http2_max_frame_size=16384, http2_max_header_list_size=65536,
        protocol="uwsgi", uwsgi_allow_ips=["10.0.0.3"])
    assert options["on_tick"] == worker.tick
    assert options["stats"].nbytes == len(heartbeat.STATS_FIELDS) * 8     # the loop's figures: the heartbeat page
    jittered = Worker(1, 0, [], None, _load(tmp_path, ["--max-requests", "50", "--max-requests-jitter", "10"]),
                      Logs("-", "info", None, cfg.access_log_format))
    assert 50 <= jittered.max_requests <= 60
    assert jittered.loop_options()["forwarded_allow_ips"] == ["127.0.0.1", "::1"]  # checked in the core
    assert jittered.loop_options()["proxy_protocol"] == "off"
    assert "pre_request" not in jittered.loop_options()  # no hook: no per-request Python call
    assert "post_request" not in jittered.loop_options()  # no access log, no hook: no per-request callback
