"""103 Early Hints (issue 23): environ["wsgi.early_hints"](headers) as gunicorn 27 defines it: each call sends a
103 answer at once, before the final one, to HTTP/1.1 clients; nothing to HTTP/1.0 clients or once the answer's head
is out; headers validated as start_response validates them. Inline and on app threads."""
import pytest

from tests.support import client
from tests.support.server import ROUTER


@pytest.fixture(scope="module", params=[1, 4], ids=["inline", "threads"])
def srv(request, serve):
    return serve(ROUTER, threads=request.param) if request.param > 1 else serve(ROUTER)


def test_hints_come_first_as_103_answers(srv):
    with client.Client(srv.port) as c:
        resp = c.request(client.request("GET", "/hints?n=2"))
        assert [r.status for r in resp.interim] == [103, 103]
        assert [r.get("Link") for r in resp.interim] == ["</style0.css>; rel=preload; as=style",
                                                        "</style1.css>; rel=preload; as=style"]
        assert resp.status == 200 and resp.body == b"ok!"
        # the hint sent after the head went out was dropped: the next answer on the connection is whole
        again = c.request(client.request("GET", "/hello"))
        assert again.status == 200 and not again.interim


def test_a_hint_leaves_before_the_app_finishes(srv):
    with client.Client(srv.port) as c:
        c.send(client.request("GET", "/hints?n=1"))
        first = c.read_response()
        assert first.status == 103
        assert c.read_response().status == 200


def test_no_hints_for_http10(srv):
    with client.Client(srv.port) as c:
        c.send(client.request("GET", "/hints?n=3", version="HTTP/1.0"))
        raw = c.read_to_eof()
    assert b" 103 " not in raw and raw.startswith(b"HTTP/1.1 200 ")


def test_a_header_that_would_split_the_answer_is_the_apps_error(srv):
    with client.Client(srv.port) as c:
        resp = c.request(client.request("GET", "/hints?n=0&bad=1"))
    assert resp.status == 500 and not resp.interim
    assert "X-Injected" not in str(resp.headers)
