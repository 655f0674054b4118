"""`python main.py ...` is the same as the `ser-live` console script."""
import sys

from ser_live.cli import main

if __name__ == "__main__":
    sys.exit(main())
