"""Fuzz target: the connection's field template (ext/fastwsgi/fields.pyx), checked differentially.

A Parser keeps the environ of a connection's last head and copies it when the next head repeats its field names;
whatever came before, each head must give the environ (keys in the same order) that it gives on a fresh connection.
Input: a flags byte (bits 0-2: the number k of piece sizes for the kept connection, 0 for whole; bit 3: small limits),
k bytes of piece sizes (1 to 256), then heads, each ending at CRLF CRLF. The heads that are one whole request each
(alone, a request that leaves the connection open and nothing more) are sent one after the other on one connection,
then the last piece, whatever it is: the result must be each one's result alone, in order.
"""
from common import main, pieces, sizes_prefix

from fastwsgi._core import parse_request_bytes
from tests.support import corpus
from tests.test_field_template import VARIANTS

SMALL = dict(limit_request_fields=8, limit_request_field_size=80)
PROBE = b"GET /probe HTTP/1.1\r\nHost: probe\r\n\r\n"


def parse(raw, sizes=None, **options):
    return [list(env.items()) for env in parse_request_bytes(raw, sizes, **options)]


def errors_alike(out):
    """An error reduced to its presence (which fault shows first may depend on where the pieces end)."""
    return [[("error", True)] if dict(e).get("error") else e for e in out]


def test_one_input(data):
    if not data:
        return
    flags = data[0]
    sizes, stream = pieces(data, 1, flags & 7)
    options = SMALL if flags & 8 else {}
    heads = [h + b"\r\n\r\n" for h in stream.split(b"\r\n\r\n")]
    heads[-1] = heads[-1][:-4]                  # what follows the last CRLF CRLF: the last piece, maybe empty
    probe = parse(PROBE, **options)
    kept, expected = [], []
    for head in heads[:-1]:
        alone = parse(head, **options)
        # exactly one request that keeps the connection open: a probe after it is parsed as on its own
        if len(alone) == 1 and "error" not in dict(alone[0]) and parse(head + PROBE, **options) == alone + probe:
            kept.append(head)
            expected += alone
    last = heads[-1] if heads[-1] else b""
    expected += parse(last, **options) if last else []
    got = parse(b"".join(kept) + last, sizes, **options)
    if errors_alike(got) != errors_alike(expected):
        raise AssertionError(f"heads {kept + [last]!r} on one connection (pieces {sizes}) give\n{got!r}\n"
                             f"each on a fresh one\n{expected!r}")


def seeds():
    valid = [raw for _, raw, _ in corpus.corpus("valid")]
    variants = [raw for _, raw in VARIANTS]
    out = []
    for i, raw in enumerate(variants):
        out.append(b"\x00" + variants[0] + raw + variants[(i * 7) % len(variants)] + raw)
        out.append(bytes([2 | (i & 1) << 3]) + sizes_prefix([13, 60]) + variants[0] + raw)
    for i, raw in enumerate(valid):
        out.append(b"\x00" + raw + variants[i % len(variants)] + raw)
    return out


if __name__ == "__main__":
    main("fields", test_one_input, seeds())
