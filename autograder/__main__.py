"""``python -m autograder``: the command-line entry point."""

import sys

from autograder.cli import main

sys.exit(main())
