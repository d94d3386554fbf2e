"""The access log: its atoms, off by default, to stdout with '-', reopened on USR1."""
import os
import signal

from tests.support.master import Master, get, wait_for


def test_access_log_atoms(app_dir):
    fmt = ('%(h)s|%(l)s|%(u)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%(b)s|%(f)s|%(a)s|%(p)s|'
           '%({x-custom}i)s|%({x-pid}o)s|%(REQUEST_METHOD)s|%({PATH_INFO}e)s|%(T)s|%(M)s|%(D)s|%(L)s|%(t)s')
    fmt = fmt.replace("%(REQUEST_METHOD)s|", "")
    log = app_dir / "access.log"
    master = Master(["--access-logfile", str(log), "--access-logformat", fmt, "pidapp:app"], app_dir)
    try:
        status, body, headers = get(master.port, "/a/b?x=1", headers={"X-Custom": "c1", "Referer": "http://r/",
                                                                       "User-Agent": "ua/1"})
        wait_for(lambda: "/a/b?x=1" in log.read_text(), 5, what="access line")
    finally:
        master.stop()
    line = [entry for entry in log.read_text().splitlines() if "/a/b?x=1" in entry][0]
    parts = line.split("|")
    assert parts[:14] == ["127.0.0.1", "-", "-", "GET /a/b?x=1 HTTP/1.1", "GET", "/a/b", "x=1", "HTTP/1.1", "200",
                          str(len(body)), str(len(body)), "http://r/", "ua/1", f"<{headers['X-Pid']}>"]
    assert parts[14:17] == ["c1", headers["X-Pid"], "/a/b"]
    assert parts[17] == "0" and int(parts[18]) < 1000 and int(parts[19]) < 1000000 and float(parts[20]) < 1
    assert parts[21].startswith("[") and parts[21].endswith("]")


def test_access_log_off_by_default_and_to_stdout(app_dir):
    master = Master(["pidapp:app"], app_dir)
    get(master.port, "/quiet")
    master.stop()
    assert "/quiet" not in master.log()
    master = Master(["--access-logfile", "-", "pidapp:app"], app_dir)
    get(master.port, "/loud")
    master.wait_log(r'"GET /loud HTTP/1.1" 200', 5)
    master.stop()


def test_usr1_reopens_access_log(master_factory, app_dir):
    access = app_dir / "access.log"
    master = master_factory("-w", "1", "--access-logfile", str(access), "pidapp:application")
    wait_for(lambda: access.exists() and access.read_text().count("GET / ") >= 1, 5, what="access line")
    os.rename(access, app_dir / "access.log.1")
    master.signal(signal.SIGUSR1)
    # the worker reopens on its next tick (about a second); lines logged before that still go to the old file

    def logged_in_new_file():
        get(master.port, "/after")
        return access.exists() and "GET /after HTTP/1.1" in access.read_text()

    wait_for(logged_in_new_file, 5, interval=0.2, what="line in the new file")
    assert "GET / HTTP/1.1" in (app_dir / "access.log.1").read_text()
