"""Short, seeded fuzz runs (CI): mutated corpus requests through parse_request_bytes (no crash, only well-formed
environs or a known error status, the same result however the bytes are split) and through a live server (it
answers with well-formed responses or closes, and stays up). tests/fuzz_long.py runs the same mutations for long."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwsgi._core import parse_proxy_header, parse_request_bytes
from tests.support import client, corpus

SEEDS = corpus.seeds()


def ci(n):
    """A short, reproducible run: derandomized, no example database, no deadline (CI machines vary)."""
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@ci(1500)
@given(st.randoms(use_true_random=False), st.lists(st.integers(1, 64), min_size=1, max_size=8))
def test_parser_properties_and_split_invariance(rnd, sizes):
    data = corpus.mutate(rnd, SEEDS)
    whole = parse_request_bytes(data)
    assert not corpus.check_parse(whole), (data, corpus.check_parse(whole))
    split = parse_request_bytes(data, sizes)
    assert corpus.comparable(split) == corpus.comparable(whole), (data, sizes)
    assert corpus.comparable(parse_request_bytes(data, [1])) == corpus.comparable(whole), data


@ci(300)
@given(st.binary(max_size=300))
def test_parser_on_random_bytes(data):
    assert not corpus.check_parse(parse_request_bytes(data))
    assert not corpus.check_parse(parse_request_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n" + data))


@ci(300)
@given(st.randoms(use_true_random=False))
def test_parser_with_small_limits(rnd):
    data = corpus.mutate(rnd, SEEDS)
    opts = dict(limit_request_line=40, limit_request_fields=4, limit_request_field_size=60, limit_request_body=8)
    whole = parse_request_bytes(data, **opts)
    assert not corpus.check_parse(whole), data
    assert corpus.comparable(parse_request_bytes(data, [3], **opts)) == corpus.comparable(whole), data


@pytest.fixture(scope="module")
def fuzz_server(serve):
    return serve(corpus.FUZZ_TARGET, **corpus.FUZZ_OPTIONS)


def test_live_server_survives_mutations(fuzz_server):
    rnd = random.Random(20261124)
    for i in range(150):
        data = corpus.mutate(rnd, SEEDS)
        corpus.fuzz_exchange(fuzz_server.port, data, seed=i)
        assert fuzz_server.alive, data
    with client.Client(fuzz_server.port) as c:
        assert c.request(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


@pytest.mark.parametrize("sizes", [[0], [-1], [5, 0], [-3, 2]])
def test_test_hooks_refuse_piece_sizes_below_one(sizes):
    # issue 25.9: a size of 0 looped for ever, a negative one read before the buffer
    with pytest.raises(ValueError, match="at least 1"):
        parse_request_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", sizes)
    with pytest.raises(ValueError, match="at least 1"):
        parse_proxy_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", sizes)


@pytest.mark.parametrize("sizes", [None, [1], [7], [60]])
def test_an_over_long_request_line_is_refused_before_the_head_is_whole(sizes):
    # issue 25.8: a piece that held the line's LF skipped limit_request_line until the head was whole
    data = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n"
    out = parse_request_bytes(data, sizes, limit_request_line=40)
    assert out == [{"error": 414, "reason": "request line too long"}]


@pytest.mark.parametrize("data", [
    b"GET /\nX:a HTTP/1.1\r\nHost: x\r\n\r\n", b"CONNECT h\n\r\nX", b"GET /\n", b"GET / HTTP/1.1\n",
    b"GET /a\x0bb HTTP/1.1\r\nHost: x\r\n\r\n",
])
def test_a_bare_lf_or_control_byte_in_the_request_line_is_400_however_it_is_fed(data):
    for sizes in (None, [1], [2], [5], [len(data) - 1 or 1]):
        out = parse_request_bytes(data, sizes)
        assert [e.get("error") for e in out] == [400], (data, sizes, out)


@pytest.mark.parametrize("byte", [*range(0x20), 0x7f])
def test_every_control_byte_in_the_target_is_400_however_it_is_fed(byte):
    # llhttp refuses them all but LF, which ends its request line: our framing must end the line there too
    data = b"GET /a" + bytes([byte]) + b"b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    for sizes in (None, [1], [3], [7]):
        out = parse_request_bytes(data, sizes)
        assert [e.get("error") for e in out] == [400], (byte, sizes, out)
