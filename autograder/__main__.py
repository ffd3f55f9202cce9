"""``python -m autograder``: the command-line entry point."""

import os
import sys

from autograder.cli import INTERRUPTED, main

# verbs whose cleanups all run in ``with`` and ``finally`` blocks before ``main`` returns: nothing is
# left for the interpreter's teardown, which for torch takes about a second (and a Ctrl-C landing in
# it would kill the process with no word, after the table was printed)
NO_TEARDOWN = ("grade", "hint", "repro", "list")

code = main()
if code == INTERRUPTED or sys.argv[1:2] and sys.argv[1] in NO_TEARDOWN:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
