"""`python -m fastwsgi [OPTIONS] MODULE:APP`."""
import sys

from fastwsgi.cli import main

if __name__ == "__main__":
    sys.exit(main())
