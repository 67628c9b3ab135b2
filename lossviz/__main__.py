"""``python -m lossviz``: the command line lives in :mod:`lossviz.cli`, the bench in :mod:`lossviz.bench`."""

import sys

from lossviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
