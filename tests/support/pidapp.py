"""The app the master and CLI tests serve: write_app() copies this file into a test's tmp_path as pidapp.py, and
`python -m fastwsgi pidapp:application` runs it from there (its answers name the worker that served them)."""
import os
import time

# tells the tests this process has imported the app (see Master.wait_imported)
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"imported.{os.getpid()}"), "w").close()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path.startswith("/sleep/"):
        time.sleep(float(path.split("/")[2]))
    if path == "/env":
        body = os.environ.get(environ.get("QUERY_STRING", ""), "-").encode()
    elif path == "/scheme":
        body = environ["wsgi.url_scheme"].encode()
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                              ("X-Pid", str(os.getpid()))])
    return [body]


app = application


def create_app(greeting, times=1):
    def factory_app(environ, start_response):
        body = (greeting * times).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    return factory_app


not_callable = 42


def paste_factory(global_config, **settings):
    """A PasteDeploy app factory (`use = call:pidapp:paste_factory`): answers its ini's greeting and the global conf
    FOO (--paste-global FOO=...), and logs through the logger its ini configures."""
    import logging

    log = logging.getLogger("pidapp")
    text = f"{settings.get('greeting', '')}|{global_config.get('FOO', '')}"

    def paste_app(environ, start_response):
        log.info("paste app called for %s", environ.get("PATH_INFO"))
        body = text.encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    return paste_app
