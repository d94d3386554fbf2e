"""statsd: gunicorn's metrics reach a UDP listener in batched datagrams; the client and its packing without servers."""
import logging
import socket
import time

import pytest

from fastwsgi.statsd import MAX_DATAGRAM, MAX_TIMINGS, LogCounter, Statsd, install, metric_prefix, pack
from tests.support.master import Master, get, write_app

STATUS_APP = '''\
def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/boom":
        raise RuntimeError("boom")
    status = "404 Not Found" if path == "/missing" else "200 OK"
    start_response(status, [("Content-Length", "2")])
    return [b"ok"]
'''


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def receive_until(sock, done, timeout: float = 10.0) -> list:
    """Datagrams (decoded) received until done(lines) holds for all lines so far; bounded by timeout."""
    datagrams: list = []
    deadline = time.monotonic() + timeout
    while not done([line for d in datagrams for line in d.split("\n")]):
        assert time.monotonic() < deadline, f"statsd lines incomplete after {timeout}s: {datagrams}"
        try:
            datagrams.append(sock.recv(65536).decode())
        except socket.timeout:
            pass
    return datagrams


def totals(lines: list, kind: str) -> dict:
    """{name: summed value} of the lines of one type ('c', 'g', 'ms'), tags stripped."""
    out: dict = {}
    for line in lines:
        name, _, rest = line.partition(":")
        fields = rest.split("|")
        if len(fields) >= 2 and fields[1] == kind:
            out[name] = out.get(name, 0) + float(fields[0])
    return out


def test_metrics_reach_a_udp_listener(tmp_path, listener):
    write_app(tmp_path, "statusapp", STATUS_APP)
    host, port = listener.getsockname()
    master = Master(["-w", "2", "--statsd-host", f"{host}:{port}", "--statsd-prefix", "shop.",
                     "--dogstatsd-tags", "env:test,team:web", "statusapp:application"], tmp_path)
    for path in ("/", "/", "/", "/missing", "/boom"):
        get(master.port, path)

    def complete(lines):
        counters = totals(lines, "c")
        return (counters.get("shop.gunicorn.requests", 0) >= 6  # 5 here + the readiness probe
                and counters.get("shop.gunicorn.request.status.404") == 1
                and counters.get("shop.gunicorn.request.status.500") == 1
                and counters.get("shop.gunicorn.log.exception", 0) >= 1
                and "shop.gunicorn.workers" in totals(lines, "g")
                and totals(lines, "ms"))

    datagrams = receive_until(listener, complete)
    lines = [line for d in datagrams for line in d.split("\n")]
    assert all(len(d.encode()) <= MAX_DATAGRAM for d in datagrams)
    assert all(line.endswith("|#env:test,team:web") for line in lines), lines
    assert totals(lines, "c")["shop.gunicorn.request.status.200"] >= 4
    assert totals(lines, "g")["shop.gunicorn.workers"] == 2
    durations = [line for line in lines if line.startswith("shop.gunicorn.request.duration:")]
    assert all(0 <= float(line.split(":")[1].split("|")[0]) < 5000 for line in durations)
    # batched: a worker's requests of one tick share a datagram
    assert any("gunicorn.requests" in d and "gunicorn.request.duration" in d for d in datagrams)
    assert master.stop() == 0


# ------------------------------------------------------------------------------------------------ without servers

def test_prefix():
    assert metric_prefix("") == ""
    assert metric_prefix("app") == "app."
    assert metric_prefix("app...") == "app."
    assert metric_prefix("a.b") == "a.b."


def test_pack_keeps_datagrams_under_the_limit():
    lines = [f"gunicorn.request.status.{n}:1|c".encode() for n in range(400)]
    datagrams = pack(lines)
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    assert b"\n".join(datagrams).split(b"\n") == lines
    assert len(datagrams) == -(-len(b"\n".join(lines)) // MAX_DATAGRAM)  # as few as fit (short, equal lines)
    assert pack([b"x" * 2000, b"y"]) == [b"x" * 2000, b"y"]
    assert pack([]) == []


def test_lines_aggregate_and_sample(listener):
    client = Statsd("{}:{}".format(*listener.getsockname()), "p", "k:v")
    try:
        total = MAX_TIMINGS * 10
        for n in range(total):
            client.request({}, "200 OK" if n % 2 else "503 Service Unavailable", [], 0, 0.002)
        client.incr("gunicorn.log.error")
        client.gauge("gunicorn.workers", 3)
        lines = client.lines()
        assert f"p.gunicorn.requests:{total}|c|#k:v" in lines
        assert f"p.gunicorn.request.status.200:{total // 2}|c|#k:v" in lines
        assert f"p.gunicorn.request.status.503:{total // 2}|c|#k:v" in lines
        timings = [line for line in lines if "|ms" in line]
        assert len(timings) == MAX_TIMINGS
        assert timings[0] == "p.gunicorn.request.duration:2.000|ms|@0.1|#k:v"
        assert "p.gunicorn.log.error:1|c|#k:v" in lines and "p.gunicorn.workers:3|g|#k:v" in lines
        assert client.lines() == []  # reset
        client.request({}, "200 OK", [], 0, 0.5)
        client.flush()
        assert listener.recv(65536) == (b"p.gunicorn.requests:1|c|#k:v\np.gunicorn.request.status.200:1|c|#k:v\n"
                                        b"p.gunicorn.request.duration:500.000|ms|#k:v")
    finally:
        client.close()


def test_flush_never_raises_without_a_listener():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        address = "{}:{}".format(*sock.getsockname())
    client = Statsd(address)
    try:
        for _ in range(3):
            client.request({}, "200 OK", [], 0, 0.001)
            client.flush()  # ECONNREFUSED from the previous datagram is swallowed
            time.sleep(0.01)
    finally:
        client.close()
    Statsd("unix:/nonexistent/statsd.sock").flush()


def test_log_counter_and_install(listener):
    class Cfg:
        statsd_host = "{}:{}".format(*listener.getsockname())
        statsd_prefix = ""
        dogstatsd_tags = ""

    logger = logging.getLogger("fastwsgi.test_statsd")
    logger.propagate = False
    client = install(Cfg, logger)
    try:
        assert client is not None
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        try:
            raise ValueError("x")
        except ValueError:
            logger.exception("x")
        logger.info("not counted")
        assert client.counters == {"gunicorn.log.warning": 1, "gunicorn.log.error": 1,
                                   "gunicorn.log.critical": 1, "gunicorn.log.exception": 1}
        Cfg.statsd_host = None
        assert install(Cfg, logger) is None
        assert not [h for h in logger.handlers if isinstance(h, LogCounter)] and client.sock is None
    finally:
        client.close()


def test_statsd_settings():
    from fastwsgi.config import load_config
    from fastwsgi.errors import ConfigError

    def host(value):
        return load_config(["--statsd-host", value, "m:app"], {}, config_default_dir=None).statsd_host

    assert host("localhost") == "localhost:8125"
    assert host("10.0.0.1:9125") == "10.0.0.1:9125"
    assert host("[::1]:9125") == "[::1]:9125"
    assert host("unix:/run/statsd.sock") == "unix:/run/statsd.sock"
    for bad in ("host:port", "host:0", ":8125", "unix:"):
        with pytest.raises(ConfigError, match="statsd-host"):
            host(bad)
    cfg = load_config(["m:app"], {}, config_default_dir=None)
    assert cfg.statsd_host is None and cfg.statsd_prefix == "" and cfg.dogstatsd_tags == ""


def test_statsd_settings_from_each_source(tmp_path):
    from fastwsgi.config import ENV_ARGS, load_config

    (tmp_path / "fastwsgi.conf.py").write_text("statsd_host = 'a:1'\nstatsd_prefix = 'p'\ndogstatsd_tags = 't:1'\n")
    cfg = load_config([], {}, config_default_dir=str(tmp_path))
    assert (cfg.statsd_host, cfg.statsd_prefix, cfg.dogstatsd_tags) == ("a:1", "p", "t:1")
    cfg = load_config(["--statsd-prefix", "q"], {ENV_ARGS: "--statsd-host b --dogstatsd-tags t:2"},
                      config_default_dir=str(tmp_path))
    assert (cfg.statsd_host, cfg.statsd_prefix, cfg.dogstatsd_tags) == ("b:8125", "q", "t:2")
    assert [cfg.sources[name] for name in ("statsd_host", "statsd_prefix", "dogstatsd_tags")] == [
        "env", "command line", "env"]


def test_backlog_metric(tmp_path, listener):
    """--enable-backlog-metric: gunicorn.backlog reaches statsd as gunicorn sends it (a histogram), counting the
    connections that wait in the listen queue while the only worker is stuck in a call."""
    import threading

    write_app(tmp_path)
    host, port = listener.getsockname()
    master = Master(["-w", "1", "--statsd-host", f"{host}:{port}", "--enable-backlog-metric", "--no-control-socket",
                     "pidapp:app"], tmp_path)
    hold = threading.Thread(target=lambda: get(master.port, "/sleep/3", timeout=20), daemon=True)
    hold.start()
    time.sleep(0.3)
    waiting = [socket.create_connection(("127.0.0.1", master.port), timeout=10) for _ in range(3)]
    try:
        def seen(lines):
            return any(line.startswith("gunicorn.backlog:") and line.split(":")[1].split("|")[0] == "3"
                       for line in lines)

        lines = [line for d in receive_until(listener, seen) for line in d.split("\n")]
        assert all(line.endswith("|h") for line in lines if line.startswith("gunicorn.backlog:"))
    finally:
        for sock in waiting:
            sock.close()
        hold.join(20)
    assert master.stop() == 0
