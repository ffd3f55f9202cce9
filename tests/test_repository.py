"""The repository stands on its own: its contract is in it, and a built wheel holds every check."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

SHARED_CONTRACT = ROOT.parent / "shared" / "EXERCISES.md"


def test_the_contract_lives_in_the_repository():
    contract = (ROOT / "docs" / "EXERCISES.md").read_text(encoding="utf-8")
    assert "outliers.py" in contract and "regularization.py" in contract
    assert "docs/EXERCISES.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(not SHARED_CONTRACT.exists(), reason="no shared copy of the contract beside this clone")
def test_the_contract_copy_matches_the_course_s_shared_copy():
    assert (ROOT / "docs" / "EXERCISES.md").read_bytes() == SHARED_CONTRACT.read_bytes()


def test_a_built_wheel_holds_the_public_and_hidden_checks(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("autograder/checks/core.py", "autograder/checks/public/losses.py",
                   "autograder/checks/hidden/losses.py", "autograder/protocols.py"):
        assert needed in names, needed
