"""Build the Cython extension fastwsgi._core from ext/.

Switches (environment variables):
  FASTWSGI_DEBUG=1     keep asserts, add line tracing off, build with -O0 -g
  FASTWSGI_ANNOTATE=1  write Cython's HTML annotation next to the sources
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTWSGI_DEBUG") == "1"

extension = Extension(
    "fastwsgi._core",
    ["ext/fastwsgi/_core.pyx"],
    extra_compile_args=["-O0", "-g"] if DEBUG else ["-O2"],
    define_macros=[("FASTWSGI_DEBUG", "1" if DEBUG else "0")],
)

setup(
    ext_modules=cythonize(
        [extension],
        language_level=3,
        include_path=["ext"],
        annotate=os.environ.get("FASTWSGI_ANNOTATE") == "1",
        compiler_directives={
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
)
