"""Fixtures shared by every test module; the logic lives in tests/support/ (server.py, master.py, client.py)."""
import signal

import pytest

from tests.support import client, master
from tests.support.master import Master, write_app
from tests.support.server import ROUTER, Pool

TEST_DEADLINE = 120  # seconds; a hung test fails instead of hanging the suite


@pytest.fixture(scope="session")
def _pool():
    pool = Pool()
    yield pool
    problems = pool.close()
    assert not problems, "\n\n".join(problems)


@pytest.fixture(scope="session")
def serve(_pool):
    """serve(target, validate=False, fresh=False, host="127.0.0.1", **options) -> Server; cached unless fresh."""
    return _pool.serve


@pytest.fixture(scope="session")
def server(serve):
    """The shared router server (tests.support.apps:app) with default options."""
    return serve(ROUTER)


@pytest.fixture
def connect(server):
    """connect(port=None, **kw) -> client.Client, closed after the test."""
    clients = []

    def factory(port=None, **kw):
        c = client.Client(port or server.port, **kw)
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.close()


@pytest.fixture(autouse=True)
def _servers_survive(_pool):
    """Fail the test during which a server process died, with its log."""
    yield
    dead = _pool.dead()
    if dead:
        pytest.fail("\n\n".join(f"server {srv.target} died during this test: {crash}" for srv, crash in dead))


@pytest.fixture
def app_dir(tmp_path):
    """tmp_path with tests/support/pidapp.py copied in: where master tests start `python -m fastwsgi pidapp:...`."""
    write_app(tmp_path)
    return tmp_path


@pytest.fixture
def master_factory(app_dir):
    """master_factory(*args, **kwargs) -> a running Master in app_dir, stopped after the test."""
    started = []

    def make(*args, **kwargs):
        m = Master(list(args), app_dir, **kwargs)
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()


@pytest.fixture(autouse=True)
def _masters_stopped():
    """Every Master a test started is stopped at teardown, even after a failure."""
    yield
    master.stop_all()


@pytest.fixture(autouse=True)
def _deadline():
    """Bound every test in time (there is no pytest-timeout here)."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_DEADLINE}s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_DEADLINE)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
