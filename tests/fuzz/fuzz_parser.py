"""Fuzz target: the request parser fed in fuzzer-chosen pieces (fastwsgi._core.parse_request_bytes).

Input: a flags byte (bits 0-2: the number k of piece sizes, 0 for byte by byte; bit 3: small limits), k bytes of
piece sizes (1 to 256), then the bytes a client sends. Properties: whatever the pieces, the result is the result of
feeding the bytes whole (an error counting as an error, whichever one: tests.support.corpus.comparable), and every
accepted request looks like one (tests.support.corpus.check_parse). A crash, a sanitizer report or an exception is
a finding too.
"""

from common import main, pieces, sizes_prefix

from fastwsgi._core import parse_request_bytes
from tests.support import corpus

SMALL = dict(limit_request_line=40, limit_request_fields=4, limit_request_field_size=60, limit_request_body=8)


def test_one_input(data):
    if not data:
        return
    flags = data[0]
    sizes, raw = pieces(data, 1, flags & 7)
    options = SMALL if flags & 8 else {}
    whole = parse_request_bytes(raw, **options)
    problems = corpus.check_parse(whole)
    if problems:
        raise AssertionError(f"{problems} for {raw!r}: {whole!r}")
    split = parse_request_bytes(raw, sizes or [1], **options)
    if corpus.comparable(split) != corpus.comparable(whole):
        raise AssertionError(f"fed in pieces {sizes or [1]}, {raw!r} gives\n{split!r}\nfed whole\n{whole!r}")


def seeds():
    out = []
    for i, raw in enumerate(corpus.seeds()):
        out.append(b"\x00" + raw)                                       # byte by byte
        out.append(bytes([3 | (i & 1) << 3]) + sizes_prefix([7, 1, 30]) + raw)
    return out


if __name__ == "__main__":
    main("parser", test_one_input, seeds())
