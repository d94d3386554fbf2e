"""A small SQLite read per request: one row by primary key from a 1,000-row table, as JSON.

Each worker process creates its own database file in a temporary directory on its first request (servers that
import the app before forking still get one per process) and removes it at exit; each thread opens its own
read-only connection. The key cycles through the table. sqlite3 releases the GIL while SQLite works.
"""
import atexit
import itertools
import os
import shutil
import sqlite3
import tempfile
import threading

ROWS = 1000
QUERY = "SELECT id, name, price FROM items WHERE id = ?"

_lock = threading.Lock()
_db = {"pid": None, "path": None}
_local = threading.local()
_keys = itertools.count()


def _create():
    tmp = tempfile.mkdtemp(prefix="fastwsgi-bench-sqlite-")
    atexit.register(shutil.rmtree, tmp, True)
    path = os.path.join(tmp, "bench.db")
    con = sqlite3.connect(path)
    try:
        with con:
            con.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL)")
            con.executemany("INSERT INTO items VALUES (?, ?, ?)",
                            ((i, f"item-{i:04d}", i * 37 % 1000) for i in range(1, ROWS + 1)))
    finally:
        con.close()
    return path


def _path(pid):
    """This process's database, created on first use (path published before pid, so readers see both)."""
    if _db["pid"] != pid:
        with _lock:
            if _db["pid"] != pid:
                _db["path"] = _create()
                _db["pid"] = pid
    return _db["path"]


def _connection():
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _local.con = sqlite3.connect(f"file:{_path(pid)}?mode=ro", uri=True)
        _local.pid = pid
    return _local.con


def app(environ, start_response):
    key = next(_keys) % ROWS + 1
    row = _connection().execute(QUERY, (key,)).fetchone()
    body = b'{"id": %d, "name": "%s", "price": %d}' % (row[0], row[1].encode(), row[2])
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
