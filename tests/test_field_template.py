"""A head after others on the same connection. The Parser keeps the environ of a connection's last head up to its
fields and copies it when the next head sends the same names in order (ext/fastwsgi/fields.pyx): whatever came
before, every head must give the environ (keys in the same order) or the error it gives on a fresh connection."""
import random

import pytest

from bench import session
from fastwsgi._core import parse_request_bytes
from tests.support import client, corpus

BROWSER = [
    b"Host: shop.example.com",
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    b"Accept-Language: en-US,en;q=0.5",
    b"Accept-Encoding: gzip, deflate, br, zstd",
    b"Referer: https://shop.example.com/",
    b"Connection: keep-alive",
    b"Cookie: session=6f1c2a9e8b7d4c3a; theme=dark; _ga=GA1.1.123456789.1700000000",
    b"Upgrade-Insecure-Requests: 1",
    b"Sec-Fetch-Dest: document",
    b"Sec-Fetch-Mode: navigate",
    b"Priority: u=0, i",
]


def head(fields, line=b"GET /products/42?ref=home&lang=en HTTP/1.1"):
    return b"\r\n".join([line, *fields]) + b"\r\n\r\n"


def variants():
    """(id, head) of browser heads that differ from BROWSER in one way each."""
    out = [("same", head(BROWSER)), ("other_target", head(BROWSER, b"GET /x HTTP/1.1")),
           ("none", head([b"Host: a"])), ("no_fields", head([], b"GET /old HTTP/1.0")),
           ("fewer", head(BROWSER[:5])), ("more", head(BROWSER + [b"DNT: 1"])),
           ("inserted", head(BROWSER[:3] + [b"DNT: 1"] + BROWSER[3:])), ("reversed", head(BROWSER[::-1])),
           ("underscore", head(BROWSER[:2] + [b"X_Forwarded_For: 1.2.3.4"] + BROWSER[2:])),
           ("underscore_only", head([b"Host: a", b"X_Y: 1"])),
           ("cookie_twice", head(BROWSER + [b"Cookie: b=2"])), ("host_twice", head(BROWSER + [b"Host: b"])),
           ("accept_twice", head(BROWSER[:3] + [b"Accept: */*"] + BROWSER[3:])),
           ("content_length", head(BROWSER[:1] + [b"Content-Length: 0"] + BROWSER[1:])),
           ("close", head([f.replace(b"keep-alive", b"close") for f in BROWSER])),
           ("http10", head(BROWSER, b"GET / HTTP/1.0")),
           ("bad_host", head([b"Host: shop example"] + BROWSER[1:])),
           ("expect_bad", head(BROWSER + [b"Expect: nothing"])),
           ("too_long_cl", head(BROWSER + [b"Content-Length: 1234567890123456789"])),
           ("post", head(BROWSER[:1] + [b"Content-Length: 3"] + BROWSER[1:], b"POST /products/42 HTTP/1.1") + b"abc"),
           ("head_method", head(BROWSER, b"HEAD /products/42?ref=home&lang=en HTTP/1.1")),
           ("absolute", head(BROWSER, b"GET http://other.example/x?y HTTP/1.1")),
           ("percent", head(BROWSER, b"GET /a%20b?c=%41 HTTP/1.1")),
           ("other_query", head(BROWSER, b"GET /products/42?ref=home HTTP/1.1")),
           # the kept head's fields after request lines llhttp reads differently or refuses (it is fed the line
           # alone when the fields are known: Parser.llhttp_head)
           ("connect", head(BROWSER, b"CONNECT shop.example.com:443 HTTP/1.1")),
           ("bad_method", head(BROWSER, b"G@T / HTTP/1.1")), ("lower_method", head(BROWSER, b"get / HTTP/1.1")),
           ("control_in_target", head(BROWSER, b"GET /a\x01b HTTP/1.1")),
           ("space_in_target", head(BROWSER, b"GET /a b HTTP/1.1")),
           ("http12", head(BROWSER, b"GET / HTTP/1.2")), ("http2", head(BROWSER, b"GET / HTTP/2.0")),
           ("no_version", head(BROWSER, b"GET /")), ("double_space", head(BROWSER, b"GET  / HTTP/1.1")),
           ("options_star", head(BROWSER, b"OPTIONS * HTTP/1.1")),
           ("upgrade", head(BROWSER[:6] + [b"Connection: upgrade", b"Upgrade: websocket"] + BROWSER[7:])),
           # lines llhttp must read whatever the kept head held (Parser.llhttp_head leaves known lines out)
           ("folded", head(BROWSER[:3] + [b" folded"] + BROWSER[3:])),
           ("bare_lf_line", head(BROWSER[:3] + [b"X-A: 1\nX-B: 2"] + BROWSER[3:])),
           ("bare_cr_line", head(BROWSER[:3] + [b"X-A: 1\rX-B: 2"] + BROWSER[3:])),
           ("cl_twice", head(BROWSER[:1] + [b"Content-Length: 0", b"Content-Length: 0"] + BROWSER[1:])),
           ("chunked", head(BROWSER + [b"Transfer-Encoding: chunked"]) + b"0\r\n\r\n"),
           ("upgrade_only", head(BROWSER + [b"Upgrade: websocket"])),
           ("keep_alive_twice", head(BROWSER + [b"Connection: keep-alive"]))]
    for i, f in enumerate(BROWSER):
        name, _, value = f.partition(b": ")
        others = BROWSER[:i] + BROWSER[i + 1:]
        out += [(f"changed_{i}", head(BROWSER[:i] + [name + b": " + value + b"x"] + BROWSER[i + 1:])),
                (f"shorter_{i}", head(BROWSER[:i] + [name + b": " + value[:-1]] + BROWSER[i + 1:])),
                (f"spaced_{i}", head(BROWSER[:i] + [name + b": " + value + b" z"] + BROWSER[i + 1:])),
                (f"ows_{i}", head(BROWSER[:i] + [name + b":\t " + value + b" \t"] + BROWSER[i + 1:])),
                (f"bare_{i}", head(BROWSER[:i] + [name + b":" + value] + BROWSER[i + 1:])),
                (f"empty_{i}", head(BROWSER[:i] + [name + b":"] + BROWSER[i + 1:])),
                (f"lower_{i}", head(BROWSER[:i] + [name.lower() + b": " + value] + BROWSER[i + 1:])),
                (f"longer_name_{i}", head(BROWSER[:i] + [name + b"s: " + value] + BROWSER[i + 1:])),
                (f"dropped_{i}", head(others))]
    return out


VARIANTS = variants()


def ends(raw):
    """llhttp reads nothing after a request that ends its connection (or asks to upgrade it)."""
    return (b"close" in raw.lower() or b"HTTP/1.0" in raw or raw.startswith(b"CONNECT ")
            or b"Connection: upgrade" in raw)


def alone(raw, **options):
    return [list(e.items()) for e in parse_request_bytes(raw, **options)]


def together(raws, **options):
    return [list(e.items()) for e in parse_request_bytes(b"".join(raws), **options)]


@pytest.mark.parametrize("name,raw", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_browser_variants_after_each_other(name, raw):
    base = head(BROWSER)
    other_line = head(BROWSER, b"GET /a-longer-target HTTP/1.1")   # the same fields after a longer request line
    with_length = head(BROWSER[:1] + [b"Content-Length: 0"] + BROWSER[1:])
    for seq in ([base, raw], [base, base, raw, raw, base], [raw, base, raw], [raw, head([b"Host: a"]), base, raw],
                [base, other_line, raw, other_line, raw], [with_length, raw, with_length, raw]):
        cut = [i for i, r in enumerate(seq) if ends(r)]
        seq = seq[:cut[0] + 1] if cut else seq
        expected = []
        for r in seq:
            envs = alone(r)
            expected += envs
            if "error" in dict(envs[-1]):
                break
        assert together(seq) == expected, seq


@pytest.mark.parametrize("name,raw,meta", corpus.corpus("valid") + corpus.corpus("invalid"))
def test_corpus_after_other_heads(name, raw, meta):
    """Every corpus request after each one-request valid one (and after itself twice)."""
    for _, first, _ in corpus.corpus("valid"):
        envs = alone(first)
        if len(envs) != 1 or b"Upgrade" in first or ends(first) or "error" in dict(envs[0]):
            continue
        assert together([first, first, raw]) == envs + envs + alone(raw), first


def test_limits_after_a_template():
    base = head(BROWSER)
    more = head(BROWSER + [b"DNT: 1"])
    assert together([base, more], limit_request_fields=12) == alone(base) + alone(more, limit_request_fields=12)
    big = head(BROWSER[:1] + [b"X-A: " + b"a" * 200] + BROWSER[1:])
    assert together([base, big], limit_request_field_size=100) == alone(base) + alone(big, limit_request_field_size=100)
    long_value = head(BROWSER[:1] + [b"X-A: " + b"a" * 2000] + BROWSER[1:])
    assert together([long_value, long_value, base]) == alone(long_value) * 2 + alone(base)


def test_one_connection_gives_what_fresh_ones_give(server, connect):
    """Through the wire: heads that repeat, change and leave the template on one keep-alive connection, each read by
    the app as on a connection of its own (wsgi.input included: a body's, then the shared empty one)."""
    fields = [("User-Agent", "Mozilla/5.0"), ("Accept", "text/html"), ("Cookie", "a=1")]
    steps = [("GET", "/environ?x=1", fields, b""), ("GET", "/environ?x=1", fields, b""),
             ("GET", "/environ?x=1", fields[:2] + [("Cookie", "a=2")], b""),
             ("POST", "/environ", fields, b"body"), ("GET", "/environ?x=1", fields, b""),
             ("GET", "/environ/y", fields[::-1], b""), ("GET", "/environ?x=1", fields, b""),
             ("GET", "/environ?x=1", fields + [("Accept", "*/*")], b""), ("GET", "/environ?x=1", fields, b"")]
    kept = connect()
    for method, target, headers, body in steps:
        raw = client.request(method, target, headers, body)
        got, fresh = kept.request(raw, method), connect().request(raw, method)
        assert got.status == fresh.status == 200
        got, fresh = got.json(), fresh.json()
        del got["REMOTE_PORT"], fresh["REMOTE_PORT"]
        assert got == fresh, (method, target, headers)
        assert got["_body"] == body.decode()


def mutate(rnd, fields):
    """A browser head's fields changed in one to three random ways."""
    fields = list(fields)
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(fields)) if fields else 0
        op = rnd.choice(["value", "drop", "insert", "swap", "case", "ows", "dup", "same"])
        if op == "value" and fields:
            name, _, value = fields[i].partition(b": ")
            fields[i] = name + b": " + value[:rnd.randrange(len(value) + 1)] + rnd.choice([b"", b"x", b" y", b"z"])
        elif op == "drop" and fields:
            del fields[i]
        elif op == "insert":
            fields.insert(i, rnd.choice([b"DNT: 1", b"X-A: b", b"X_B: c", b"Accept: */*", b"Cookie: c=3"]))
        elif op == "swap" and len(fields) > 1:
            j = rnd.randrange(len(fields))
            fields[i], fields[j] = fields[j], fields[i]
        elif op == "case" and fields:
            name, _, value = fields[i].partition(b": ")
            fields[i] = name.swapcase() + b": " + value
        elif op == "ows" and fields:
            name, _, value = fields[i].partition(b": ")
            fields[i] = name + rnd.choice([b":", b":\t", b":  "]) + value + rnd.choice([b"", b" ", b"\t "])
        elif op == "dup" and fields:
            fields.insert(rnd.randrange(len(fields) + 1), fields[i])
    return fields


@pytest.mark.parametrize("seed", range(100))
def test_random_heads_after_each_other(seed):
    """Seeded random walks over browser heads: each head after the ones before it on one connection, fed whole and
    in random pieces, gives what it gives alone."""
    rnd = random.Random(seed)
    fields, seq = BROWSER, []
    for _ in range(12):
        if rnd.random() < 0.6:
            fields = mutate(rnd, fields if rnd.random() < 0.7 else BROWSER)
        target = rnd.choice([b"/products/42?ref=home&lang=en", b"/a", b"/b%20c?d", b"http://h.example/x"])
        raw = head(fields, rnd.choice([b"GET ", b"HEAD ", b"DELETE "]) + target + b" HTTP/1.1")
        if ends(raw):
            continue
        envs = alone(raw)
        seq.append(raw)
        if "error" in dict(envs[-1]):
            break
    expected = [env for raw in seq for env in alone(raw)]
    assert together(seq) == expected
    sizes = [rnd.randint(1, 300) for _ in range(5)]
    assert [list(e.items()) for e in parse_request_bytes(b"".join(seq), sizes)] == expected


def test_a_browser_session():
    """bench/session.py's heads twice over: a page, its stylesheets, scripts, fonts, images and XHRs, revalidations
    (seven field orders, which the template saves and takes up again), each head gives what it gives alone."""
    heads = session.requests() * 2
    assert together(heads) == [env for raw in heads for env in alone(raw)]


@pytest.mark.parametrize("seed", range(30))
def test_field_orders_taken_up_again(seed):
    """Heads in ten field orders (more than a template saves besides its current one), in a random order, values
    changed now and then, fed whole and in random pieces: each gives what it gives alone."""
    rnd = random.Random(seed)
    orders = [mutate(random.Random(1000 + i), BROWSER) for i in range(10)]
    seq = []
    for _ in range(60):
        fields = rnd.choice(orders)
        if rnd.random() < 0.3:
            fields = [f + b"x" if rnd.random() < 0.2 else f for f in fields]
        raw = head(fields, rnd.choice([b"GET /a HTTP/1.1", b"GET /b?c HTTP/1.1"]))
        if not ends(raw) and "error" not in dict(alone(raw)[-1]):
            seq.append(raw)
    expected = [env for raw in seq for env in alone(raw)]
    assert len(seq) > 30
    assert together(seq) == expected
    sizes = [rnd.randint(1, 300) for _ in range(5)]
    assert [list(e.items()) for e in parse_request_bytes(b"".join(seq), sizes)] == expected


# -- field lines llhttp is not fed (headscan.pyx, plain_field_line): never more lenient than llhttp ---------------

def _llhttp_refuses(raw):
    """Whether httptools' llhttp (strict, as the Parser runs it) refuses these request bytes."""
    import httptools

    class Sink:
        pass

    try:
        httptools.HttpRequestParser(Sink()).feed_data(raw)
    except httptools.HttpParserError:
        return True
    return False


def _variants():
    """A field line around every byte value: in a name, in a value, at a value's start and end, beside a framing
    name spelled in other cases."""
    for b in range(256):
        c = bytes([b])
        yield b"X-T" + c + b"t: v\r\n"
        yield b"X-Test: a" + c + b"z\r\n"
        yield b"X-Test: " + c + b"\r\n"
        yield b"X-Test: " + b"v" * 40 + c + b"\r\n"         # past the 16-byte blocks
        yield c + b"X-Test: v\r\n"
    for name in (b"cOnTeNt-LeNgTh", b"TRANSFER-ENCODING", b"connection", b"Proxy-Connection", b"UPGRADE"):
        yield name + b": 5\r\n"
        yield name + b" : 5\r\n"
    yield b"X-Test : v\r\n"
    yield b"X-Test:\tv\t\r\n"
    yield b": v\r\n"
    yield b"X-Test: v\rz\r\n"


@pytest.mark.parametrize("kept", [False, True], ids=["first-head", "after-kept-head"])
def test_lines_left_out_of_llhttp_are_refused_when_llhttp_refuses(kept):
    """A line left out of what llhttp reads (plain_field_line) must be one llhttp accepts: for every variant that
    llhttp refuses in a head, ours refuses the head too (as the first on a connection and after a kept head whose
    other lines it shares)."""
    base = b"GET /a?b=c HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nUser-Agent: ua/1.0\r\n"
    lenient = []
    for line in _variants():
        head = base + line + b"Accept-Language: en\r\n\r\n"
        if not _llhttp_refuses(head):
            continue
        raw = (base + b"X-Test: v\r\nAccept-Language: en\r\n\r\n" if kept else b"") + head
        out = parse_request_bytes(raw)
        if "error" not in out[-1] or len(out) != (2 if kept else 1):
            lenient.append(line)
    assert not lenient, f"llhttp refuses these lines, we did not: {lenient[:10]}"


def test_plain_lines_read_the_same_as_llhttp_fed_whole():
    """Session heads (bench/session.py), each as the first head of a connection (llhttp fed only the lines it must
    see) and all on one connection: the same environs."""
    heads = session.requests()[:60]
    one_by_one = [parse_request_bytes(h)[0] for h in heads]
    together = parse_request_bytes(b"".join(heads))
    assert together == one_by_one


@pytest.mark.parametrize("kept", [False, True], ids=["first-head", "after-kept-head"])
def test_spared_heads_are_refused_when_llhttp_refuses(kept):
    """A head llhttp is spared (Parser.llhttp_spared: a plain request line, no field line llhttp reads) must be one
    it accepts: every byte in the target, the method and the version, as the first head on a connection and after a
    kept head, with the Connection: keep-alive a browser sends and without."""
    lenient = []
    lines = []
    for b in range(256):
        c = bytes([b])
        lines += [b"GET /a" + c + b"b HTTP/1.1", b"GET /?q=" + c + b" HTTP/1.1", b"GET " + c + b"/ HTTP/1.1",
                  b"HEAD /" + c + b" HTTP/1.1", b"GET / HTTP/1." + c, b"GE" + c + b" / HTTP/1.1"]
    lines += [b"get / HTTP/1.1", b"GET  / HTTP/1.1", b"GET / HTTP/1.1 ", b"GET / http/1.1", b"GET /\tx HTTP/1.1"]
    for line in lines:
        for conn in (b"", b"Connection: keep-alive\r\n", b"connection:KEEP-ALIVE\r\n"):
            head = line + b"\r\nHost: h\r\nAccept: */*\r\n" + conn + b"\r\n"
            if not _llhttp_refuses(head):
                continue
            raw = (b"GET /k HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n" + conn + b"\r\n" if kept else b"") + head
            out = parse_request_bytes(raw)
            if "error" not in out[-1] or len(out) != (2 if kept else 1):
                lenient.append(head)
    assert not lenient, f"llhttp refuses these heads, we did not: {lenient[:10]}"


def test_after_a_close_llhttp_reads_again():
    """After a head that closes the connection (Connection: close, HTTP/1.0 without keep-alive) llhttp refuses
    what follows; a plain head after it is not spared, and is refused as before."""
    for first in (b"GET /1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", b"GET /1 HTTP/1.0\r\n\r\n"):
        out = parse_request_bytes(first + b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert len(out) == 2 and "error" in out[-1], out
