"""The server's log files keep their lines whatever the application does to `logging` at import (dictConfig,
fileConfig, disable_existing_loggers, closing or removing the root handlers, logging.shutdown, logging.disable), inline,
with --threads 4 and with --preload; USR1 reopens them; a Django project's 500 tracebacks reach the error file.
On the wire: real masters, requests, then the files read."""
from __future__ import annotations

import os
import signal
import sys

import pytest

from tests.support.master import Master, alive, free_port, get, wait_for, write_app

APP_BODY = '''
import logging

def application(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom from the app")
    logging.getLogger("shop.views").error("an app error line")  # no handler anywhere: the error file takes it
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
'''

INI = '''\
[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = plain
[logger_root]
level = INFO
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = plain
[formatter_plain]
format = %(message)s
'''

# what apps do to logging at import, each alone; "everything" does them all in a row
SETUPS = {
    "dictconfig-keep": 'logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})\n',
    "dictconfig-default": 'logging.config.dictConfig({"version": 1, "root": {"level": "INFO"}})\n',
    "fileconfig": f'open("app.ini", "w").write({INI!r})\nlogging.config.fileConfig("app.ini")\n',
    "root-handlers-closed": ('for h in logging.root.handlers[:] + [r() for r in logging._handlerList]:\n'
                             '    if h is not None:\n        h.close()\n        logging.root.removeHandler(h)\n'
                             'logging.shutdown()\n'),
    "logging-disable": 'logging.disable(logging.CRITICAL)\nlogging.getLogger("fastwsgi.error").disabled = True\n',
}
# where the app's own error line goes: the error file, unless the app gave the root logger a handler (fileConfig:
# stderr, here the master's log) or switched its loggers off
APP_LINE = {"fileconfig": "stderr", "logging-disable": None}
SETUPS["everything"] = "".join(SETUPS[name] for name in ("dictconfig-default", "fileconfig", "root-handlers-closed",
                                                          "dictconfig-keep"))


def hostile_app(directory, setup: str, name: str = "hostile") -> None:
    write_app(directory, name, "import logging, logging.config\n" + setup + APP_BODY)


def start(directory, args: list, wait: bool = True) -> Master:
    """A master whose logs go to files (so not to master.log): wait for it to answer instead of its log line."""
    port = free_port()
    master = Master(args, directory, bind=f"127.0.0.1:{port}", wait=False)
    master.port = port
    if wait:
        def answers():
            try:
                return get(port, "/ready", timeout=2.0)[0] == 200
            except OSError:
                return False
        try:
            wait_for(answers, 20, interval=0.1, what="the server to answer")
        except BaseException as exc:
            master.stop()
            raise AssertionError(f"{exc}; its output:\n{master.log()}") from None
    return master


def read(path) -> str:
    return path.read_text() if path.exists() else ""


def served_and_logged(directory, master: Master, access, error, app_line: str | None = "error") -> None:
    """Request / and /boom; one access line each, the traceback in the error file; the app's error line where
    `app_line` says."""
    assert get(master.port, "/")[0] == 200
    assert get(master.port, "/boom")[0] == 500
    wait_for(lambda: '"GET /boom HTTP/1.1" 500' in read(access), 10, what=f"access lines in {access}")
    wait_for(lambda: "RuntimeError: boom from the app" in read(error), 10, what="the traceback in the error file")
    code = master.stop()
    assert code == 0, master.log()
    lines = read(access).splitlines()
    assert sum('"GET / HTTP/1.1" 200' in line for line in lines) == 1, lines
    assert sum('"GET /boom HTTP/1.1" 500' in line for line in lines) == 1, lines
    text = read(error)
    assert "Booting worker with pid" in text and "Worker exiting" in text and "Shutting down" in text, text
    assert "Traceback (most recent call last)" in text
    assert ("[ERROR] shop.views: an app error line" in text) == (app_line == "error"), text
    assert ("an app error line" in master.log()) == (app_line == "stderr"), master.log()
    assert "--- Logging error ---" not in text + master.log()


MODES = {"inline": [], "threads": ["--threads", "4"], "preload": ["--preload"]}


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_log_files_survive_the_apps_logging_setup(tmp_path, setup):
    hostile_app(tmp_path, SETUPS[setup])
    access, error = tmp_path / "acc.log", tmp_path / "err.log"
    master = start(tmp_path, ["--access-logfile", str(access), "--error-logfile", str(error), "hostile:application"])
    served_and_logged(tmp_path, master, access, error, APP_LINE.get(setup, "error"))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_log_files_survive_in_every_mode(tmp_path, mode):
    hostile_app(tmp_path, SETUPS["everything"])
    access, error = tmp_path / "acc.log", tmp_path / "err.log"
    master = start(tmp_path, [*MODES[mode], "--access-logfile", str(access), "--error-logfile", str(error),
                              "hostile:application"])
    served_and_logged(tmp_path, master, access, error)


def test_usr1_reopens_the_files_after_the_app_closed_every_handler(tmp_path):
    hostile_app(tmp_path, SETUPS["everything"])
    access, error = tmp_path / "acc.log", tmp_path / "err.log"
    master = start(tmp_path, ["--threads", "4", "--access-logfile", str(access), "--error-logfile", str(error),
                              "hostile:application"])
    wait_for(lambda: "GET /ready" in read(access), 10, what="the first access line")
    os.rename(access, tmp_path / "acc.log.1")
    os.rename(error, tmp_path / "err.log.1")
    master.signal(signal.SIGUSR1)

    def in_new_files():
        get(master.port, "/boom")
        return "GET /boom" in read(access) and "boom from the app" in read(error)

    wait_for(in_new_files, 10, interval=0.3, what="lines in the reopened files")
    assert "Handling signal: usr1" in read(tmp_path / "err.log.1")
    assert master.stop() == 0
    assert "Worker exiting" in read(error)


# ------------------------------------------------------------------------------------------------------------ Django

DJANGO_PROJECT = '''\
import logging
from django.http import HttpResponse
from django.urls import path

SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "djproject"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True


def index(request):
    return HttpResponse("ok")


def boom(request):
    raise RuntimeError("boom from the app")


def ready(request):
    return HttpResponse("ready")


def warn(request):
    logging.getLogger("shop.views").error("an app error line")
    return HttpResponse("ok")


urlpatterns = [path("", warn), path("boom", boom), path("ready", ready)]
'''
DJANGO_WSGI = '''\
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djproject")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
'''


@pytest.mark.parametrize("mode", sorted(MODES))
def test_django_project_logs_to_the_files(tmp_path, mode):
    try:
        import django  # noqa: F401
    except ImportError:  # the test extras install it: say so in the summary instead of passing quietly
        pytest.skip(f"Django is not importable in {sys.executable}: pip install -e '.[test]'")
    write_app(tmp_path, "djproject", DJANGO_PROJECT)
    write_app(tmp_path, "djwsgi", DJANGO_WSGI)
    access, error = tmp_path / "acc.log", tmp_path / "err.log"
    master = start(tmp_path, [*MODES[mode], "--access-logfile", str(access), "--error-logfile", str(error),
                              "djwsgi"])
    served_and_logged(tmp_path, master, access, error)
    assert "django.request: Internal Server Error: /boom" in read(error)


def test_hup_moves_the_access_log_and_keeps_the_error_log(tmp_path):
    hostile_app(tmp_path, SETUPS["everything"])
    (tmp_path / "conf.py").write_text('accesslog = "a1.log"\nerrorlog = "err.log"\n')
    master = start(tmp_path, ["-c", "conf.py", "hostile:application"])
    first = master.workers()
    (tmp_path / "conf.py").write_text('accesslog = "a2.log"\nerrorlog = "err.log"\n')
    master.signal(signal.SIGHUP)
    master.wait_workers(1, exclude=first, timeout=15)
    wait_for(lambda: not any(alive(pid) for pid in first), 15, what="the old worker to retire")

    def in_a2():
        get(master.port, "/after-hup")
        return "GET /after-hup" in read(tmp_path / "a2.log")

    wait_for(in_a2, 15, interval=0.3, what="access lines in the new file")
    assert master.stop() == 0
    assert "GET /after-hup" not in read(tmp_path / "a1.log") and "GET /ready" in read(tmp_path / "a1.log")
    text = read(tmp_path / "err.log")
    assert "Hang up: Master" in text and text.count("Booting worker") >= 2 and "Shutting down" in text


FLASK_STYLE = '''\
import logging, logging.config
logging.config.dictConfig({"version": 1})
# the recipe of Flask apps served by gunicorn: the app's logger writes through gunicorn's error handlers
server_log = logging.getLogger("gunicorn.error")
app_log = logging.getLogger("shop")
app_log.handlers = server_log.handlers
app_log.setLevel(server_log.level)

def application(environ, start_response):
    app_log.info("served %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
'''


def test_apps_that_log_through_gunicorns_error_logger(tmp_path):
    write_app(tmp_path, "flaskish", FLASK_STYLE)
    error = tmp_path / "err.log"
    master = start(tmp_path, ["--threads", "4", "--error-logfile", str(error), "flaskish:application"])
    get(master.port, "/orders")
    wait_for(lambda: "[INFO] served /orders" in read(error), 10, what="the app's line in the error file")
    assert master.stop() == 0
