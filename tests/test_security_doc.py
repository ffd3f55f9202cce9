"""docs/security.md claims only what a test proves: every test it names exists, in the file it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.pure


def _defined(path: Path) -> set[str]:
    return set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))


def _named() -> list[tuple[str | None, str]]:
    """(file or None, test) for every test the doc names in backticks."""
    found = [(f, t) for f, t in re.findall(r"`(tests/test_\w+\.py)::(test_\w+)", DOC)]
    found += [(None, t) for t in re.findall(r"`(test_\w+)`", DOC)]
    return found


def test_the_doc_names_tests():
    assert len(_named()) > 30


@pytest.mark.parametrize(("file", "test"), sorted(set(_named()), key=str))
def test_every_test_the_security_doc_names_exists(file, test):
    if file is not None:
        assert test in _defined(ROOT / file), f"docs/security.md names {file}::{test}, which is not there"
    else:  # a bare name: in test_walls.py as the doc says, or (older rows) in some test file
        everywhere = set().union(*(_defined(p) for p in (ROOT / "tests").glob("test_*.py")))
        assert test in everywhere, f"docs/security.md names {test}, which no test file defines"
