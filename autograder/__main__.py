"""``python -m autograder``: the command-line entry point."""

import os
import sys

from autograder.cli import INTERRUPTED, main

code = main()
if code == INTERRUPTED:  # the cleanups have run; skip the interpreter's teardown (torch's: about a second)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
