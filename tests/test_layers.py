"""The layers of ext/ (issue 24): http/ (framing, fields, environ, the answer, the Exchange: no sockets) is joined
before io/ (loop, connection, pool, TLS, PROXY) in the one extension module, and no file of http/ names anything
io/ defines, so every call goes down; no ext file imports from the Python package above it (src/fastwsgi)."""
import re
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parent.parent / "ext" / "fastwsgi"
if not EXT.is_dir():
    pytest.skip(f"the Cython sources are not at {EXT} (an installed copy without them)", allow_module_level=True)

DEFINED = re.compile(r"^(?:cdef (?:class|enum|struct)|ctypedef .*?|cdef [\w\s\*]+?)\s*(\w+)\s*[(:]", re.M)
ENUM_MEMBER = re.compile(r"^    ([A-Z][A-Z0-9_]+)\s*(?:=|#|$)", re.M)


def names_defined(folder):
    names = set()
    for path in sorted((EXT / folder).glob("*.p*")):
        text = path.read_text()
        names.update(DEFINED.findall(text))
        names.update(ENUM_MEMBER.findall(text))
    return names


def code_of(path):
    """The file without its comments and strings (what names it uses)."""
    text = re.sub(r'""".*?"""', "", path.read_text(), flags=re.S)
    text = re.sub(r"#.*", "", text)
    return re.sub(r'"[^"\n]*"|\'[^\'\n]*\'', "", text)


def test_the_folders_are_the_layers():
    assert sorted(p.name for p in EXT.iterdir() if p.is_dir() and not p.name.startswith("_")) == ["http", "io"]
    includes = re.findall(r'^include "(\w+)/', (EXT / "_core.pyx").read_text(), re.M)
    assert includes == sorted(includes, key=["http", "io"].index), "http/ is joined before io/"
    for name in ("_core.pyx", "_core.pxd"):
        for included in re.findall(r'^include "([\w/]+\.px?d?x?)"', (EXT / name).read_text(), re.M):
            assert (EXT / included).is_file(), included


def test_http_names_nothing_of_io():
    io_names = names_defined("io") - {"Request"}
    assert {"Loop", "Connection", "Pool", "Job", "TlsSession", "ProxyHeader", "Watcher"} <= io_names
    for path in sorted((EXT / "http").glob("*.p*")):
        used = set(re.findall(r"\b\w+\b", code_of(path)))
        assert not used & io_names, f"{path.name} names {sorted(used & io_names)} of io/"


def test_no_ext_file_imports_the_package_above_it():
    for path in sorted(EXT.rglob("*.p*")):
        for line in code_of(path).splitlines():
            m = re.match(r"\s*(?:from\s+(fastwsgi\.\w+)\s+(?:c?import)|import\s+(fastwsgi\.\w+))", line)
            if m:
                module = m.group(1) or m.group(2)
                assert module in ("fastwsgi.system", "fastwsgi.buffer", "fastwsgi.iterate", "fastwsgi.nghttp2",
                                  "fastwsgi.uring"), \
                    f"{path}: {line.strip()}"


def test_files_stay_readable():
    for path in sorted(EXT.rglob("*.pyx")):
        assert len(path.read_text().splitlines()) <= 620, f"{path.relative_to(EXT)} is over ~600 lines"
