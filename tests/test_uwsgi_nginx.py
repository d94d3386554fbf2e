"""nginx's uwsgi_pass in front of fastwsgi --protocol uwsgi (issue 23): the router app and a Flask app, inline and
with app threads, through a real nginx (Debian's; tests/install.sh installs it): GET with query strings and
headers, POST bodies (with a length, chunked by the client, spooled), answers streamed without a length, errors, and
nginx's upstream keepalive (nginx opens a connection per uwsgi request: many requests on one client connection must
each be answered at once). Skips loudly without nginx."""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import time

import pytest

from tests.support import client
from tests.support.master import free_port
from tests.support.server import ROUTER, checked_server

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
if NGINX is None:
    pytest.skip("NOT RUN: nginx is not installed (tests/install.sh installs Debian's); nginx's uwsgi_pass untested",
                allow_module_level=True)

HAS_FLASK = importlib.util.find_spec("flask") is not None
HAS_DJANGO = importlib.util.find_spec("django") is not None
FRAMEWORKS = {"flask": "tests.support.flask_app:app", "django": "tests.support.django_app:app"}

# nginx's stock uwsgi_params (what `include uwsgi_params;` brings)
UWSGI_PARAMS = """
uwsgi_param  QUERY_STRING       $query_string;
uwsgi_param  REQUEST_METHOD     $request_method;
uwsgi_param  CONTENT_TYPE       $content_type;
uwsgi_param  CONTENT_LENGTH     $content_length;
uwsgi_param  REQUEST_URI        $request_uri;
uwsgi_param  PATH_INFO          $document_uri;
uwsgi_param  DOCUMENT_ROOT      $document_root;
uwsgi_param  SERVER_PROTOCOL    $server_protocol;
uwsgi_param  REQUEST_SCHEME     $scheme;
uwsgi_param  HTTPS              $https if_not_empty;
uwsgi_param  REMOTE_ADDR        $remote_addr;
uwsgi_param  REMOTE_PORT        $remote_port;
uwsgi_param  SERVER_PORT        $server_port;
uwsgi_param  SERVER_NAME        $server_name;
"""

CONF = """
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 16m;
    client_body_buffer_size 16k;
    uwsgi_read_timeout 10s;
    uwsgi_connect_timeout 5s;
    upstream app {{ server 127.0.0.1:{app_port}; keepalive 8; }}
{flask_upstream}
    server {{
        listen 127.0.0.1:{port};
        server_name example.test;
        location / {{ include {dir}/uwsgi_params; uwsgi_pass app; }}
    }}
{flask_server}
}}
"""


class Nginx:
    def __init__(self, directory, app_port, flask_port=None):
        self.dir = str(directory)
        self.port = free_port()
        self.flask_port = free_port() if flask_port else None
        with open(os.path.join(self.dir, "uwsgi_params"), "w") as f:
            f.write(UWSGI_PARAMS)
        flask_upstream = flask_server = ""
        if flask_port:
            flask_upstream = f"    upstream flask {{ server 127.0.0.1:{flask_port}; keepalive 8; }}"
            flask_server = (f"    server {{ listen 127.0.0.1:{self.flask_port}; server_name flask.test; "
                            f"location / {{ include {self.dir}/uwsgi_params; uwsgi_pass flask; }} }}")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(user="user root;" if os.geteuid() == 0 else "", dir=self.dir, app_port=app_port,
                                port=self.port, flask_upstream=flask_upstream, flask_server=flask_server))
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.Client(self.port, timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module", params=[1, 4], ids=["inline", "threads4"])
def threads(request):
    return request.param


@pytest.fixture(scope="module")
def app_server(serve, threads):
    yield from checked_server(serve, ROUTER, protocol="uwsgi", threads=threads, body_buffer_size=8192)


@pytest.fixture(scope="module")
def flask_server(serve, threads):
    if not HAS_FLASK:
        yield None
        return
    srv = serve("tests.support.flask_app:app", fresh=True, protocol="uwsgi", threads=threads)
    yield srv
    assert srv.stop() is None


@pytest.fixture(scope="module")
def nginx(app_server, flask_server, tmp_path_factory):
    n = Nginx(tmp_path_factory.mktemp("nginx"), app_server.port, flask_server.port if flask_server else None)
    yield n
    n.stop()
    log = n.log()
    assert "upstream prematurely closed" not in log and "upstream sent" not in log, log


def get(port, method="GET", target="/", headers=(), body=b"", host="example.test"):
    """One request to nginx on a new connection, with this Host."""
    with client.Client(port, timeout=15) as c:
        return c.request(client.request(method, target, headers, body, host=host), method)


def test_get_with_a_query_and_headers(nginx):
    resp = get(nginx.port, "GET", "/environ/a%20b?x=1&y=%2F&z=caf%C3%A9",
               [("X-Custom", "v1"), ("Cookie", "a=1"), ("Cookie", "b=2"), ("User-Agent", "t/1")])
    assert resp.status == 200, resp
    env = resp.json()
    assert env["REQUEST_METHOD"] == "GET" and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["PATH_INFO"] == "/environ/a b" and env["QUERY_STRING"] == "x=1&y=%2F&z=caf%C3%A9"
    assert env["REQUEST_URI"] == env["RAW_URI"] == "/environ/a%20b?x=1&y=%2F&z=caf%C3%A9"
    assert env["HTTP_X_CUSTOM"] == "v1" and env["HTTP_USER_AGENT"] == "t/1" and env["HTTP_HOST"] == "example.test"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["SERVER_NAME"] == "example.test"
    assert env["SERVER_PORT"] == str(nginx.port) and env["wsgi.url_scheme"] == "http"
    assert "CONTENT_LENGTH" not in env and env["_body"] == ""


@pytest.mark.parametrize("size", [0, 10, 100_000, 1_000_000])
def test_post_bodies(nginx, size):
    body = client.pattern(size)
    resp = get(nginx.port, "POST", "/echo", [("Content-Type", "application/octet-stream")], body)
    assert resp.status == 200 and resp.body == body


def test_a_chunked_client_body_arrives_whole(nginx):
    body = client.pattern(70_000)
    pieces = [body[i:i + 9000] for i in range(0, len(body), 9000)]
    resp = get(nginx.port, "POST", "/echo", [("Transfer-Encoding", "chunked")], client.chunked(pieces))
    assert resp.status == 200 and resp.body == body


def test_streamed_answers_and_head(nginx):
    resp = get(nginx.port, "GET", "/gen?n=5")                  # no length: ends with our close
    assert resp.status == 200 and resp.body == b"chunk0;chunk1;chunk2;chunk3;chunk4;", resp
    for nocl in ("", "&nocl=1"):
        resp = get(nginx.port, "GET", "/big?size=3000000" + nocl)
        assert resp.body == client.pattern(3_000_000)
    resp = get(nginx.port, "HEAD", "/hello")
    assert resp.status == 200 and resp.body == b""


def test_errors_come_through(nginx):
    assert get(nginx.port, "GET", "/nothing-here").status == 404
    assert get(nginx.port, "GET", "/raise_before").status == 500
    resp = get(nginx.port, "GET", "/status?code=201")
    assert resp.status == 201


def test_many_requests_on_one_client_connection(nginx):
    """nginx keeps the client's connection and opens an upstream one per request (uwsgi has no upstream keepalive
    in nginx): each answer must end where nginx expects it, or the next request waits on uwsgi_read_timeout."""
    start = time.monotonic()
    with client.Client(nginx.port) as c:
        for i in range(40):
            resp = c.request(client.request("POST" if i % 2 else "GET", f"/echo?i={i}", body=b"%d" % i if i % 2
                                            else b"", host="example.test"))
            assert resp.status == 200, resp
            assert resp.body == (b"%d" % i if i % 2 else b"")
        c.send(b"".join(client.request("GET", f"/qs?p={i}", host="example.test") for i in range(10)))   # pipelined
        assert [c.read_response().body for _ in range(10)] == [b"p=%d" % i for i in range(10)]
    assert time.monotonic() - start < 8, "an answer was only ended by a timeout"


# -- Flask behind nginx ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def django_nginx(serve, threads, app_server, tmp_path_factory):
    """A second nginx whose framework server (flask.test) is the Django project."""
    if not HAS_DJANGO:
        pytest.skip("NOT RUN: django is not installed (the test extras install it)")
    srv = serve(FRAMEWORKS["django"], fresh=True, protocol="uwsgi", threads=threads)
    n = Nginx(tmp_path_factory.mktemp("nginx-django"), app_server.port, srv.port)
    yield n
    n.stop()
    assert srv.stop() is None


@pytest.fixture(params=["flask", "django"])
def fw(request, threads):
    """(nginx's port for the framework's app, the framework's name): Flask's and Django's apps answer the same
    routes (tests/support/flask_app.py, django_app.py). `threads` names the module's parametrisation so that the
    nginx fixtures it looks up resolve."""
    if request.param == "flask":
        if not HAS_FLASK:
            pytest.skip("NOT RUN: flask is not installed (the test extras install it)")
        return request.getfixturevalue("nginx").flask_port, "flask"
    return request.getfixturevalue("django_nginx").flask_port, "django"


def fget(port, method="GET", target="/", headers=(), body=b""):
    return get(port, method, target, headers, body, host="flask.test")


def test_framework_request_is_as_over_http(fw, serve):
    flask_port, name = fw
    target, headers = "/request?a=1&a=2&b=%C3%A9", [("X-Custom", "c"), ("Cookie", "k=v")]
    resp = fget(flask_port, "GET", target, headers)
    assert resp.status == 200, resp
    info = resp.json()
    assert info["args"] == {"a": ["1", "2"], "b": ["é"]} and info["path"] == "/request"
    assert info["remote"] == "127.0.0.1" and info["scheme"] == "http" and info["host"] == "flask.test"
    assert info["custom"] == "c" and info["cookies"] == {"k": "v"}
    # the same app served over HTTP by fastwsgi sees the same request
    over_http = serve(FRAMEWORKS[name])
    assert get(over_http.port, "GET", target, headers, host="flask.test").json() == info
    assert fget(flask_port).body == f"{name} ok".encode()


def test_framework_bodies(fw):
    flask_port, _ = fw
    form = b"name=Ada+Lovelace&lang=en&lang=fr"
    resp = fget(flask_port, "POST", "/form?x=y", [("Content-Type", "application/x-www-form-urlencoded")], form)
    assert resp.json() == {"form": {"name": ["Ada Lovelace"], "lang": ["en", "fr"]}, "args": {"x": "y"}}
    doc = {"k": [1, 2, {"z": None}], "s": "é" * 1000}
    data = json.dumps(doc).encode()
    resp = fget(flask_port, "POST", "/json", [("Content-Type", "application/json")], data)
    assert resp.json() == {"got": doc, "length": len(data)}
    payload = client.pattern(600_000)
    boundary = "b0undary"
    multipart = ((f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.bin\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode()
                 + payload + f"\r\n--{boundary}--\r\n".encode())
    resp = fget(flask_port, "POST", "/upload", [("Content-Type", f"multipart/form-data; boundary={boundary}")],
                multipart)
    assert resp.json() == {"name": "p.bin", "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                           "note": "hello"}


def test_framework_cookies_redirects_streams_errors(fw):
    flask_port, _ = fw
    resp = fget(flask_port, "GET", "/cookie", [("Cookie", "visit=0")])
    assert resp.json() == {"seen": "0"}
    assert sorted(v.split(";")[0] for v in resp.get_all("set-cookie")) == ["theme=dark", "visit=1"]
    resp = fget(flask_port, "GET", "/redirect")
    assert resp.status == 302 and resp.get("location") == "http://flask.test/"
    resp = fget(flask_port, "GET", "/stream")
    assert resp.body == "".join(f"line {i}\n" for i in range(200)).encode()
    assert fget(flask_port, "GET", "/boom").status == 500
    assert fget(flask_port, "GET", "/missing").status == 404
