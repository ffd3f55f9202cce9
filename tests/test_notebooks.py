"""The teaching notebooks: generated from lessons/ and solutions/, released by nbgrader, checked in the
notebook like `make grade`, extracted and graded in the sandbox, drawn, and executed for real."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder.course import catalogue
from autograder.feedback import incheck
from autograder.nbcourse import nbcycle, nbsource, notebooks
from conftest import EXERCISES, ROOT, SOLUTIONS, load_module

SOURCE, RELEASE = ROOT / "source", ROOT / "release"
LESSONS = nbsource.lessons()


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _by_id(path: Path) -> dict[str, dict]:
    return {notebooks.grade_id(c): c for c in _cells(path) if notebooks.grade_id(c)}


def _released(lesson) -> Path:
    return RELEASE / lesson.assignment / f"{lesson.notebook}.ipynb"


def _function_in(path: Path, name: str) -> str:
    source = path.read_text()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return ast.get_source_segment(source, node)
    raise AssertionError(f"{path} defines no {name}")


# ----------------------------------------------------------------------------- generated, in order
def test_source_notebooks_are_up_to_date_with_lessons_and_solutions():
    assert nbsource.generate(check_only=True) == [], "run `make notebooks`"


def test_a_changed_solution_makes_source_stale(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, solutions, ignore=shutil.ignore_patterns("__pycache__"))
    losses = solutions / "losses.py"
    losses.write_text(losses.read_text().replace("return losses.sum()\n", "return losses.sum() * 1.0\n", 1))
    stale = nbsource.generate(source_dir=SOURCE, solutions=solutions, check_only=True)
    assert stale == ["04_losses/losses.ipynb"]


def test_every_exercise_is_taught_once_in_teaching_order():
    taught = [ex for lesson in LESSONS for ex in nbsource.exercises_of(json.loads(nbsource.target(lesson).read_text()))]
    assert taught == [e.id for e in catalogue.EXERCISES]
    assert [lesson.notebook for lesson in LESSONS] == list(catalogue.MODULES)


def test_answer_cells_are_the_solution_functions_with_their_fences():
    for lesson in LESSONS:
        cells = _by_id(nbsource.target(lesson))
        for ex in nbsource.exercises_of({"cells": list(cells.values())}):
            answer = notebooks.source_of(cells[nbsource.answer_id(ex)])
            assert answer == nbsource.function_source(ex)
            assert "### BEGIN SOLUTION" in answer and "### END SOLUTION" in answer


def test_released_answer_cells_are_exactly_the_stubs_of_exercises():
    for lesson in LESSONS:
        cells = _by_id(_released(lesson))
        for ex in nbsource.exercises_of({"cells": list(cells.values())}):
            function = catalogue.get(ex).function
            stub = _function_in(EXERCISES / f"{lesson.notebook}.py", function)
            assert notebooks.source_of(cells[nbsource.answer_id(ex)]) == stub, ex


def test_test_cells_are_worth_the_catalogue_points_and_hide_the_hidden_checks():
    for lesson in LESSONS:
        source, released = _by_id(nbsource.target(lesson)), _by_id(_released(lesson))
        for ex in nbsource.exercises_of({"cells": list(source.values())}):
            test = nbsource.test_id(ex)
            meta = source[test]["metadata"]["nbgrader"]
            assert (meta["grade"], meta["locked"], meta["points"]) == (True, True, catalogue.get(ex).points)
            assert "### BEGIN HIDDEN TESTS" in notebooks.source_of(source[test])
            shown = notebooks.source_of(released[test])
            assert f'check({catalogue.get(ex).function}, "{ex}")' in shown
            assert "hidden" not in shown.lower()


def test_the_written_questions_are_manually_graded_with_points():
    for assignment, grade_id in (
        ("05_convolution", "explain-convolution"),
        ("06_pooling", "explain-maxpool"),
        ("08_capstone", "explain-capacity"),
    ):
        source = _by_id(SOURCE / assignment / f"{assignment[3:]}.ipynb")[grade_id]
        released = _by_id(RELEASE / assignment / f"{assignment[3:]}.ipynb")[grade_id]
        meta = source["metadata"]["nbgrader"]
        assert source["cell_type"] == "markdown" and meta["solution"] and meta["grade"] and meta["points"] == 3
        assert notebooks.source_of(released) == "YOUR ANSWER HERE"


def test_nbgrader_regenerates_exactly_the_committed_release(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(SOURCE, tmp_path / "source")
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force", "--no-db"],
        cwd=tmp_path,
        env=nbcycle.nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    generated = sorted(p.relative_to(tmp_path / "release") for p in (tmp_path / "release").rglob("*") if p.is_file())
    committed = sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file())
    assert generated == committed, "run `make release`"
    for name in committed:
        fresh, committed = (tmp_path / "release" / name).read_bytes(), (RELEASE / name).read_bytes()
        assert fresh == committed, f"{name}: run `make release`"


def test_released_notebooks_hold_no_solution_and_no_hidden_test():
    for lesson in LESSONS:
        text = _released(lesson).read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and 'suite=\\"hidden\\"' not in text
        solution = (SOLUTIONS / f"{lesson.notebook}.py").read_text()
        for line in _body_lines(solution):
            assert line not in text, (lesson.notebook, line)


# ----------------------------------------------------------------------------- checks inside a notebook
@pytest.fixture(scope="module")
def losses_solution():
    return load_module(SOLUTIONS, "losses")


def test_incheck_passes_a_right_function_and_prints_the_grade_row(losses_solution, capsys):
    assert incheck.check(losses_solution.cross_entropy, "losses.cross_entropy") is None  # no Out[] value
    out = capsys.readouterr().out
    assert "cross_entropy" in out and "2/2" in out and "checks: public" in out


def test_incheck_fails_a_stub_as_not_started():
    stub = load_module(EXERCISES, "losses")
    with pytest.raises(AssertionError, match="not started"):
        incheck.check(stub.nll_loss, "losses.nll_loss", quiet=True)


def test_incheck_names_the_forbidden_operation():
    import torch.nn.functional as F

    with pytest.raises(AssertionError, match=r"forbidden.*aten\._log_softmax"):
        incheck.check(lambda logits, dim=-1: F.log_softmax(logits, dim=dim), "losses.log_softmax", quiet=True)


def test_incheck_says_what_differs_like_make_grade(capsys):
    with pytest.raises(AssertionError, match="values differ; first at index"):
        incheck.check(lambda logits, dim=-1: logits, "losses.log_softmax")
    assert "failed" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_incheck_hidden_failures_do_not_name_the_hidden_checks(capsys):
    def almost(values):  # right on ordinary data, wrong on the hidden edge cases (an empty input)
        import numpy as np

        values = np.asarray(values, dtype=np.float64)
        q1, q3 = np.nanquantile(values, [0.25, 0.75])
        return float(q3 - q1)

    with pytest.raises(AssertionError, match="some hidden checks failed"):
        incheck.check(almost, "outliers.iqr", suite="hidden")
    out = capsys.readouterr().out
    assert "hidden checks failed" in out and "empty input" not in out


# ----------------------------------------------------------------------------- extraction
def test_extracted_source_notebook_holds_the_module_functions(tmp_path):
    folder = notebooks.extract_submission(SOURCE / "04_losses" / "losses.ipynb", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["cells.json", "losses.py"]
    module = load_module(folder, "losses")
    assert {"log_softmax", "nll_loss", "cross_entropy"} <= set(vars(module))


def test_invalid_json_is_a_clear_error(tmp_path):
    bad = tmp_path / "losses.ipynb"
    bad.write_text('{"cells": [ oops')
    with pytest.raises(notebooks.NotebookError, match="invalid JSON at line 1"):
        notebooks.extract_submission(bad, tmp_path / "out")
    assert notebooks.problems(bad, RELEASE / "04_losses" / "losses.ipynb")[0].startswith("losses.ipynb is not")


def test_an_answer_cell_turned_into_markdown_is_still_code_and_reported(tmp_path):
    notebook = json.loads((SOURCE / "04_losses" / "losses.ipynb").read_text())
    for cell in notebook["cells"]:
        if notebooks.grade_id(cell) == "answer-losses-nll_loss":
            cell["cell_type"] = "markdown"
        if notebooks.grade_id(cell) == "answer-losses-log_softmax":
            cell["source"] = "%timeit 1 + 1\n" + notebooks.source_of(cell)
    path = tmp_path / "losses.ipynb"
    path.write_text(json.dumps(notebook))
    module = load_module(notebooks.extract_submission(path, tmp_path / "out"), "losses")
    assert callable(module.nll_loss)
    assert notebooks.problems(path, RELEASE / "04_losses" / "losses.ipynb") == [
        "the answer cell answer-losses-nll_loss was turned into a markdown cell (graded as code, as nbgrader does)"
    ]


def test_a_clean_release_has_no_problems():
    for lesson in LESSONS:
        assert notebooks.problems(_released(lesson), _released(lesson)) == []


def test_cli_grades_a_notebook_like_a_module_submission(tmp_path):
    out = tmp_path / "results.json"
    for notebook, score in ((SOURCE / "04_losses" / "losses.ipynb", 8), (RELEASE / "04_losses" / "losses.ipynb", 0)):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "--notebook",
                str(notebook),
                "--exercise",
                "losses",
                "--json",
                str(out),
                "--quiet",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(out.read_text())
        assert (data["score"], data["max_score"]) == (score, 8)


# ----------------------------------------------------------------------------- pictures
def test_every_picture_draws_with_the_agg_backend():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from autograder.nbcourse import pictures

    values = np.concatenate([np.random.default_rng(0).normal(size=30), [9.0, -8.0, np.nan]])
    figures = [
        pictures.activation_ranges(),
        pictures.iqr_box_plot(values),
        pictures.kernel_effects(
            pictures.sample_image(), {"blur": torch.full((1, 1, 3, 3), 1 / 9), "edge": NotImplementedError()}
        ),
        pictures.max_pool_steps(torch.arange(36.0).reshape(1, 1, 6, 6)),
    ]
    figure, summary = pictures.capacity_demo(widths=(1, 64), steps=300)
    figures.append(figure)
    assert summary[64][0] > summary[1][0] and summary[64][1] < summary[1][1]  # more parameters, lower loss
    for fig in figures:
        assert fig.axes
    plt.close("all")


# ----------------------------------------------------------------------------- executed for real
def _execute(paths: list[Path], out: Path, pictures: bool = False) -> dict[str, list[dict]]:
    """Runs each notebook in a real kernel (two at a time); returns its executed cells.

    ``pictures``: matplotlib's inline backend, as in JupyterLab (otherwise Agg: nothing is drawn)."""
    env = nbcycle.nbgrader_env()
    if pictures:
        env.pop("MPLBACKEND", None)

    def run(path: Path):
        dest = out / path.parent.name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--ExecutePreprocessor.allow_errors=True",
                "--ExecutePreprocessor.timeout=300",
                "--output-dir",
                str(dest),
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return path.parent.name, _cells(dest / path.name)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, paths))


def _errors(cells) -> dict[str, str]:
    return {
        notebooks.grade_id(c) or c.get("id", "?"): f"{o.get('ename')}: {o.get('evalue', '')[:200]}"
        for c in cells
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o["output_type"] == "error"
    }


@pytest.mark.slow
def test_source_notebooks_run_clean_and_pass_every_check(tmp_path):
    drawn = {
        "01_outliers": 1,
        "02_neurons": 2,
        "03_normalization": 0,
        "04_losses": 0,
        "05_convolution": 1,
        "06_pooling": 2,
        "07_regularization": 1,
        "08_capstone": 2,  # the first digits, and the narrow and wide networks' curves
    }
    for name, cells in _execute([nbsource.target(lesson) for lesson in LESSONS], tmp_path, pictures=True).items():
        assert _errors(cells) == {}, name
        images = [
            o
            for c in cells
            if c["cell_type"] == "code"
            for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})
        ]
        assert len(images) == drawn[name], name


@pytest.mark.slow
def test_released_notebooks_fail_only_their_test_cells_as_not_started(tmp_path):
    for name, cells in _execute([_released(lesson) for lesson in LESSONS], tmp_path).items():
        errors = _errors(cells)
        tests = {nbsource.test_id(ex) for ex in nbsource.exercises_of({"cells": cells})}
        assert set(errors) == tests, (name, {k: v for k, v in errors.items() if k not in tests})
        assert all("not started" in text for text in errors.values()), (name, errors)


# ----------------------------------------------------------------------------- student release
# Solution lines that public material contains by design, each with the reason.
PUBLIC_BY_DESIGN = {
    "return sum(p.abs().sum() for p in model.parameters())": "PyTorch's reference in the public checks",
    "return sum(p.pow(2).sum() for p in model.parameters())": "PyTorch's reference in the public checks",
    "self.hidden = nn.Linear(n_in, n_hidden)": "the reference TinyNet of the public checks",
    "self.output = nn.Linear(n_hidden, n_out)": "the reference TinyNet of the public checks",
    "return (value, value) if isinstance(value, int) else tuple(value)": "a generic helper of the checks",
    "shape = (1, -1) + (1,) * (x.dim() - 2)": "the broadcast of the public normalisation checks",
    "x = x.detach().clone().requires_grad_(True)": "the docstring's tip gives it",
    "with warnings.catch_warnings():": "the docstring's tip names it",
}


def _body_lines(source: str) -> list[str]:
    """Lines of the solution regions long enough to identify solution code (30 characters or more)."""
    lines, inside = [], False
    for line in source.splitlines():
        text = line.strip()
        if text == "### BEGIN SOLUTION":
            inside = True
        elif text == "### END SOLUTION":
            inside = False
        elif inside and len(text) >= 30 and not text.startswith("#"):
            lines.append(text)
    return lines


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from autograder.packaging import bundle as bundles

    return bundles.build(tmp_path_factory.mktemp("dist") / "student")


def test_student_release_ships_what_a_learner_needs_and_nothing_else(bundle):
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        [
            *["Makefile", "README.md", "pyproject.toml", "nbgrader_config.py", "exercises", "release", "mk"],
            *["autograder", "labconfig", "jupyter_server_config.json"],  # the learner's JupyterLab settings
        ]
    )
    assert not (bundle / "autograder" / "checks" / "hidden").exists()
    public = bundle / "autograder" / "checks" / "public"
    assert sorted(p.name for p in public.iterdir()) == ["__init__.py", "frozen.pickle"]
    assert sorted(p.name for p in (bundle / "release").iterdir()) == [lesson.assignment for lesson in LESSONS]
    assert bundle.with_suffix(".zip").is_file()


def test_student_release_contains_no_solution_body_and_no_hidden_check(bundle):
    import zipfile

    from autograder import checks

    texts = {p.relative_to(bundle): p.read_text(errors="replace") for p in bundle.rglob("*") if p.is_file()}
    with zipfile.ZipFile(bundle.with_suffix(".zip")) as archive:
        assert not any("hidden" in name or "solutions" in name for name in archive.namelist())
    leaks = []
    for module in catalogue.MODULES:
        for line in _body_lines((SOLUTIONS / f"{module}.py").read_text()):
            if line not in PUBLIC_BY_DESIGN:
                leaks += [f"{path}: {line}" for path, text in texts.items() if line in text]
    assert leaks == [], "solution code in the student release (public by design? add it to PUBLIC_BY_DESIGN)"
    public = {c.name for found in checks.all_checks(("public",)).values() for c in found}
    hidden = {c.name for found in checks.all_checks(("hidden",)).values() for c in found} - public
    assert len(hidden) > 100
    shown = [f"{path}: {name}" for name in hidden for path, text in texts.items() if name in text]
    assert shown == []


def test_the_student_release_carries_no_reference_code(bundle):
    """The public checks travel as data: no reference function, class or kernel of theirs is in the
    bundle (for l1/l2_penalty, count_parameters, TinyNet and the kernels it would be the answer)."""
    from autograder.checks.public import convolution, neurons, regularization

    references = [
        regularization.l1_reference,
        regularization.l2_reference,
        neurons.count_reference,
        neurons.ReferenceTinyNet,
        convolution._edge_reference,
        convolution._blur_reference,
    ]
    blobs = [p.read_bytes() for p in bundle.rglob("*") if p.is_file()]
    for reference in references:
        assert not any(reference.__name__.encode() in blob for blob in blobs), reference.__name__


def test_the_student_release_grades_the_solutions_at_full_public_marks(bundle):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--submission",
            str(SOLUTIONS),
            "--json",
            str(bundle.parent / "results.json"),
        ],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=600,
        env={**nbcycle.nbgrader_env(), "PYTHONPATH": str(bundle)},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((bundle.parent / "results.json").read_text())
    assert data["score"] == sum(e.points for e in catalogue.EXERCISES), proc.stdout


@pytest.mark.slow
def test_a_learner_follows_the_bundle_readme_in_an_empty_folder(bundle, tmp_path):
    """Unzip the bundle where nothing else is, then do what its README says: the first make command
    builds a fresh .venv from the bundle's own files, and every command of its table works."""
    import re
    import zipfile

    with zipfile.ZipFile(bundle.with_suffix(".zip")) as archive:
        archive.extractall(tmp_path)
    copy = tmp_path / "student"
    readme = (copy / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT)))
    env["AUTOGRADER_WARM"] = "0"  # make grade starts no warm grader to outlive the test (tests/test_warm_grader.py)

    def make(*args, timeout=900):
        proc = subprocess.run(["make", *args], cwd=copy, capture_output=True, text=True, timeout=timeout, env=env)
        assert proc.returncode == 0, (args, proc.stdout[-3000:], proc.stderr[-3000:])
        return proc.stdout

    graded = make("grade")  # bootstraps .venv here, from pyproject.toml
    assert (copy / ".venv" / "bin" / "python").is_file()
    assert "0/" in graded and "not started" in graded and "failed" not in graded
    commands = re.findall(r"^\| `make ([^`]+)` \|", readme, flags=re.M)
    assert {"grade", "list", "help"} <= {c.split()[0] for c in commands}
    for command in commands:
        target, *variables = command.split()
        if target in ("watch", "lab"):  # they run until stopped: covered by their own tests
            continue
        if target == "grade-notebook":
            nb = next((copy / "release").glob("04_losses/*.ipynb"))
            variables = [f"NB={nb}"]
        make(target, *variables)
    solved = make("grade", f"SUBMISSION={SOLUTIONS}")
    assert "all exercises pass" in solved, solved


def test_make_grade_inside_the_student_release_runs_the_public_checks(bundle):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--submission", "exercises", "--exercise", "pooling"],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=300,
        env={**nbcycle.nbgrader_env(), "PYTHONPATH": str(bundle)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "not started" in proc.stdout and "checks: public ·" in proc.stdout


def test_the_student_release_has_its_own_readme_and_help(bundle):
    """The bundle's README is the learner's; `make help` there lists exactly the targets that exist
    there, and every make command the README names is one of them."""
    import re

    readme = (bundle / "README.md").read_text()
    for instructor_only in ("make test", "solutions/", ".ci/run", "docs/contract.md", "make autograde"):
        assert instructor_only not in readme, instructor_only
    helped = subprocess.run(["make", "help"], cwd=bundle, capture_output=True, text=True).stdout
    listed = set(re.findall(r"^  make (\S+)", helped, flags=re.M))
    assert {"grade", "watch", "hint", "lab", "grade-notebook", "list"} <= listed
    assert not listed & {"test", "stubs", "notebooks", "autograde", "gradescope", "student-release", "bench"}
    for target in listed:  # each exists here (make -n only prints what it would run)
        dry = subprocess.run(["make", "-n", target], cwd=bundle, capture_output=True, text=True)
        assert "No rule to make target" not in dry.stderr, (target, dry.stderr)
    assert set(re.findall(r"`make ([a-z-]+)", readme)) <= listed


def test_asking_for_hidden_checks_in_the_student_release_says_they_stay_with_the_instructor(bundle):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--submission", "exercises", "--suite", "hidden"],
        cwd=bundle,
        capture_output=True,
        text=True,
        timeout=300,
        env={**nbcycle.nbgrader_env(), "PYTHONPATH": str(bundle)},
    )
    assert proc.returncode == 2 and "hidden checks are not installed here" in proc.stderr, proc.stderr
    assert "failed" not in proc.stdout


def test_make_help_lists_every_notebook_target():
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    for target in (
        "lab",
        "release",
        "release-assignment",
        "collect",
        "autograde",
        "feedback",
        "export",
        "formgrader",
        "student-release",
        "notebooks",
        "grade-notebook",
    ):
        assert f"make {target} " in out, target


def test_a_print_in_an_answer_cell_costs_nothing(tmp_path):
    """Printing is free in a notebook too: tensors printed at the top level of an answer cell and
    inside the function (the legal corpus, for make grade-notebook)."""
    notebook = json.loads((SOURCE / "04_losses" / "losses.ipynb").read_text())
    for cell in notebook["cells"]:
        if notebooks.grade_id(cell) == "answer-losses-log_softmax":
            source = notebooks.source_of(cell).replace(
                "def log_softmax(logits, dim=-1):",
                "print('a tensor:', torch.linspace(0, 1, 3))\n\n\ndef log_softmax(logits, dim=-1):\n"
                "    print('log_softmax got', logits)",
                1,
            )
            assert "log_softmax got" in source
            cell["source"] = source
    path = tmp_path / "losses.ipynb"
    path.write_text(json.dumps(notebook))
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--notebook",
            str(path),
            "--exercise",
            "losses",
            "--json",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert (data["score"], data["max_score"]) == (8, 8), [t["output"][:300] for t in data["tests"]]


def test_incheck_hidden_output_keeps_no_note_from_a_hidden_check(capsys):
    """A placement note quotes a check's error; in a hidden test cell it would describe a hidden input."""
    import torch

    def tanh(x):  # right everywhere; reads a value back only for 2-D inputs (hidden cases only)
        if x.dim() == 2:
            float(x.detach().sum())
        e = torch.exp(2 * torch.where(x >= 0, -x, x))
        return torch.where(x >= 0, (1 - e) / (1 + e), -(1 - e) / (1 + e))

    with pytest.raises(incheck.CheckFailed):  # reading a value fails on meta (issue 19)
        incheck.check(tanh, "neurons.tanh", suite="hidden")
    out = capsys.readouterr().out
    result = incheck.grade_function(tanh, "neurons.tanh", "hidden")
    failed = [u for u in result.units if u.verdict == "failed"]
    assert failed and all(u.device == "meta" for u in failed)  # the failure exists ...
    assert not any(u.message in out or u.check.name in out for u in failed)  # ... and is not described


def _losses_with(tmp_path, edits: dict[str, tuple[str, str]]) -> Path:
    """The solved losses notebook with ``old`` replaced by ``new`` in the named answer cells."""
    notebook = json.loads((SOURCE / "04_losses" / "losses.ipynb").read_text())
    for cell in notebook["cells"]:
        if notebooks.grade_id(cell) in edits:
            old, new = edits[notebooks.grade_id(cell)]
            assert old in notebooks.source_of(cell)
            cell["source"] = notebooks.source_of(cell).replace(old, new, 1)
    path = tmp_path / "losses.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def _grade_notebook(path: Path, tmp_path: Path) -> dict:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--notebook", str(path), "--json", str(out), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_a_syntax_error_costs_only_its_cell_and_points_at_it(tmp_path):
    path = _losses_with(tmp_path, {"answer-losses-nll_loss": ("if weight is None:", "if weight is None")})
    number = 1 + next(
        i
        for i, c in enumerate(json.loads(path.read_text())["cells"])
        if notebooks.grade_id(c) == "answer-losses-nll_loss"
    )
    data = _grade_notebook(path, tmp_path)
    by_exercise: dict[str, float] = {}
    for test in data["tests"]:
        by_exercise[test["exercise"]] = by_exercise.get(test["exercise"], 0) + test["score"]
    assert by_exercise["losses.log_softmax"] == 3  # its own cell compiles: full marks
    assert by_exercise["losses.nll_loss"] == 0
    nll = next(t for t in data["tests"] if t["name"] == "losses.nll_loss (public)")
    assert f"cell {number} (answer-losses-nll_loss), line" in nll["output"], nll["output"]
    assert "losses.py" not in nll["output"]


def test_a_runtime_error_points_at_the_cell_and_its_line(tmp_path):
    path = _losses_with(
        tmp_path,
        {
            "answer-losses-log_softmax": (
                "def log_softmax(logits, dim=-1):",
                "def log_softmax(logits, dim=-1):\n    raise KeyError('boom')",
            )
        },
    )
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if notebooks.grade_id(c) == "answer-losses-log_softmax")
    line = 1 + notebooks.source_of(cells[index]).splitlines().index("    raise KeyError('boom')")
    data = _grade_notebook(path, tmp_path)
    test = next(t for t in data["tests"] if t["name"] == "losses.log_softmax (public)")
    assert f"cell {index + 1} (answer-losses-log_softmax), line {line}" in test["output"], test["output"]


def test_incheck_failure_reads_like_make_grade_without_a_grader_traceback(capsys):
    """The named mistake and the hint, as make grade gives them; IPython shows the failure's message
    alone (``_render_traceback_``); 'not started' is said once."""
    import torch

    with pytest.raises(incheck.CheckFailed) as caught:
        incheck.check(
            lambda logits, dim=-1: logits - torch.log(torch.exp(logits).sum(dim, keepdim=True)), "losses.log_softmax"
        )
    out = capsys.readouterr().out
    assert "looks like log-softmax without the max shift" in out
    assert f"hint: {catalogue.get('losses.log_softmax').hints[0]}" in out
    assert "make hint" not in out  # no `make` runs in a notebook or its feedback: the hint itself
    assert caught.value._render_traceback_() == [f"CheckFailed: {caught.value}"]
    stub = load_module(EXERCISES, "losses")
    with pytest.raises(AssertionError) as not_started:
        incheck.check(stub.nll_loss, "losses.nll_loss", quiet=True)
    assert str(not_started.value).count("not started") == 1


def test_make_grade_notebook_grades_a_renamed_copy_by_its_cells(tmp_path):
    """A notebook saved under another name (losses-Copy1.ipynb) is graded by its cells' nbgrader
    ids, on its own exercises and out of its own points."""
    copy = tmp_path / "losses-Copy1.ipynb"
    copy.write_text((SOURCE / "04_losses" / "losses.ipynb").read_text())
    out = tmp_path / "results.json"
    proc = subprocess.run(
        ["make", "--no-print-directory", "grade-notebook", f"NB={copy}", f"JSON={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert (data["score"], data["max_score"]) == (8, 8)


def test_a_cell_map_sent_with_a_submission_cannot_forge_messages(tmp_path):
    """cells.json travels with a submitted folder: only well-formed entries with plain ids are used."""
    (tmp_path / "cells.json").write_text(
        json.dumps(
            {
                "losses": [[1, 5, 3, "answer-losses-nll_loss", 0], [6, 9, 4, "\x1b[2J\n✔ total 48/48", 0], "junk"],
                "../etc": [],
            }
        )
    )
    assert notebooks._cell_map(tmp_path) == {"losses": [[1, 5, 3, "answer-losses-nll_loss", 0]]}
    assert notebooks.locate(notebooks._cell_map(tmp_path), "losses", 7) is None
