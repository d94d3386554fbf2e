"""What the fuzz targets share: the command line, the seed corpus and the piece sizes read from an input.

A target is a script: `python tests/fuzz/fuzz_NAME.py [libFuzzer options] [CORPUS_DIR...]`. With no corpus
directory it fuzzes into ./corpus-NAME (created), seeded from a temporary directory of inputs the target builds from
tests/requests/ and the test vectors; crash inputs are written to the working directory as crash-<sha1>
(libFuzzer's -artifact_prefix). Run one crash input again with `python tests/fuzz/fuzz_NAME.py crash-<sha1>`.
"""
import inspect
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import atheris  # noqa: E402


def pieces(data, at, count):
    """(piece sizes or None for whole, the rest of data): count bytes of data from `at` give sizes 1 to 256."""
    sizes = [b + 1 for b in data[at:at + count]]
    return sizes or None, data[at + count:]


def sizes_prefix(sizes):
    """The bytes pieces() reads back as these sizes (each 1 to 256)."""
    return bytes(s - 1 for s in sizes)


def main(name, test_one_input, seeds):
    """Fuzz test_one_input from the command line, seeded with seeds (bytes) unless corpus directories are given.

    The target's functions and tests.support.corpus are instrumented (the checks: the only coverage signal on a build
    without libFuzzer's coverage of the C, FASTWSGI_SANITIZE=fuzz); instrumenting everything loaded costs seconds."""
    from tests.support import corpus

    for module in (sys.modules[test_one_input.__module__], corpus):
        for obj in list(vars(module).values()):
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                atheris.instrument_func(obj)
    args = list(sys.argv)
    if not [a for a in args[1:] if not a.startswith("-")]:
        work = os.path.abspath(f"corpus-{name}")
        os.makedirs(work, exist_ok=True)
        seed_dir = tempfile.mkdtemp(prefix=f"fuzz-{name}-seeds-")
        for i, seed in enumerate(seeds):
            with open(os.path.join(seed_dir, f"seed-{i:04d}"), "wb") as f:
                f.write(seed)
        args += [work, seed_dir]
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
