"""gunicorn's logging settings on the wire: --log-config (ini), logconfig_dict, --log-config-json, --capture-output,
--log-syslog* to a UDP socket of the test's, bad values refused in one line; and the pieces without servers (syslog
addresses, the loggers and handlers the app cannot switch off, gunicorn's access atoms)."""
from __future__ import annotations

import json
import logging
import logging.config
import os
import signal
import socket
import time

import pytest

from fastwsgi.errors import ConfigError
from fastwsgi.logconfig import logger_class, parse_syslog_address, syslog_facility
from fastwsgi.logs import ACCESS_LOGGER, ERROR_LOGGER, AccessFormatter, Logs
from tests.support.master import get, run_cli, wait_for, write_app
from tests.test_logging_survives import read, start

APP = '''\
import logging, sys
print("printed at import")

def application(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom from the app")
    if environ["PATH_INFO"] == "/print":
        print("printed by a request")
        sys.stderr.write("written to stderr by a request\\n")
    start_response("200 OK", [("Content-Length", "2"), ("X-Shop", "s1")])
    return [b"ok"]
'''

ARGS_FORMATTER = '''\
import logging

class AtomsFormatter(logging.Formatter):
    """Reads gunicorn's access atoms from record.args, as structured-logging recipes for gunicorn do."""

    def format(self, record):
        if record.name.endswith("access") and isinstance(record.args, dict):
            a = record.args
            return f"ATOMS s={a['s']} m={a['m']} U={a['U']} ua={a['{user-agent}i']} out={a['{x-shop}o']} B={a['B']}"
        return "OTHER " + super().format(record)
'''

INI = '''\
[loggers]
keys = root, server, access

[handlers]
keys = file

[formatters]
keys = tagged

[logger_root]
level = WARNING
handlers =

[logger_server]
qualname = gunicorn.error
level = INFO
handlers = file
propagate = 0

[logger_access]
qualname = gunicorn.access
level = INFO
handlers = file
propagate = 0

[handler_file]
class = FileHandler
args = ('%(here)s/configured.log', 'a')
formatter = tagged

[formatter_tagged]
format = INI %(name)s %(levelname)s %(message)s
'''

DICT = {  # a "handlers" key replaces gunicorn's, so root (which names gunicorn's "console") is given too, as there
    "root": {"level": "WARNING", "handlers": []},
    "formatters": {"atoms": {"()": "atomsfmt.AtomsFormatter"}},
    "handlers": {"file": {"class": "logging.FileHandler", "filename": "configured.log", "formatter": "atoms"}},
    "loggers": {"gunicorn.error": {"handlers": ["file"], "level": "INFO", "propagate": False},
                "gunicorn.access": {"handlers": ["file"], "level": "INFO", "propagate": False}},
}


def _serve_and_stop(tmp_path, args: list) -> str:
    """Serve a few requests; the configured file is renamed to configured.log.1 and reopened by USR1 on the way."""
    master = start(tmp_path, args)
    configured = tmp_path / "configured.log"
    wait_for(lambda: "GET /ready" in read(configured) or "U=/ready" in read(configured), 10, what="a first line")
    os.rename(configured, tmp_path / "configured.log.1")
    master.signal(signal.SIGUSR1)

    def reopened():
        get(master.port, "/after-usr1")
        return "after-usr1" in read(configured)  # written by the worker: it reopened too

    wait_for(reopened, 10, interval=0.3, what="the configured file reopened")
    assert get(master.port, "/", headers={"User-Agent": "ua/7"})[0] == 200
    assert get(master.port, "/boom")[0] == 500
    wait_for(lambda: "boom from the app" in read(configured), 10, what="the traceback in the configured file")
    assert master.stop() == 0
    return read(tmp_path / "configured.log.1") + read(configured)


def test_log_config_ini_routes_the_server_loggers(tmp_path):
    write_app(tmp_path, "app", APP)
    (tmp_path / "logging.ini").write_text(INI)
    text = _serve_and_stop(tmp_path, ["--log-config", "logging.ini", "--threads", "4", "app"])
    assert "GET /ready" in read(tmp_path / "configured.log.1")  # USR1 reopened the file, as gunicorn does
    assert "GET /ready" not in read(tmp_path / "configured.log")
    assert "INI fastwsgi.error INFO Booting worker with pid" in text
    assert "INI fastwsgi.error ERROR Error handling request /boom" in text
    assert 'INI fastwsgi.access INFO 127.0.0.1 - - [' in text and '"GET / HTTP/1.1" 200 2 "-" "ua/7"' in text
    assert "INI fastwsgi.error INFO Shutting down" in text


@pytest.mark.parametrize("source", ["logconfig_dict", "log-config-json"])
def test_dict_configs_with_a_formatter_reading_gunicorns_atoms(tmp_path, source):
    write_app(tmp_path, "app", APP)
    write_app(tmp_path, "atomsfmt", ARGS_FORMATTER)
    if source == "logconfig_dict":
        (tmp_path / "conf.py").write_text(f"logconfig_dict = {DICT!r}\n")
        args = ["-c", "conf.py", "app"]
    else:
        (tmp_path / "logging.json").write_text(json.dumps(DICT))
        args = ["--log-config-json", "logging.json", "--preload", "app"]
    text = _serve_and_stop(tmp_path, args)
    assert "ATOMS s=200 m=GET U=/ ua=ua/7 out=s1 B=2" in text, text
    assert "ATOMS s=500 m=GET U=/boom" in text
    assert "OTHER Booting worker with pid" in text and "OTHER Shutting down" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--log-config", "missing.ini"], "--log-config missing.ini: log config not found"),
    (["--log-config-json", "missing.json"], "--log-config-json missing.json: No such file or directory"),
    (["--log-config-json", "bad.json"], "--log-config-json bad.json: Expecting property name"),
    (["-c", "conf.py"], "logconfig_dict: Unable to configure handler 'x'"),
    (["--logger-class", "myapp.JsonLogger"], "logger class 'myapp.JsonLogger' is not supported"),
    (["--log-syslog-facility", "local9"], "invalid value 'local9': expected a syslog facility"),
    (["--log-syslog-to", "localhost:514"], "expected unix://PATH"),
])
def test_bad_logging_settings_are_one_line_and_exit_2(tmp_path, args, message):
    write_app(tmp_path, "app", APP)
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "conf.py").write_text("logconfig_dict = {'handlers': {'x': {'class': 'no.such.Handler'}}}\n")
    result = run_cli(["-b", "127.0.0.1:0", *args, "app"], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("fastwsgi: error: ") and message in lines[-1], result.stderr
    assert len([line for line in lines if "Traceback" in line]) == 0, result.stderr


def test_capture_output_sends_prints_to_the_error_file(tmp_path):
    write_app(tmp_path, "app", APP)
    error = tmp_path / "err.log"
    master = start(tmp_path, ["--capture-output", "--error-logfile", str(error), "app"])
    assert get(master.port, "/print")[0] == 200
    wait_for(lambda: "written to stderr by a request" in read(error), 10, what="the app's output in the error file")
    text = read(error)
    assert "printed at import" in text and "printed by a request" in text
    os.rename(error, tmp_path / "err.log.1")
    master.signal(signal.SIGUSR1)

    def reopened():
        get(master.port, "/print")
        return "printed by a request" in read(error)

    wait_for(reopened, 10, interval=0.3, what="output in the reopened error file")
    assert master.stop() == 0
    assert "printed" not in master.log()


def test_output_is_not_captured_without_the_flag(tmp_path):
    write_app(tmp_path, "app", APP)
    error = tmp_path / "err.log"
    master = start(tmp_path, ["--error-logfile", str(error), "app"])
    assert get(master.port, "/print")[0] == 200
    wait_for(lambda: "printed by a request" in master.log(), 10, what="the print on the master's stdout")
    assert master.stop() == 0
    assert "printed" not in read(error)


def _datagrams_until(sock, pattern: str, timeout: float = 15.0) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while not any(pattern in line for line in out):
        assert time.monotonic() < deadline, f"no {pattern!r} from syslog in {timeout}s: {out}"
        try:
            out.append(sock.recv(65536).decode())
        except socket.timeout:
            pass
    return out


@pytest.fixture
def syslog_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def test_syslog_receives_error_and_access_lines(tmp_path, syslog_socket):
    write_app(tmp_path, "app", APP)
    port = syslog_socket.getsockname()[1]
    master = start(tmp_path, ["--log-syslog", "--log-syslog-to", f"udp://127.0.0.1:{port}",
                              "--log-syslog-prefix", "shop", "--log-syslog-facility", "local3",
                              "--access-logfile", str(tmp_path / "acc.log"), "app:application"])
    get(master.port, "/")
    lines = _datagrams_until(syslog_socket, '"GET / HTTP/1.1" 200')
    booting = [line for line in lines if "Booting worker" in line][0]
    assert booting.startswith("<158>gunicorn.shop.error: [")  # local3 (19) * 8 + info (6)
    access = [line for line in lines if '"GET / HTTP/1.1"' in line][0]
    assert access.startswith("<158>gunicorn.shop.access: [") and '"GET / HTTP/1.1" 200 2 "-"' in access
    wait_for(lambda: '"GET / HTTP/1.1" 200' in read(tmp_path / "acc.log"), 10, what="the line in the file too")
    master.stop()


def test_syslog_without_the_access_log(tmp_path, syslog_socket):
    write_app(tmp_path, "app", APP)
    port = syslog_socket.getsockname()[1]
    master = start(tmp_path, ["--log-syslog", "--log-syslog-to", f"udp://127.0.0.1:{port}",
                              "--disable-redirect-access-to-syslog", "app:application"])
    get(master.port, "/boom")
    lines = _datagrams_until(syslog_socket, "RuntimeError: boom from the app")
    master.stop()
    lines += _datagrams_until(syslog_socket, "Shutting down")
    assert any(line.startswith("<11>gunicorn.app.application.error: [") for line in lines), lines  # user, error
    assert not any(".access:" in line for line in lines), lines


# --------------------------------------------------------------------------------------------- without servers

def test_syslog_addresses_as_gunicorn_reads_them():
    assert parse_syslog_address("udp://localhost:514") == (socket.SOCK_DGRAM, ("localhost", 514))
    assert parse_syslog_address("tcp://LogHost") == (socket.SOCK_STREAM, ("loghost", 514))
    assert parse_syslog_address("udp://[::1]:1514") == (socket.SOCK_DGRAM, ("::1", 1514))
    assert parse_syslog_address("udp://") == (socket.SOCK_DGRAM, ("localhost", 514))
    assert parse_syslog_address("unix:///dev/log") == (None, "/dev/log")
    assert parse_syslog_address("unix:///dev/log#dgram") == (socket.SOCK_DGRAM, "/dev/log")
    for bad in ("localhost:514", "udp://host:http", "unix://", "unix:///dev/log#raw", "http://x"):
        with pytest.raises(ValueError):
            parse_syslog_address(bad)


def test_facilities_and_logger_classes():
    assert syslog_facility("LOCAL7") == "local7"
    with pytest.raises(ValueError):
        syslog_facility("local8")
    assert logger_class("gunicorn.glogging.Logger") == "gunicorn.glogging.Logger"
    assert logger_class(Logs) == "fastwsgi.logs.Logs"
    with pytest.raises(ValueError, match="not supported"):
        logger_class("myapp.logging.CustomLogger")


@pytest.fixture
def logs(tmp_path):
    """Logs built in this process; afterwards the process's logging is put back as it was."""
    manager = logging.Logger.manager
    disabled = {name: lg.disabled for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_handlers = logging.root.handlers[:]
    made = []

    def make(**kw):
        made.append(Logs(str(tmp_path / "err.log"), "info", str(tmp_path / "acc.log"), "%(s)s %(U)s", **kw))
        return made[-1]

    yield make
    for item in made:
        item.close()
    logging.disable(logging.NOTSET)
    for name, value in disabled.items():
        manager.loggerDict[name].disabled = value
    logging.root.handlers[:] = root_handlers
    Logs("-", "info", None, "%(h)s")  # the server loggers as the other tests expect them


def test_the_app_cannot_switch_the_server_loggers_off(tmp_path, logs):
    server = logs()
    logging.config.dictConfig({"version": 1})                       # disable_existing_loggers: True
    logging.config.dictConfig({"version": 1, "incremental": False, "root": {"handlers": []}})
    logging.disable(logging.CRITICAL)
    logging.shutdown()                                              # closes every handler there is
    for name in (ERROR_LOGGER, "gunicorn.error"):
        logging.getLogger(name).disabled = True
    server.error.info("still written")
    server.log_access({"PATH_INFO": "/x"}, "204 No Content", [], 0, 0.001)
    server.flush()
    assert "[INFO] still written" in read(tmp_path / "err.log")
    assert read(tmp_path / "acc.log") == "204 /x\n"
    assert logging.getLogger("gunicorn.error") is server.error
    assert logging.getLogger("gunicorn.access") is logging.getLogger(ACCESS_LOGGER)


def test_gunicorn_atoms_for_configured_formatters():
    formatter = AccessFormatter("%(h)s %({x-a}i)s")
    environ = {"REMOTE_ADDR": "10.0.0.9", "REQUEST_METHOD": "POST", "RAW_URI": "/p?q=1", "PATH_INFO": "/p",
               "QUERY_STRING": "q=1", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_X_A": "va", "wsgi.url_scheme": "http",
               "HTTP_USER_AGENT": 'say "hi"'}
    atoms = formatter.atoms(environ, "201 Created", [("X-Out", "vo")], 12, 1.5)
    assert (atoms["h"], atoms["r"], atoms["s"], atoms["B"], atoms["b"], atoms["T"], atoms["M"]) == (
        "10.0.0.9", "POST /p?q=1 HTTP/1.1", "201", 12, "12", 1, 1500)
    assert (atoms["{x-a}i"], atoms["{x-out}o"], atoms["{wsgi.url_scheme}e"], atoms["{REQUEST_METHOD}e"]) == (
        "va", "vo", "http", "POST")
    assert atoms["{missing}i"] == "-" and atoms["nope"] == "-"
    assert atoms["a"] == atoms["{user-agent}i"] == 'say \\"hi\\"'  # as gunicorn's SafeAtoms
    assert formatter.fmt % atoms == "10.0.0.9 va"


def test_a_missing_log_config_is_a_config_error(tmp_path):
    class Cfg:
        capture_output = syslog = False
        logconfig_dict = logconfig_json = None
        logconfig = str(tmp_path / "none.ini")

    with pytest.raises(ConfigError, match="log config not found"):
        Logs("-", "info", None, "%(h)s", Cfg())
