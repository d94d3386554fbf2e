"""The gunicorn command lines of real deployments (tests/deployments/command_lines.txt: Django's and Flask's docs,
Heroku, Render, Cloud Run, Fly, Docker, systemd, Azure, Elastic Beanstalk, Superset, FastAPI) run with fastwsgi in
place of gunicorn: each starts, serves, logs where it says and stops with 0 on TERM, or is refused in one line."""
import json
import os
import re
import shlex

import pytest

from fastwsgi.config import build_parser
from tests.support.master import Master, free_port, get, run_cli, write_app

DEPLOYMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deployments")


def _entries():
    with open(os.path.join(DEPLOYMENTS, "command_lines.txt")) as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                name, expect, command = (part.strip() for part in line.split("|", 2))
                yield pytest.param(expect, command, id=name)


def _argv(command: str, port: int) -> list:
    """The gunicorn arguments of a Procfile/Dockerfile/systemd line, $PORT and every bind made 127.0.0.1:port."""
    for prefix in ("web:", "CMD", "exec", "ExecStart="):
        command = command.strip()
        if command.startswith(prefix):
            command = command[len(prefix):]
    command = command.strip().replace("$PORT", str(port))
    words = json.loads(command) if command.startswith("[") else shlex.split(command)
    if words[:3] == ["python", "-m", "gunicorn"]:
        words = words[2:]
    assert os.path.basename(words[0]) == "gunicorn", command
    args, bound, rest = [], False, words[1:]
    while rest:
        word = rest.pop(0)
        if word in ("-b", "--bind"):
            rest.pop(0)
            word, bound = f"--bind=127.0.0.1:{port}", True
        elif word.startswith(("--bind=", "-b")) and word != "-b":
            word, bound = f"--bind=127.0.0.1:{port}", True
        args.append(word)
    return args if bound else ["--bind", f"127.0.0.1:{port}", *args]


TEST_APP = ("from pidapp import application\napp = application\n\n\ndef create_app(*args, **kwargs):\n"
            "    return application\n")


def _write_apps(directory, args: list) -> None:
    """A test app under every module name the command line gives (myproject.wsgi, hello, superset.app...)."""
    write_app(directory)
    parser = build_parser()
    spec = parser.parse_args(args).__dict__.get("app_uri") or ""
    module = spec.partition(":")[0]
    if not module:
        return
    parts = module.split(".")
    for depth in range(1, len(parts)):
        package = directory.joinpath(*parts[:depth])
        package.mkdir(exist_ok=True)
        (package / "__init__.py").touch()
    directory.joinpath(*parts[:-1], parts[-1] + ".py").write_text(TEST_APP)


ACCESS_LINE = r'"GET /deploy HTTP/1\.1" 200 '


@pytest.mark.parametrize("expect, command", _entries())
def test_command_line_deployment(tmp_path, expect, command):
    port = free_port()
    args = _argv(command, port)
    if expect.startswith("refuse:"):
        write_app(tmp_path)
        result = run_cli(args, tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("fastwsgi: error: "), result.stderr
        assert expect[len("refuse:"):].strip() in lines[0]
        return
    _write_apps(tmp_path, args)
    master = Master(args, tmp_path, bind=None, env={"PORT": str(port)})
    try:
        assert master.port == port
        status, body, _ = get(port, "/deploy")
        assert status == 200 and int(body) in master.workers()
        assert "Booting worker" in master.log()            # the error log: stderr, unless the line says otherwise
        if "access=-" in expect:
            master.wait_log(ACCESS_LINE)
        else:
            assert not re.search(ACCESS_LINE, master.log()), "no access log unless the line asks for one"
        if "--worker-tmp-dir" in args:
            assert len(re.findall(r"worker_tmp_dir: no effect: .*shared-memory", master.log())) == 1
    finally:
        code = master.stop()
    assert code == 0, master.log()
    assert "Shutting down" in master.log() or "Handling signal: term" in master.log()
