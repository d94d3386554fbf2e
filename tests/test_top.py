"""`fastwsgi ctl top` in a real terminal: tmux, 80x24, as an operator over ssh would run it."""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.support.master import Master, get, wait_for, write_app


def test_top_renders_in_80x24_and_updates(tmp_path):
    if tmux_missing():
        pytest.skip("NOT RUN: tmux is not installed")
    app_dir = write_app(tmp_path)
    path = os.path.join(app_dir, "ctl.sock")
    master = Master(["-w", "2", "--control-socket", path, "pidapp:app"], app_dir)
    tmux = ["tmux", "-L", f"fastwsgi-test-{os.getpid()}", "-f", "/dev/null"]
    command = f"{sys.executable} -m fastwsgi ctl -s {path} top"
    env = dict(os.environ, TERM="xterm-256color")
    subprocess.run(tmux + ["new-session", "-d", "-x", "80", "-y", "24", command], check=True, env=env, timeout=10)
    try:
        def screen():
            out = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True, timeout=10).stdout
            return out.splitlines()

        def total(lines):
            for line in lines:
                found = re.search(r"total (\d+)", line)
                if found:
                    return int(found.group(1))
            return None

        first = wait_for(lambda: (lines := screen()) and total(lines) is not None and lines, 10, interval=0.1,
                         what="the top view")
        assert first[0].startswith(f"fastwsgi pid {master.pid} ")
        assert all(len(line) <= 80 for line in first)
        rows = [line for line in first if re.match(r"\s*\d+\s+\d+\s+\d+\s+serving", line)]
        assert sorted(int(row.split()[0]) for row in rows) == master.workers()
        before = total(first)
        for _ in range(15):
            assert get(master.port, "/")[0] == 200
        started = time.monotonic()
        wait_for(lambda: total(screen()) == before + 15, 5, interval=0.1, what="the view to count 15 more")
        assert time.monotonic() - started < 4.0
        subprocess.run(tmux + ["send-keys", "q"], timeout=10)
        wait_for(lambda: subprocess.run(tmux + ["has-session"], capture_output=True).returncode != 0, 5,
                 what="top to quit on q")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=10)


def tmux_missing():
    return shutil.which("tmux") is None
