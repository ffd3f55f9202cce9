"""The capstone: its full training run can be passed (PyTorch's loop and the solution both clear the
threshold), pooling before tanh is the same network, a stub or a missing module the capstone needs is
named, and a notebook finds the learner's other modules in their notebooks, in the kernel and in
the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from autograder.checks.public import capstone as public
from autograder.nbcourse import nbcycle, notebooks, siblings
from autograder.protocol.encoding import encode
from autograder.submissions import gradescope
from conftest import ROOT, SOLUTIONS, by_id, load_module

SOURCE = ROOT / "source"
EXERCISES = ROOT / "exercises"


def _full_run(fn):
    check = public.full_run_case()
    check.suite = "public"
    got = {k: encode(v) for k, v in check.run(fn, "cpu").items()}
    return check, got


@pytest.mark.pure
def test_pytorchs_own_loop_clears_the_full_runs_threshold():
    check, got = _full_run(public.reference_train_epoch)
    reached = check.accuracy(got["logits"])
    print(f"PyTorch's reference: {reached:.2%} of the test digits")
    assert reached >= check.threshold + 0.02  # a margin: the threshold is no coin toss


@pytest.mark.pure
def test_the_solution_passes_the_full_run():
    solution = load_module(SOLUTIONS, "capstone")
    check, got = _full_run(solution.train_epoch)
    print(f"the solution: {check.accuracy(got['logits']):.2%} of the test digits")
    assert check.verdict(got, check.expected("cpu")) is None


@pytest.mark.pure
def test_a_full_run_below_the_threshold_says_what_it_reached_and_needed():
    module = {"DigitNet": load_module(SOLUTIONS, "capstone").DigitNet}  # a learner's module, as a namespace
    exec("def train_epoch(model, images, labels, lr, l2=0.0, batch_size=32):\n    return 2.3\n", module)
    check, got = _full_run(module["train_epoch"])  # a loop that trains nothing
    message = check.verdict(got, check.expected("cpu"))
    assert message is not None and "it needs at least 90%" in message and "test digits right" in message


@pytest.mark.pure
def test_pooling_before_tanh_gives_the_same_values_and_gradients():
    """tanh never decreases, so the input that wins a window wins it after tanh too."""
    pooling, neurons = load_module(SOLUTIONS, "pooling"), load_module(SOLUTIONS, "neurons")
    z = torch.randn(3, 4, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3
    results = []
    for first in (True, False):
        leaf = z.clone().requires_grad_(True)
        out = pooling.max_pool2d(neurons.tanh(leaf), 2) if first else neurons.tanh(pooling.max_pool2d(leaf, 2))
        (grad,) = torch.autograd.grad(out, leaf, torch.ones_like(out))
        results.append((out.detach(), grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


@pytest.mark.pure
def test_mutants_of_digitnet_may_cost_train_epoch_the_full_run():
    from mutants import dependents

    assert dependents("capstone.DigitNet") == {"capstone.train_epoch"}
    assert dependents("capstone.accuracy") == set()


def test_a_stub_the_capstone_runs_is_named(tmp_path, warm_grader):
    sub = tmp_path / "submission"
    sub.mkdir()
    for module in ("capstone", "neurons", "pooling", "regularization"):
        (sub / f"{module}.py").write_text((SOLUTIONS / f"{module}.py").read_text())
    for module in ("convolution", "losses"):
        (sub / f"{module}.py").write_text((EXERCISES / f"{module}.py").read_text())
    found = by_id(warm_grader.grade(sub, ["capstone"]))
    assert "DigitNet needs your convolution.conv2d, which is not started" in found["capstone.DigitNet"].message
    train = found["capstone.train_epoch"]
    assert train.outcome == "not_started" and "needs your losses." in train.message, train.message
    assert found["capstone.accuracy"].outcome == "passed"


def test_a_module_the_capstone_imports_and_the_submission_lacks_is_named(tmp_path, warm_grader):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "capstone.py").write_text((SOLUTIONS / "capstone.py").read_text())
    for result in warm_grader.grade(sub, ["capstone"]).exercises:
        assert result.outcome == "error"
        assert "imports your convolution.py, which this submission does not hold" in result.message


def test_a_submission_without_capstone_py_scores_zero_there_and_keeps_its_other_points(tmp_path, warm_grader):
    """As the contract says: a submission of the seven earlier modules only (made before the capstone)."""
    sub = tmp_path / "submission"
    sub.mkdir()
    for module in ("convolution", "losses", "neurons", "pooling", "regularization"):
        (sub / f"{module}.py").write_text((SOLUTIONS / f"{module}.py").read_text())
    found = by_id(warm_grader.grade(sub, ["capstone", "pooling"]))
    assert found["pooling.max_pool2d"].outcome == "passed"
    for name in ("DigitNet", "train_epoch", "accuracy"):
        result = found[f"capstone.{name}"]
        assert result.outcome == "error" and result.score == 0, result.message
        assert "the submission has no capstone.py" in result.message


def test_a_correct_float_result_earns_no_host_advice(warm_grader):
    found = by_id(warm_grader.grade(SOLUTIONS, ["capstone"]))
    for result in found.values():
        assert result.outcome == "passed" and result.score == result.max_score, result.message
        assert not any("moves data to the host" in n for n in result.notes), result.notes


@pytest.mark.pure
def test_use_my_modules_imports_the_learners_notebooks_beside_this_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(siblings, "_FOLDER", [str(tmp_path)])
    for name in ("convolution", "pooling"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    found = siblings.use_my_modules(["convolution"], here=SOURCE / "08_capstone")
    assert found == {"convolution": SOURCE / "05_convolution" / "convolution.ipynb"}
    assert "convolution (05_convolution/convolution.ipynb)" in capsys.readouterr().out
    import convolution

    assert convolution.__file__ == str(tmp_path / "convolution.py")
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    assert torch.equal(convolution.conv2d(x, torch.ones(1, 1, 2, 2)), torch.tensor([[[[8.0, 12.0], [20.0, 24.0]]]]))
    siblings.use_my_modules(["pooling"], here=tmp_path / "08_capstone")  # nothing beside it
    assert "not found beside this notebook's folder: pooling" in capsys.readouterr().out
    with pytest.raises(ImportError, match="your pooling notebook was not found"):
        import pooling  # noqa: F401


@pytest.mark.pure
def test_autograde_finds_the_submitted_notebooks_of_the_same_student(tmp_path):
    copy = tmp_path / "autograded" / "alice" / "08_capstone"
    submitted = tmp_path / "submitted" / "alice" / "06_pooling"
    copy.mkdir(parents=True)
    submitted.mkdir(parents=True)
    (submitted / "pooling.ipynb").write_text("{}")
    assert siblings.notebook_of("pooling", copy) == submitted / "pooling.ipynb"
    assert siblings.notebook_of("losses", copy) is None


@pytest.mark.pure
def test_the_sandbox_gets_the_modules_the_notebook_imports_and_no_cell_of_theirs(tmp_path):
    notebook = SOURCE / "08_capstone" / "capstone.ipynb"
    folder = notebooks.extract_submission(notebook, tmp_path)
    cells = (folder / notebooks.CELL_MAP).read_text()
    added = siblings.extract_beside(notebook, folder)
    assert added == ["convolution", "losses", "neurons", "pooling", "regularization"]
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(["capstone", *added])
    assert (folder / notebooks.CELL_MAP).read_text() == cells  # messages point at this notebook only
    assert list(json.loads(cells)) == ["capstone"]


def test_the_cli_grades_the_capstone_notebook_with_the_learners_other_notebooks(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--notebook", str(SOURCE / "08_capstone" / "capstone.ipynb")]
        + ["--suite", "public", "--json", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert (data["score"], data["max_score"]) == (10, 10), [t["output"][:200] for t in data["tests"]]


@pytest.mark.pure
def test_gradescopes_zip_carries_the_digits():
    assert any(p.name == "digits.csv.gz" for p in gradescope.package_files())


@pytest.mark.pure
def test_the_learners_bundle_copies_the_digits(tmp_path):
    """The bundle copies the package folder with ``bundle.NEVER`` left out: the data stay in."""
    import shutil

    from autograder.packaging import bundle

    shutil.copytree(ROOT / "autograder" / "course", tmp_path / "course", ignore=bundle.NEVER)
    assert (tmp_path / "course" / "data" / "digits.csv.gz").read_bytes() == (
        ROOT / "autograder" / "course" / "data" / "digits.csv.gz"
    ).read_bytes()


@pytest.mark.slow
def test_nbgrader_autograde_finds_the_learners_other_submitted_notebooks(tmp_path):
    """nbgrader runs a copy of the capstone in ``autograded/<student>/``, where the learner's other
    notebooks are not: they come from ``submitted/<student>/``. nbgrader's kernel and the sandbox
    then agree on full marks."""
    import shutil

    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOURCE / "08_capstone", course / "source" / "08_capstone")
    env = {**nbcycle.nbgrader_env(), "NBGRADER_EXCHANGE": str(tmp_path / "exchange")}
    generated = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "08_capstone", "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    for assignment in ("02_neurons", "04_losses", "05_convolution", "06_pooling", "07_regularization", "08_capstone"):
        notebook = SOURCE / assignment / f"{assignment[3:]}.ipynb"  # the solutions, as a learner who solved them
        (course / "submitted" / "alice" / assignment).mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / "alice" / assignment)
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.nbcourse.nbcycle", "autograde", "--root", str(course)]
        + ["--assignment", "08_capstone"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads((course / "autograde-report.json").read_text())["rows"]
    assert (row["nbgrader_score"], row["sandbox_score"], row["disagreements"]) == (10, 10, []), (row, proc.stdout)
