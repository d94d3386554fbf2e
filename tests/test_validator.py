"""The router app wrapped in wsgiref.validate.validator: standard requests raise no validator error or warning."""
import time

import pytest

from tests.support import client
from tests.support.client import request
from tests.support.server import ROUTER

PROBLEMS = ("AssertionError", "Warning", "Traceback", "garbage collected", "Error handling")


@pytest.fixture(scope="module")
def vsrv(serve):
    return serve(ROUTER, validate=True)


def assert_clean(srv, mark):
    time.sleep(0.2)  # the validator reports unclosed iterators when they are collected
    log = srv.since(mark)
    assert not [p for p in PROBLEMS if p in log], log[-3000:]


def test_validator_get(vsrv):
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        assert c.request(request("GET", "/hello")).body == b"Hello, World!"
        env = c.request(request("GET", "/environ/v?x=1")).json()
        assert env["PATH_INFO"] == "/environ/v"
    assert_clean(vsrv, mark)


def test_validator_post(vsrv):
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        body = b"x" * 100000
        assert c.request(request("POST", "/echo", [("Content-Type", "application/octet-stream")], body)).body == body
        chunked = client.chunked([b"abc", b"def"])
        resp = c.request(request("POST", "/echo", [("Transfer-Encoding", "chunked")], chunked))
        assert resp.body == b"abcdef"
    assert_clean(vsrv, mark)


def test_validator_head(vsrv):
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        resp = c.request(request("HEAD", "/hello"))
        assert resp.status == 200 and resp.get("content-length") == "13"
        assert c.request(request("GET", "/qs?after")).body == b"after"
    assert_clean(vsrv, mark)


def test_validator_keepalive_sequence_and_streams(vsrv):
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        c.send(
            request("GET", "/qs?1")
            + request("POST", "/echo", [], b"two")
            + request("HEAD", "/hello")
            + request("GET", "/gen?n=2")
            + request("GET", "/lazy")
            + request("GET", "/write")
        )
        assert c.read_final().body == b"1"
        assert c.read_final().body == b"two"
        assert c.read_final("HEAD").status == 200
        assert c.read_final().body == b"chunk0;chunk1;"
        assert c.read_final().body == b"lazy"
        assert c.read_final().body == b"abc"
    assert_clean(vsrv, mark)


def test_validator_http10(vsrv):
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        assert c.request(request("GET", "/hello", version="HTTP/1.0")).body == b"Hello, World!"
        assert c.is_closed(2.0)
    assert_clean(vsrv, mark)


def test_validator_errors_reach_the_log(vsrv):
    """Control: a validator failure (here the app's bad status) is visible where assert_clean looks."""
    mark = vsrv.mark()
    with client.Client(vsrv.port) as c:
        assert c.request(request("GET", "/bad_start?case=status_short")).status == 500
    vsrv.wait_log("AssertionError", mark)
