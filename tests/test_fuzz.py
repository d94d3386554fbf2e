"""Short, seeded fuzz runs (CI): mutated corpus requests through parse_request_bytes (no crash, only well-formed
environs or a known error status, the same result however the bytes are split) and through a live server (it
answers with well-formed responses or closes, and stays up). tests/fuzz_long.py runs the same mutations for long."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastwsgi._core import parse_request_bytes
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
