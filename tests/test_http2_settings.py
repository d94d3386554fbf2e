"""The HTTP/2 settings (gunicorn 27's spellings): what each refuses, in one line and with a non-zero exit, on every
build; h2 on a build without libnghttp2 is refused saying why."""
import subprocess
import sys

import pytest

from fastwsgi._core import http2_available
from tests.support.master import write_app

H2, WHY = http2_available()


def check(tmp_path, *args):
    write_app(tmp_path)
    return subprocess.run([sys.executable, "-m", "fastwsgi", "pidapp:application", "--check-config", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args, says", [
    (["--http-protocols", "h2"], "without h1"),
    (["--http-protocols", "h3,h1"], "expected a list of h1 and h2"),
    (["--http2-cleartext", "sometimes"], "expected off, prior-knowledge"),
    (["--http2-max-frame-size", "1000"], "from 16384 to 16777215"),
    (["--http2-initial-window-size", "0"], "from 1 to 2147483647"),
    (["--http2-max-concurrent-streams", "0"], "expected a positive integer"),
])
def test_refused_in_one_line(tmp_path, args, says):
    out = check(tmp_path, *args)
    assert out.returncode != 0 and says in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_h2_needs_nghttp2(tmp_path):
    out = check(tmp_path, "--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge")
    if H2:
        assert out.returncode == 0, out.stderr
    else:
        assert out.returncode != 0 and "built without libnghttp2" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
