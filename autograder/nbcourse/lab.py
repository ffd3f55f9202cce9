"""`make lab`'s preparation: publish release/ to a copy's own nbgrader exchange, in one process.

Only for a copy without a course exchange (a learner's bundle, a laptop): JupyterLab's Assignments
tab then lists every released assignment. nbgrader's own exchange classes copy them, as
`nbgrader release_assignment` would (one process per assignment, several seconds each).

Usage (in the course or bundle folder, whose nbgrader_config.py names the course and exchange):
``python -m autograder.nbcourse.lab``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nbgrader.apps import NbGrader
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory


def publish(folder: Path) -> tuple[Path, list[str]]:
    """Publishes every assignment of ``folder/release`` unless the course has any in the exchange."""
    os.chdir(folder)  # nbgrader reads nbgrader_config.py from the working directory
    app = NbGrader()
    app.load_config_file()
    config = app.config
    exchange = ExchangeFactory(config=config)
    outbound = Path(exchange.exchange(config=config).root) / CourseDirectory(config=config).course_id / "outbound"
    if outbound.is_dir() and any(outbound.iterdir()):
        return outbound, []
    published = []
    for assignment in sorted(p.name for p in (folder / "release").iterdir() if p.is_dir()):
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment
        exchange.ReleaseAssignment(
            coursedir=coursedir, authenticator=Authenticator(config=config), config=config
        ).start()
        published.append(assignment)
    return outbound, published


def main(argv=None) -> int:
    outbound, published = publish(Path.cwd())
    if published:
        print(f"published {', '.join(published)} to this copy's exchange ({outbound})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
