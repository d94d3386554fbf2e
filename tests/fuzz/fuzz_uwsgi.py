"""Fuzz target: uwsgi packets (fastwsgi._core.parse_uwsgi_bytes, --protocol uwsgi) fed in fuzzer-chosen pieces.

Input: a flags byte (bits 0-2: the number k of piece sizes, 0 for byte by byte; bit 3: tight request limits), k bytes
of piece sizes (1 to 256), then the bytes a connection sends. Properties: the pieces do not change the outcome (the
same environs, bodies and error), every environ holds the keys a WSGI app needs as str, a complete body is exactly
CONTENT_LENGTH bytes, and a refused packet never has a status but 403, 413 (the body limit) or 0 (closed unanswered).
"""
from common import main, pieces, sizes_prefix

from fastwsgi._core import parse_uwsgi_bytes
from tests.support.client import uwsgi_packet, uwsgi_request

TIGHT = dict(limit_request_line=64, limit_request_fields=4, limit_request_field_size=64, limit_request_body=100)
KEYS = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "RAW_URI", "REQUEST_URI", "SERVER_PROTOCOL", "SERVER_NAME",
        "SERVER_PORT", "SCRIPT_NAME", "REMOTE_ADDR", "wsgi.url_scheme")


def check(out, raw):
    for i, env in enumerate(out):
        if "error" in env:
            if i != len(out) - 1 or env["error"] not in (0, 403, 413):
                raise AssertionError(f"{raw!r}: {out!r}")
            continue
        for key in KEYS:
            if type(env.get(key)) is not str:
                raise AssertionError(f"{raw!r}: {key} is {env.get(key)!r}")
        if env["wsgi.url_scheme"] not in ("http", "https"):
            raise AssertionError(f"{raw!r}: scheme {env['wsgi.url_scheme']!r}")
        body = env["wsgi.input"]
        if body is not None and len(body) != int(env.get("CONTENT_LENGTH") or 0):
            raise AssertionError(f"{raw!r}: a body of {len(body)} bytes, CONTENT_LENGTH {env.get('CONTENT_LENGTH')}")


def test_one_input(data):
    if not data:
        return
    flags = data[0]
    sizes, raw = pieces(data, 1, flags & 7)
    options = TIGHT if flags & 8 else {}
    whole = parse_uwsgi_bytes(raw, None, **options)
    split = parse_uwsgi_bytes(raw, sizes or [1], **options)
    if split != whole:
        raise AssertionError(f"fed in pieces {sizes or [1]}, {raw!r} gives {split!r}, fed whole {whole!r}")
    check(whole, raw)


def seeds():
    packets = [
        uwsgi_request("GET", "/a%20b?x=1", [("Cookie", "a=1"), ("X-Y", "z")]),
        uwsgi_request("POST", "/up", [("Content-Type", "text/plain")], b"hello world"),
        uwsgi_packet([]), uwsgi_packet({"REQUEST_URI": "/p?q", "HTTPS": "on"}),
        uwsgi_packet([("HTTP_COOKIE", "a"), ("HTTP_COOKIE", "b"), ("CONTENT_LENGTH", "3")], b"abc"),
        uwsgi_packet([("wsgi.input", "x"), ("UWSGI_SCHEME", "https")]),
    ]
    out = []
    for i, packet in enumerate(packets):
        nxt = packets[(i + 1) % len(packets)]
        out.append(bytes([0]) + packet + nxt)
        out.append(bytes([2 | 8]) + sizes_prefix([3, 17]) + packet)
    return out


if __name__ == "__main__":
    main("uwsgi", test_one_input, seeds())
