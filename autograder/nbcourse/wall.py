"""nbgrader's autograde with the kernel inside the wall: a submission's notebook never runs as the instructor.

``WalledExecute`` replaces nbgrader's ``Execute`` preprocessor (``nbgrader_config.py``). For each
notebook it stages a folder holding only that learner's files — the assignment's own folder, as
nbgrader copied it into ``autograded/``, and the learner's other submitted notebooks, which the
capstone imports (``siblings``) — and runs ``python -m autograder.nbcourse.wall`` inside bubblewrap:
no network, its own PID, IPC and UTS namespaces, the root file system read-only with only the
Python environment, this package (without its hidden checks and the course secret: an empty
``checks/hidden``) and the staged folder in view, as a fresh unprivileged uid with no capabilities and
no way to gain any (``setpriv``). There nbclient starts the kernel and executes the notebook; the
executed notebook comes back as a file, and only its cells' outputs and execution counts are taken
(the cells' sources and metadata stay nbgrader's). Whatever the kernel writes elsewhere is
discarded with the staged folder.

The hidden tests never enter the kernel. The notebook goes into the wall with every hidden test
region (``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS``) cut out of its cells' sources, so a
test cell runs only its public checks there. The hidden checks' verdicts come from the sandboxed
grader instead (``grader.Grader`` on the hidden suite, on the notebook's answer cells extracted as
``make autograde``'s cross-check extracts them): after the kernel, each hidden test cell whose public
part passed gets the scorer's verdict as its last outputs, a line saying how many hidden checks
passed and, when any failed, an error (``CheckFailed``, naming the exercise, never a check's inputs).
nbgrader then scores the cell from its outputs as before: an error output, no points. The cell's
source in the autograded notebook stays the instructor's (nbgrader's own, hidden lines included).

Every wall of the kernel's is a field of ``protocol.policy.KERNEL``; ``command`` renders it.

Without bubblewrap autograde refuses to run a submission's code (nbgrader records the notebook as
failed, and the sandboxed grader still grades it), unless ``AUTOGRADER_UNWALLED_KERNEL=1`` asks for
nbgrader's own behaviour: the kernel runs as whoever started autograde.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbgrader.preprocessors import Execute

from autograder.feedback import report
from autograder.nbcourse import notebooks, siblings
from autograder.nbcourse.nbsource import exercise_of
from autograder.protocol.policy import KERNEL
from autograder.scoring import launcher

LEARNER = KERNEL.bound_at(
    "learner"
)  # the staged folder inside the wall: <assignment>/ and the learner's other notebooks
OUTBOX = KERNEL.bound_at("outbox")  # where the executed notebook is written
RESULT = "executed.ipynb"
MAX_FILE = dict(KERNEL.rlimits)["FSIZE"]  # the largest file the kernel may write
UNWALLED = "AUTOGRADER_UNWALLED_KERNEL"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class WallError(RuntimeError):
    """The notebook could not be run inside the wall: its code was not run."""


def problem() -> str | None:
    """Why the wall cannot be built here (None: it can)."""
    return launcher._bwrap_problem() or (
        None if os.geteuid() != 0 or shutil.which("setpriv") else "setpriv (util-linux) is not installed"
    )


def stage(notebook_dir: Path, student_root: Path | None, into: Path, uid: int | None) -> Path:
    """``into/learner/<assignment>/``: a copy of ``notebook_dir`` (writable by ``uid``), and beside it
    each other assignment's notebooks from ``student_root`` (that learner's submitted folder), read-only.
    Returns the folder the kernel runs in."""
    learner = into / "learner"
    learner.mkdir(mode=0o755)
    work = learner / notebook_dir.name
    shutil.copytree(notebook_dir, work, symlinks=True)  # a link stays a link: never what it names
    if student_root is not None and student_root.is_dir():
        for other in sorted(student_root.iterdir()):
            if other.name == notebook_dir.name or not other.is_dir() or other.is_symlink():
                continue
            for notebook in sorted(other.glob("*.ipynb")):
                if notebook.is_file() and not notebook.is_symlink():
                    (learner / other.name).mkdir(mode=0o755, exist_ok=True)
                    shutil.copyfile(notebook, learner / other.name / notebook.name)
                    (learner / other.name / notebook.name).chmod(0o444)
    for path in learner.rglob("*"):
        if path.is_file() and not path.is_symlink():
            _scrub(path)
    outbox = into / "outbox"
    outbox.mkdir(mode=0o700)
    if uid is not None:
        for path in [work, *work.rglob("*"), outbox]:
            os.chown(path, uid, uid, follow_symlinks=False)
    return work


def _scrub(path: Path) -> None:
    """A staged file without hidden test lines. nbgrader's autograde writes the notebook, its hidden test
    cells restored (``OverwriteCells``), into the folder that is staged before it executes it, and an
    earlier notebook of the assignment, autograded, lies there too: their hidden test regions are cut
    out; a file holding such a region that is not a notebook is left out."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    if HIDDEN_BEGIN.encode() not in data:
        return
    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        cleaned = nbformat.writes(without_hidden_tests(nb))
    except Exception:  # noqa: BLE001 - not a notebook: nothing of it is kept
        path.unlink()
        return
    if HIDDEN_BEGIN in cleaned:  # the marker somewhere else in the notebook (metadata, outputs)
        path.unlink()
        return
    mode = path.stat().st_mode
    path.chmod(mode | 0o200)
    path.write_text(cleaned, encoding="utf-8")
    path.chmod(mode)


def command(staged: Path, assignment: str, uid: int | None, timeout: int) -> list[str]:
    """The bubblewrap command line, rendered from ``policy.KERNEL``, that runs this module's ``main`` on the
    staged folder; no hidden check (nor the course secret beside them) is in view."""
    host = launcher.Host.here(KERNEL)
    env = dict(KERNEL.env) | {name: os.environ[name] for name in KERNEL.env_passed if name in os.environ}
    sources = {"package": str(launcher.PACKAGE_DIR)} | {name: str(staged / name) for name in ("learner", "outbox")}
    # root: no user namespace; setpriv makes the learner's uid
    argv = launcher.bwrap_argv(KERNEL, host, root=uid is not None, sources=sources, env=env, assignment=assignment)
    if uid is not None:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        argv += ["--no-new-privs"] if KERNEL.no_new_privs else []
        argv += ["--inh-caps=-all", "--"]
    python = [host.executable, *KERNEL.python_flags, "-m", "autograder.nbcourse.wall"]
    return argv + python + [f"{LEARNER}/{assignment}", str(timeout)]


def execute_walled(
    nb: nbformat.NotebookNode, notebook_dir: Path, student_root: Path | None, timeout: int
) -> nbformat.NotebookNode:
    """Runs ``nb`` in the wall, in a copy of ``notebook_dir``, beside the learner's other notebooks in
    ``student_root``; returns the executed notebook (the kernel's word: only its outputs are used).
    ``nb`` is run as it is: ``without_hidden_tests`` makes the copy that may go in."""
    reason = problem()
    if reason is not None:
        raise WallError(f"the notebook was not run: its kernel runs only inside bubblewrap ({reason})")
    uids = launcher.learner_uids(1)
    uid = uids[0] if uids else None
    with tempfile.TemporaryDirectory(prefix="nbgrader-wall-") as folder:
        staged = Path(folder)
        work = stage(Path(notebook_dir), student_root, staged, uid)
        (work / ".walled-input.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        code_cells = sum(cell.get("cell_type") == "code" for cell in nb.get("cells", []))
        limit = (timeout or 300) * (code_cells + 1) + 60
        argv = command(staged, work.name, uid, timeout)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired as exc:
            raise WallError(f"the notebook ran longer than {limit} s in all") from exc
        finally:
            if uid is not None:
                _kill_uid(uid)
        result = staged / "outbox" / RESULT
        if proc.returncode != 0 or not result.is_file() or result.is_symlink():
            raise WallError(f"the notebook's kernel did not finish (exit {proc.returncode}): {proc.stderr[-600:]}")
        if result.stat().st_size > MAX_FILE:
            raise WallError("the executed notebook is too large")
        try:  # nbformat joins the multi-line strings a notebook file keeps as lists
            return nbformat.reads(result.read_text(encoding="utf-8"), as_version=4)
        except Exception as exc:  # noqa: BLE001 - whatever the kernel wrote there, it is not a notebook
            raise WallError(f"the executed notebook is not a notebook: {str(exc)[:200]}") from exc


def _kill_uid(uid: int) -> None:
    """Anything left of the learner's uid (the PID namespace ends with bwrap; this is the backstop)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), 9)
            except (OSError, ProcessLookupError):
                continue


def take_outputs(nb: nbformat.NotebookNode, executed: dict) -> None:
    """Copies outputs and execution counts of ``executed``'s code cells into ``nb``'s, cell by cell;
    nothing else of what came back is trusted (sources, metadata and cell types stay ``nb``'s)."""
    cells = executed.get("cells") if isinstance(executed, dict) else None
    if not isinstance(cells, list) or len(cells) != len(nb.cells):
        raise WallError("the executed notebook came back with other cells")
    for mine, theirs in zip(nb.cells, cells):
        if mine.cell_type != "code":
            continue
        if not isinstance(theirs, dict) or theirs.get("cell_type") != "code":
            raise WallError("the executed notebook came back with other cells")
        mine.outputs = [nbformat.from_dict(o) for o in theirs.get("outputs", []) if isinstance(o, dict)]
        count = theirs.get("execution_count")
        mine.execution_count = count if isinstance(count, int) and not isinstance(count, bool) else None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        for cell in nb.cells:  # no output of the kernel's is kept when one is malformed
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        raise WallError(f"the executed notebook came back malformed: {str(exc)[:200]}") from exc


def strip_hidden(source: str) -> str:
    """``source`` without its hidden test regions (an unclosed one runs to the cell's end)."""
    kept, hidden = [], False
    for line in source.splitlines(keepends=True):
        if HIDDEN_BEGIN in line:
            hidden = True
        elif hidden and HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "".join(kept)


def hidden_cells(nb: nbformat.NotebookNode) -> dict[int, str | None]:
    """Cell index -> the exercise of each code cell holding hidden tests (None: its grade id names none)."""
    found: dict[int, str | None] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and HIDDEN_BEGIN in cell.source:
            found[index] = exercise_of(notebooks.grade_id(cell))
    return found


def without_hidden_tests(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The copy of ``nb`` that goes into the wall: every hidden test region cut out of its cells."""
    walled = copy.deepcopy(nb)
    for cell in walled.cells:
        if cell.cell_type == "code" and HIDDEN_BEGIN in cell.source:
            cell.source = strip_hidden(cell.source)
    return walled


_GRADER: list = []  # the sandboxed grader of the hidden suite, started once per nbgrader process


def _hidden_grader():
    if not _GRADER:
        from autograder.scoring.grader import Grader  # imports torch: only when a notebook is graded

        grader = Grader(suites=("hidden",))
        atexit.register(grader.close)
        _GRADER.append(grader)
    return _GRADER[0]


def grade_hidden(nb: nbformat.NotebookNode, notebook_dir: Path, name: str, exercises: list[str], grader=None) -> dict:
    """Exercise -> the sandboxed grader's result for it on the hidden checks, for ``nb``'s answer cells
    (and the learner's other modules it imports, from their notebooks beside ``notebook_dir``)."""
    if not exercises:
        return {}
    grader = grader or _hidden_grader()
    with tempfile.TemporaryDirectory(prefix="nbgrader-hidden-") as folder:
        path = Path(folder) / "notebook" / (Path(name).name or "notebook.ipynb")
        path.parent.mkdir()
        path.write_text(nbformat.writes(nb), encoding="utf-8")
        into = Path(folder) / "submission"
        notebooks.extract_submission(path, into)
        siblings.extract_beside(path, into, notebook_dir)
        result = grader.grade(into, sorted(set(exercises)))
    found = {e.exercise.id: e for e in result.exercises}
    faulty = [e for e in found.values() if getattr(e, "grader_fault", False)]
    if faulty:
        raise WallError(f"the hidden checks could not be run: {faulty[0].message}")
    return found


def _stream(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _error(evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="CheckFailed", evalue=evalue, traceback=[f"CheckFailed: {evalue}"])


def verdict_outputs(exercise: str | None, result) -> list[nbformat.NotebookNode]:
    """A hidden test cell's last outputs, from the sandboxed grader's ``result`` (as ``incheck.check``
    words them: how many hidden checks failed, never which, nor their inputs)."""
    if exercise is None or result is None:
        return [_error("the hidden tests of this cell could not be run: it names no exercise of the course")]
    counted = {id(u.check) for u in result.units if u.weight}
    if result.outcome == "passed":
        return [_stream(f"hidden checks: all {len(counted)} passed (run in the sandbox)\n")]
    if result.outcome == "failed":
        failing = {id(u.check) for u in result.units if u.verdict in ("failed", "not_started")}
        return [
            _stream(f"  ✘ {len(failing)} of {len(counted)} hidden checks failed (run in the sandbox)\n"),
            _error(f"{exercise}: some hidden checks failed (the edge cases: see the docstring)"),
        ]
    label = report.LABELS.get(result.outcome, result.outcome)
    return [_error(f"{exercise} (hidden checks): {label}")]


def add_hidden_verdicts(nb: nbformat.NotebookNode, cells: dict[int, str | None], results: dict) -> None:
    """Appends each hidden test cell's verdict to its outputs, unless the cell already failed in the
    kernel (its public checks: the hidden ones would not have run there either)."""
    for index, exercise in cells.items():
        cell = nb.cells[index]
        if any(o.get("output_type") == "error" for o in cell.outputs):
            continue
        cell.outputs.extend(verdict_outputs(exercise, results.get(exercise) if exercise else None))


class WalledExecute(Execute):
    """nbgrader's ``Execute``, with the kernel inside the wall (see the module's docstring)."""

    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        notebook_dir = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        if os.environ.get(UNWALLED) == "1":
            return super().preprocess(nb, resources, km)
        student = resources.get("nbgrader", {}).get("student")
        course = notebook_dir.parents[2] if len(notebook_dir.parents) > 2 else None
        student_root = course / "submitted" / student if course is not None and student else None
        cells = hidden_cells(nb)
        name = f"{resources.get('nbgrader', {}).get('notebook') or 'notebook'}.ipynb"
        exercises = [e for e in cells.values() if e]
        # the sandboxed grader judges the hidden checks while the kernel runs the rest
        with ThreadPoolExecutor(1) as pool:
            graded = pool.submit(grade_hidden, copy.deepcopy(nb), notebook_dir, name, exercises)
            executed = execute_walled(without_hidden_tests(nb), notebook_dir, student_root, int(self.timeout or 300))
            results = graded.result()
        take_outputs(nb, executed)
        add_hidden_verdicts(nb, cells, results)
        return nb, resources


def main(argv: list[str]) -> int:
    """Inside the wall: executes ``<folder>/.walled-input.ipynb`` there and writes it to the outbox."""
    # imported here: only the walled side runs a kernel
    from nbclient import NotebookClient

    if os.geteuid() == 0 or os.getegid() == 0:
        print("the kernel would run as root: refused", file=sys.stderr)
        return 3
    for name, value in KERNEL.rlimits:
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))
    folder, timeout = Path(argv[0]), int(argv[1])
    source = folder / ".walled-input.ipynb"
    nb = nbformat.reads(source.read_text(encoding="utf-8"), as_version=4)
    source.unlink()
    for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        os.makedirs(os.environ[name], exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        shutdown_kernel="immediate",  # every output is in: no wait for the kernel's own exit (a second)
        resources={"metadata": {"path": str(folder)}},
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": "",
            "traceback": ["CellTimeoutError: No reply from kernel before timeout"],
        },
    )
    client.execute()
    Path(OUTBOX, RESULT).write_text(nbformat.writes(nb), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
