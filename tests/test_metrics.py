"""Prometheus metrics from the master (--metrics-bind, issue 22), read over HTTP and parsed two ways: a small
parser of the text format written here, and prometheus_client's (a test extra) when it is installed."""
import http.client
import os
import re
import socket

import pytest

from tests.support.control import ctl
from tests.support.master import Master, free_port, get, run_cli, wait_for, write_app

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple:
    """(samples [(name, labels, value)], types {family: type}) of a text exposition; fails on a malformed line."""
    samples, types = [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            types[family] = kind
        elif line.startswith("#") or not line:
            continue
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            labels = dict(LABEL.findall(match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples, types


def total(samples, name, **where):
    return sum(v for n, labels, v in samples if n == name and all(labels.get(k) == w for k, w in where.items()))


def scrape(port: int, path: str = "/metrics", method: str = "GET") -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    app_dir = write_app(tmp_path)
    port = free_port()
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "--metrics-bind", f"127.0.0.1:{port}", "pidapp:app"],
                    app_dir)
    return master, port, path, app_dir


def test_metrics_count_exactly_the_requests(server):
    master, port, path, app_dir = server
    _, _, text = scrape(port)
    samples, _ = parse(text)
    base = total(samples, "gunicorn_requests_total")
    for _ in range(25):
        assert get(master.port, "/")[0] == 200
    status, ctype, text = scrape(port)
    assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8"
    samples, types = parse(text)
    assert total(samples, "gunicorn_requests_total") - base == 25
    assert total(samples, "gunicorn_requests_total") == ctl(path, "show stats", app_dir)["requests"]
    assert total(samples, "gunicorn_request_status_total", status="2xx") == total(samples, "gunicorn_requests_total")
    assert total(samples, "gunicorn_request_duration_seconds_count") == total(samples, "gunicorn_requests_total")
    assert total(samples, "gunicorn_request_duration_seconds_bucket", le="+Inf") == \
        total(samples, "gunicorn_requests_total")
    assert types["gunicorn_requests_total"] == "counter"
    assert types["gunicorn_request_duration_seconds"] == "histogram"
    assert types["gunicorn_workers"] == "gauge"
    assert total(samples, "gunicorn_workers") == 2
    workers = {labels["worker"] for n, labels, _ in samples if n == "gunicorn_requests_total"}
    assert workers == {str(pid) for pid in master.workers()} | {"exited"}
    assert all(v > 0 for n, _, v in samples if n == "fastwsgi_worker_resident_memory_bytes")


def test_metrics_parse_with_prometheus_client(server):
    parser = pytest.importorskip("prometheus_client.parser")
    master, port, _, _ = server
    for _ in range(10):
        get(master.port, "/")
    families = {f.name: f for f in parser.text_string_to_metric_families(scrape(port)[2])}
    requests = families["gunicorn_requests"]             # the client drops the _total of a counter
    assert requests.type == "counter"
    histogram = families["gunicorn_request_duration_seconds"]
    assert histogram.type == "histogram"
    count = sum(s.value for s in histogram.samples if s.name.endswith("_count"))
    assert count == sum(s.value for s in requests.samples) >= 10


def test_only_metrics_is_served(server):
    _, port, _, _ = server
    assert scrape(port, "/")[0] == 404
    assert scrape(port, "/metrics/x")[0] == 404
    status, _, body = scrape(port, "/metrics", method="HEAD")
    assert status == 200 and body == ""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:   # not HTTP at all: closed
        sock.sendall(b"hello\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 404")


def test_exited_workers_keep_their_counts(server):
    master, port, path, app_dir = server
    for _ in range(12):
        get(master.port, "/")
    before = total(parse(scrape(port)[2])[0], "gunicorn_requests_total")
    old = set(master.workers())
    ctl(path, "reload", app_dir)
    wait_for(lambda: not set(master.workers()) & old and len(master.workers()) == 2, 20, what="new workers")
    samples, _ = parse(scrape(port)[2])
    assert total(samples, "gunicorn_requests_total") >= before
    assert total(samples, "gunicorn_requests_total", worker="exited") >= 12


def test_metrics_bind_in_use_is_one_error_line(tmp_path):
    app_dir = write_app(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(["-b", "127.0.0.1:0", "--no-control-socket", "--metrics-bind", f"127.0.0.1:{port}",
                        "pidapp:app"], app_dir)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == \
        f"fastwsgi: error: cannot listen on --metrics-bind 127.0.0.1:{port}: Address already in use"
    done = run_cli(["--metrics-bind", "unix:/tmp/x", "pidapp:app"], app_dir)
    assert done.returncode == 2 and "--metrics-bind" in done.stderr
