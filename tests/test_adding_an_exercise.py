"""CONTRIBUTING.md's "Adding an exercise", followed step by step with a toy exercise (``neurons.relu``)
in a copy of the repository: the copy's own tests and grader must then accept it, the solution
at full marks and a mutant caught, and the edits stay within the files the checklist names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.timeout(900)

# Step by step, the files CONTRIBUTING.md tells a contributor to edit by hand ...
HAND_EDITED = {
    "docs/contract.md": "1. the contract's row",
    "autograder/course/modules/neurons.py": "2. the record: points, forbidden ops, hints, mistakes",
    "solutions/neurons.py": "3. the solution",
    "autograder/checks/public/neurons.py": "4. public checks",
    "autograder/checks/hidden/neurons.py": "4. hidden checks",
    "lessons/02_neurons.md": "6. the lesson",
}
# ... and the ones its commands regenerate (`make stubs`, `make notebooks`).
GENERATED = {"exercises/neurons.py", "source/02_neurons/neurons.ipynb", "README.md"}  # README: its assignment table

CONTRACT_ROW = (
    "| `relu(x)` | elementwise max(x, 0), slope 0 at x = 0 (as autograd gives `torch.relu`) "
    "| `torch.relu` | yes | `aten.relu` |\n"
)

RECORD = """

def _relu_abs(x):
    return x.abs()


EXERCISES += (
    Exercise(
        "neurons",
        "relu",
        1,
        "torch.relu",
        forbidden=("relu",),
        advice="keep x where it is positive with torch.where",
        hints=("ReLU keeps positive values and replaces the others by 0.", "torch.where(x > 0, x, 0 * x)."),
        mistakes=(Mistake("the absolute value instead of max(x, 0)", "negative inputs give 0, not -x", (_relu_abs,)),),
    ),
)
"""

SOLUTION = '''

def relu(x):
    """Rectified linear unit, elementwise: max(x, 0).

    Shapes: any tensor ``x`` in, a tensor of the same shape, dtype and device out.

    Example:
        >>> relu(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 2.])

    Forbidden: ``torch.relu`` / ``F.relu`` / ``nn.ReLU`` (ATen ``aten.relu``).
    """
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, torch.zeros_like(x))
    ### END SOLUTION
'''

CHECKS = """
CHECKS += [
    call_check("neurons.relu", torch.relu)(
        "{name}", lambda g: Inputs((torch.randn((3, 4), generator=g, dtype={dtype}),), names=("x",)), grad=True
    ),
]
"""

LESSON = """
<!-- markdown -->
## A second activation: ReLU

ReLU keeps a positive input as it is and turns every other input into 0. Write it.

<!-- answer neurons.relu -->

<!-- check neurons.relu -->
"""


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _insert_after_table_row(path: Path, after: str, row: str) -> None:
    text = path.read_text(encoding="utf-8")
    start = text.index(after)
    end = text.index("\n", start) + 1
    path.write_text(text[:end] + row + text[end:], encoding="utf-8")


def follow_the_checklist(repo: Path) -> None:
    """CONTRIBUTING.md's "Adding an exercise", for ``neurons.relu``: its mistake's variant is the zoo's mutant."""
    _insert_after_table_row(repo / "docs/contract.md", "| `sensitive_mask(activation, x, min_slope=0.1)`", CONTRACT_ROW)
    _append(repo / "autograder/course/modules/neurons.py", RECORD)
    _append(repo / "solutions/neurons.py", SOLUTION)
    _append(repo / "autograder/checks/public/neurons.py", CHECKS.format(name="float64, (3, 4), gradients", dtype="f64"))
    _append(repo / "autograder/checks/hidden/neurons.py", "\nfrom autograder.checks.core import Inputs, call_check\n")
    _append(repo / "autograder/checks/hidden/neurons.py", CHECKS.format(name="float32, (3, 4), gradients", dtype="f32"))
    _append(repo / "lessons/02_neurons.md", LESSON)


def _run(args, repo: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, **kw)


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of this working tree (tracked and untracked files git does not ignore), as a fresh git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    )
    copy = tmp_path_factory.mktemp("adding") / "repo"
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_bytes(src.read_bytes())
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    _git(copy, "commit", "-q", "-m", "before")
    follow_the_checklist(copy)
    for verb in ("stubs", "notebooks"):
        proc = _run([sys.executable, "-m", "autograder", verb], copy, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return copy


def test_the_copy_runs_its_own_package(repo):
    proc = _run([sys.executable, "-c", "import autograder; print(autograder.__file__)"], repo, timeout=60)
    assert proc.stdout.strip().startswith(str(repo)), proc.stdout


def test_the_checklist_touches_only_the_files_it_names(repo):
    changed = {line[3:] for line in _git(repo, "status", "--porcelain").splitlines()}
    assert changed == set(HAND_EDITED) | GENERATED
    print(f"adding an exercise: {len(HAND_EDITED)} files edited by hand, {len(GENERATED)} regenerated")


def test_the_catalogue_hints_mistakes_and_list_know_the_new_exercise(repo):
    proc = _run([sys.executable, "-m", "autograder", "list"], repo, timeout=120)
    assert proc.returncode == 0 and "neurons.relu" in proc.stdout, proc.stdout + proc.stderr
    proc = _run([sys.executable, "-m", "autograder", "hint", "neurons.relu", "--submission", "exercises"], repo)
    assert "ReLU keeps positive values" in proc.stdout, proc.stdout + proc.stderr


def _pytest(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """The copy's own pytest run on ``args``; it must pass."""
    proc = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], repo, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def test_the_copy_s_own_fast_tests_pass(repo):
    """The catalogue against the contract, the stubs, the solutions' doctests (the new one too)."""
    _pytest(repo, "tests/test_catalogue.py", "tests/test_stubs.py", "solutions/neurons.py")


def test_the_solution_scores_full_marks_and_the_stub_is_not_started(repo):
    for submission, expected in (("solutions", "1/1"), ("exercises", "not started")):
        proc = _run(
            [sys.executable, "-m", "autograder", "grade", "--submission", submission, "--exercise", "neurons.relu"],
            repo,
            timeout=600,
        )
        assert expected in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_the_mutant_and_the_named_mistake_are_caught_by_the_copy_s_tests(repo):
    proc = _pytest(repo, "tests/test_mutants.py", "tests/test_mistakes.py", "-k", "relu_abs or absolute")
    # the mistake's one variant, graded as the zoo's mutant (taken from the record) and named by its check
    assert re.search(r"^2 passed", proc.stdout, re.M), proc.stdout[-2000:]
