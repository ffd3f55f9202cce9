"""Every verdict is the scorer's own, and nothing a hidden check met reaches a visible field (issue 19)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

from autograder.feedback import report
from autograder.scoring import launcher
from autograder.scoring.grader import Grader
from autograder.scoring.results import Limits
from conftest import ROOT, by_id, submission_with

FAST = Limits(check_timeout=3.0, exercise_timeout=20.0, total_timeout=120.0, memory_mb=768)
KINDS = ["process"] + (["bwrap"] if launcher.choose("auto").contained else [])
WALLED = KINDS[-1]  # bubblewrap where it is installed (as CI and Gradescope run it)
BOTH = ("public", "hidden")
PUBLIC_SHAPES = "{(4, 5), (3, 4, 5)}"  # log_softmax's public inputs: a learner who read the checks knows them


_WARM: dict[tuple, Grader] = {}  # one warm grader per (sandbox, suites, limits), for this file's tests


@pytest.fixture(scope="module", autouse=True)
def _warm_graders():
    """The file's graders stay warm across its tests (each submission still gets fresh processes); closed after it."""
    yield
    for grader in _WARM.values():
        grader.close()
    _WARM.clear()


def _grade(kind: str, sub, exercises, suites=BOTH, limits=FAST):
    key = (kind, suites, repr(limits))
    if key not in _WARM:
        _WARM[key] = Grader(kind, suites, limits)
    return _WARM[key].grade(sub, exercises)


def _visible(result) -> str:
    """Everything a learner can see of a grade: results.json under every visibility, and the table."""
    shown = [json.dumps(report.results_json(result, v)) for v in report.VISIBILITIES]
    shown += [json.dumps([t for t in report.results_json(result)["tests"] if t["visibility"] == "visible"])]
    out = io.StringIO()
    report.print_report(report_public(result), out)
    return "\n".join(shown) + out.getvalue()


def report_public(result):
    """The grade as the learner's own ``make grade`` reports it: the public part of each exercise."""
    import copy  # only this helper copies a grade

    public = copy.copy(result)
    public.exercises = [e.part("public") for e in result.exercises]
    return public


PRINTS_EVERY_INPUT = """
import torch
def log_softmax(logits, dim=-1):
    print("SEEN", tuple(logits.shape), logits.detach().flatten()[:3].tolist() if logits.device.type != "meta" else "")
    m = logits.amax(dim, keepdim=True)
    return logits - m - (logits - m).exp().sum(dim, keepdim=True).log()
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_submission_printing_every_input_shows_no_hidden_input_in_any_visible_field(tmp_path, kind):
    result = _grade(kind, submission_with(tmp_path, "losses", PRINTS_EVERY_INPUT), ["losses.log_softmax"])
    ex = result.exercises[0]
    assert ex.outcome == "passed" and ex.score == ex.max_score, ex.message
    hidden_lines = {line for line in ex.parts["hidden"].output.splitlines() if line.startswith("SEEN")}
    public_lines = {line for line in ex.parts["public"].output.splitlines() if line.startswith("SEEN")}
    assert hidden_lines and public_lines  # both printed; the public prints are the learner's to see
    visible = _visible(result)
    assert all(line in visible for line in public_lines)
    assert not [line for line in hidden_lines - public_lines if line in visible]
    assert "during [" in ex.parts["public"].output  # each piece under the check it printed during


HIDDEN_ONLY = {
    "hangs": "while True: pass",
    "exits": "import os; os._exit(0)",
    "segfaults": "import faulthandler; faulthandler._sigsegv()",
    "raises with its input": "raise ValueError(f'HIDDEN {logits.flatten()[:3].tolist()}')",
    "calls sys.exit": "import sys; sys.exit(4)",
    "calls the forbidden function": "return torch.log_softmax(logits, dim)",
}


@pytest.mark.parametrize("behaviour", HIDDEN_ONLY)
def test_what_happens_inside_a_hidden_check_stays_in_the_hidden_test(tmp_path, behaviour):
    code = f"""
    import torch
    def log_softmax(logits, dim=-1):
        print("HIDDEN", tuple(logits.shape))
        if tuple(logits.shape) not in {PUBLIC_SHAPES}:
            {HIDDEN_ONLY[behaviour]}
        m = logits.amax(dim, keepdim=True)
        return logits - m - (logits - m).exp().sum(dim, keepdim=True).log()
    """
    result = _grade(WALLED, submission_with(tmp_path, "losses", code), ["losses.log_softmax"])
    ex = result.exercises[0]
    assert ex.outcome != "passed" and ex.parts["hidden"].score < ex.parts["hidden"].max_score
    public = ex.parts["public"]
    assert public.outcome == "passed" and public.score == public.max_score, public.message
    tests = report.results_json(result)["tests"]
    shown = next(t for t in tests if t["visibility"] == "visible")
    assert shown["status"] == "passed" and shown["outcome"] == "passed"
    visible = _visible(result)
    for hidden_shape in ("(5, 3)", "(2, 3, 4)", "(3, 4, 2)", "(7,)", "(4, 6)"):
        assert hidden_shape not in visible
    for word in ("timed out", "crashed", "forbidden", "tampering", "ValueError", "sys.exit", "log_softmax called"):
        assert word not in shown["output"]


FORGES_RESULTS = """
import os, struct, threading, time

def _forge():
    fd = next(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2 and os.path.exists(f"/proc/self/fd/{f}")
              and os.readlink(f"/proc/self/fd/{f}").startswith("pipe:") and int(f) != 1)
    while True:
        time.sleep(1.0)
        try:
            os.write(fd, b"U" + struct.pack("<I", 0))
        except OSError:
            return

def log_softmax(logits, dim=-1):
    threading.Thread(target=_forge, daemon=True).start()
    while True:
        time.sleep(0.1)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_forged_results_cannot_stretch_a_deadline(tmp_path, kind):
    limits = Limits(check_timeout=2.0, exercise_timeout=60.0, total_timeout=120.0, memory_mb=768)
    result = _grade(
        kind, submission_with(tmp_path, "losses", FORGES_RESULTS), ["losses.log_softmax"], ("public",), limits
    )
    ex = result.exercises[0]
    assert ex.score == 0 and ex.outcome in ("forbidden", "timeout"), ex.message
    # the public part has 9 units: at most one clock each, however many messages were forged
    assert result.execution_time < 9 * limits.check_timeout + 10


PLACEMENT_BUG = """
import torch
def pad2d(x, padding, value=0.0):
    {meta}
    out = torch.full((*x.shape[:-2], x.shape[-2] + 2 * padding, x.shape[-1] + 2 * padding), value, dtype=x.dtype)
    out[..., padding : padding + x.shape[-2], padding : padding + x.shape[-1]] = x
    return out
"""


def test_raising_on_the_meta_device_scores_no_more_than_the_placement_bug(tmp_path):
    scores = {}
    for name, meta in (("bug", "pass"), ("bug that raises on meta", "if x.is_meta: raise RuntimeError('data')")):
        sub = submission_with(tmp_path / name.replace(" ", "-"), "convolution", PLACEMENT_BUG.format(meta=meta))
        scores[name] = by_id(_grade(WALLED, sub, ["convolution.pad2d"]))["convolution.pad2d"].score
    assert scores["bug that raises on meta"] <= scores["bug"] < 2.0


HOLLOW = """
import torch as _torch

def _hollow(value, sparse):
    if isinstance(value, _torch.Tensor):
        if sparse and value.dim():
            return value.detach().to_sparse()
        # not empty_like: the allocator may hand back the very memory the true value was just freed from
        return _torch.full_like(value, float("nan") if value.is_floating_point() else -7)
    if isinstance(value, (tuple, list)):
        return type(value)(_hollow(v, sparse) for v in value)
    return value

def _hollowed(fn, sparse):
    return lambda *args, **kwargs: _hollow(fn(*args, **kwargs), sparse)

for _name, _fn in list(globals().items()):
    if callable(_fn) and not isinstance(_fn, type) and not _name.startswith("_") and _fn.__module__ == __name__:
        globals()[_name] = _hollowed(_fn, {sparse})
"""


NOT_TENSORS = {"neurons.count_parameters", "convolution.conv_output_size"}  # they return a number


@pytest.mark.parametrize("sparse", [False, True], ids=["shape-only", "sparse"])
def test_a_submission_that_computes_no_value_scores_zero(tmp_path, sparse):
    """Every function that returns tensors returns them hollow (NaN-filled, or sparse): of the right
    shape, dtype and device, holding nothing; argument checks see the real function refuse."""
    modules = ("losses", "pooling", "normalization", "neurons", "convolution")
    sub = submission_with(tmp_path, modules[0], HOLLOW.format(sparse=sparse))
    for module in modules[1:]:
        path = sub / f"{module}.py"
        path.write_text(path.read_text() + HOLLOW.format(sparse=sparse))
    result = _grade("process", sub, list(modules), ("public",))
    functions = [e for e in result.exercises if e.exercise.function[0].islower() and e.exercise.id not in NOT_TENSORS]
    assert len(functions) > 10
    assert {e.exercise.id: e.score for e in functions} == {e.exercise.id: 0 for e in functions}


TABLE_MAKER = """
import hashlib, json, sys
from autograder import checks
from autograder.protocol.plans import generator
table = {}
for c in checks.for_exercise("losses.log_softmax", ("public", "hidden")):
    made = c.make(generator(c.seed))
    x = made.args[0]
    key = hashlib.sha256(x.numpy().tobytes()).hexdigest() + str(x.dtype)
    table[key] = c.reference()(*made.args, **made.kwargs).tolist()
print(json.dumps(table))
"""

ANSWER_TABLE = """
import hashlib, torch
TABLE = {table}
def log_softmax(logits, dim=-1):
    if logits.device.type != "cpu":
        return torch.empty_like(logits)
    found = TABLE.get(hashlib.sha256(logits.detach().numpy().tobytes()).hexdigest() + str(logits.dtype))
    if found is None:
        return torch.zeros_like(logits)
    return torch.tensor(found, dtype=logits.dtype) + 0 * logits
"""

GRADE_HIDDEN = """
import json, sys
from autograder.scoring.grader import grade
ex = grade(sys.argv[1], ["losses.log_softmax"], ("public", "hidden"), "process").exercises[0]
print(json.dumps(ex.suite_scores()))
"""


def _with_secret(secret: str, script: str, *args) -> str:
    env = dict(os.environ, AUTOGRADER_SECRET=secret)
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_an_answer_table_built_from_one_secrets_inputs_scores_zero_under_another(tmp_path):
    table = _with_secret("leaked-year", TABLE_MAKER)
    sub = submission_with(tmp_path, "losses", ANSWER_TABLE.format(table=table))
    same = json.loads(_with_secret("leaked-year", GRADE_HIDDEN, str(sub)))
    other = json.loads(_with_secret("this-year", GRADE_HIDDEN, str(sub)))
    assert same["hidden"][0] > 0  # the table answers the inputs it was built from ...
    assert other["hidden"][0] == 0  # ... and nothing else
    assert other["public"] == same["public"]  # public inputs stay fixed: learners reproduce them


def test_the_secret_stays_out_of_the_repository_and_the_learners_bundle(root):
    from autograder.checks import secret

    ignored = subprocess.run(["git", "check-ignore", "-q", str(secret.FILE)], cwd=root)
    assert ignored.returncode == 0
    bundle = (root / "autograder" / "packaging" / "bundle.py").read_text()
    assert '"hidden"' in bundle  # the bundle leaves checks/hidden/ (where the secret file lives) out


def test_without_a_secret_the_instructor_is_told_once(monkeypatch, capsys):
    from autograder.checks import secret

    monkeypatch.setenv(secret.ENV, "")
    monkeypatch.setattr(secret, "FILE", ROOT / "no-such-secret")
    monkeypatch.setattr(secret, "_told", False)
    secret.tell_once_if_missing()
    secret.tell_once_if_missing()
    assert capsys.readouterr().err.count("no course secret") == 1


def test_code_prints_its_check_by_name_in_its_own_output(tmp_path):
    result = _grade(
        "process", submission_with(tmp_path, "losses", PRINTS_EVERY_INPUT), ["losses.log_softmax"], ("public",)
    )
    output = result.exercises[0].output
    assert "--- during [float32, 4×5 logits, dim=-1] (cpu) ---\nSEEN (4, 5)" in output
    assert textwrap.dedent(output).count("--- during [") >= 3


def test_a_hidden_check_in_a_notebook_shows_nothing_the_learners_code_printed(capsys):
    import torch

    from autograder.feedback import incheck

    def tanh(x):
        print("INPUT", tuple(x.shape))
        e = torch.exp(2 * torch.where(x >= 0, -x, x))
        return torch.where(x >= 0, (1 - e) / (1 + e), -(1 - e) / (1 + e))

    incheck.check(tanh, "neurons.tanh", suite="public")
    assert "INPUT" in capsys.readouterr().out  # the public checks' prints are the learner's own
    incheck.check(tanh, "neurons.tanh", suite="hidden")
    out = capsys.readouterr().out
    assert "INPUT" not in out and "passed" in out


def test_make_gradescope_ships_the_secret_in_the_instructors_zip(tmp_path, monkeypatch):
    import zipfile

    from autograder.checks import secret
    from autograder.submissions import gradescope

    monkeypatch.setenv(secret.ENV, "the-course-secret")
    gradescope.build(tmp_path / "autograder.zip")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        assert z.read("autograder/checks/hidden/course.secret").strip() == b"the-course-secret"


LEAVES_A_NOTE = f"""
import glob, os, torch
def log_softmax(logits, dim=-1):
    if tuple(logits.shape) not in {PUBLIC_SHAPES}:  # a hidden check: leave its input where others look
        for folder in (".", "/tmp", "/dev/shm"):
            try:
                path = os.path.join(folder, "leak-" + str(os.getpid()))
                with open(path, "w") as f:
                    f.write("LEAKED " + str(tuple(logits.shape)))
                os.chmod(path, 0o666)
                os.chmod(folder, 0o777) if folder == "." else None
            except BaseException:  # noqa: BLE001 - the audit hook refuses /tmp: try the next
                pass
        import time
        time.sleep(1.0)  # and stay, while others look
    m = logits.amax(dim, keepdim=True)
    return logits - m - (logits - m).exp().sum(dim, keepdim=True).log()
_nll_loss = nll_loss
_waited = []
def nll_loss(*args, **kwargs):
    if not _waited:  # long enough for log_softmax's public child to end and a hidden one to start
        import time
        time.sleep(2.0)
        _waited.append(1)
    for path in glob.glob("/tmp/leak-*") + glob.glob("/dev/shm/leak-*") + glob.glob("../*/leak-*"):
        try:
            print(open(path).read())
        except OSError:
            pass
    return _nll_loss(*args, **kwargs)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_hidden_check_cannot_pass_its_inputs_to_another_exercises_public_checks(tmp_path, kind):
    """Through the shared temporary folders, one exercise's hidden child to another's public one:
    no hidden child starts before every public child is gone, and (as root) what it left goes with it."""
    result = _grade(kind, submission_with(tmp_path, "losses", LEAVES_A_NOTE), ["losses.log_softmax", "losses.nll_loss"])
    assert all(e.parts["public"].outcome == "passed" for e in result.exercises)
    assert "LEAKED" not in _visible(result)


def test_the_instructor_reproduces_a_hidden_check_with_the_secret(tmp_path):
    """Same secret, same inputs: ``repro --suite hidden`` shows the hidden check as it was graded."""
    code = (
        "from autograder.checks import secret\n"
        "from autograder.feedback import repro\n"
        "print(repro._check('losses.log_softmax', 1, 'hidden').seed)\n"
    )
    assert _with_secret("course-a", code) == _with_secret("course-a", code) != _with_secret("course-b", code)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "repro",
            "losses.log_softmax",
            "1",
            "--suite",
            "hidden",
            "--submission",
            "solutions",
        ],
        env=dict(os.environ, AUTOGRADER_SECRET="course-a"),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "verdict: passed" in done.stdout, done.stdout + done.stderr
