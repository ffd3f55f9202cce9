"""The walls of issue "A sandbox that is a wall", one hostile submission (or one probe) per weakness.

Two layers are proved separately. The OS walls (an unprivileged uid, read-only files, process and
file limits, a scratch quota) are probed by code that runs exactly as a learner's child does *but
without* the in-process guards, so that what holds is the wall itself. The grading path (forbidden
kernels, a paranoid scorer, clean reports) is proved through the real grader.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from autograder import checks
from autograder.feedback import report
from autograder.scoring import launcher
from autograder.scoring.grader import Grader, read_submission
from autograder.scoring.results import Limits
from conftest import ROOT, SOLUTIONS, by_id, submission_with

FAST = Limits(check_timeout=3.0, exercise_timeout=20.0, total_timeout=120.0, memory_mb=768)
ROOTED = os.geteuid() == 0
KINDS = ["process"] + (["bwrap"] if launcher.choose("auto").contained else [])


@pytest.fixture(scope="module", params=KINDS)
def grader(request):
    with Grader(request.param, limits=FAST) as g:
        yield g


# ----------------------------------------------------------------------------- OS walls, no guards
def as_learner(
    kind: str, code: str, timeout: float = 60, files: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs ``code`` in the sandbox as a child does before it imports learner code (its namespaces,
    limits, then the learner uid), but with no audit hook and no forbidden kernels: only the OS walls hold.
    ``files`` are posted to the inbox as submission ``1``; ``SUBMISSION`` names its folder."""
    box = launcher.choose(kind)
    uid = (launcher.learner_uids(1) or [None])[0]
    inbox = launcher.new_inbox()
    try:
        folder = launcher.post(inbox, "1", files or {})
        argv, env, scratch = launcher.command(box, inbox)
        seen_folder = f"{launcher.INBOX}/1" if kind == "bwrap" else folder
        prelude = (
            "import ctypes, json, os, signal, sys, time\n"  # loaded before the drop, as the worker does
            "os.mkdir('exercise-1', 0o700); os.chdir('exercise-1')\n"
            + (f"os.chown('.', {uid}, {uid})\n" if uid is not None else "")  # as the zygote makes it
            + "from autograder.sandbox import namespaces, privileges\n"
            + f"_scratch = os.getcwd(); namespaces.supported(); namespaces.isolate_child({seen_folder!r}, _scratch)\n"
            + f"privileges.drop({uid!r}); os.chdir(_scratch)\n"
            f"SUBMISSION = {seen_folder!r}\n"
        )
        argv = argv[: argv.index("-m")] + ["-c", prelude + textwrap.dedent(code)]
        try:
            return subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=scratch if kind == "process" else None,
            )
        finally:
            if kind == "process":
                shutil.rmtree(scratch, ignore_errors=True)
    finally:
        launcher.clear_inbox(inbox)
        os.rmdir(inbox)


def skip_when_learner_is_the_user(kind: str) -> None:
    """The plain sandbox started by a user runs learner code as that user: file walls do not apply."""
    if kind == "process" and not ROOTED:
        pytest.skip("the plain sandbox started by a user runs learner code as that user")


@pytest.mark.parametrize("kind", KINDS)
def test_learner_code_runs_unprivileged(kind):
    proc = as_learner(
        kind,
        """
        import json
        status = dict((k, v.strip()) for k, v in (l.split(":", 1) for l in open("/proc/self/status") if ":" in l))
        print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups(),
                          "caps": [int(status[c], 16) for c in ("CapPrm", "CapEff", "CapAmb")],
                          "nnp": status["NoNewPrivs"]}))
    """,
    )
    import json

    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    if not ROOTED:  # started by a user: learner code is that user, never more
        assert seen["uid"] == os.getuid() and seen["caps"] == [0, 0, 0]
        return
    assert seen["uid"] != 0 and seen["euid"] != 0 and 0 not in seen["groups"]
    assert seen["caps"] == [0, 0, 0] and seen["nnp"] == "1"


@pytest.mark.skipif("bwrap" not in KINDS, reason="bubblewrap unavailable")
def test_bwrap_mounts_cannot_be_made_writable():
    """The escape seen as root: remount the grader's package read-write and append to it."""
    target = ROOT / "autograder" / "protocol" / "wire.py"
    before = target.read_bytes()
    proc = as_learner(
        "bwrap",
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        MS_REMOUNT, MS_BIND = 32, 4096
        results = []
        for path in (b"/grader/autograder", b"/", sys.prefix.encode()):
            rc = libc.mount(None, path, None, MS_REMOUNT | MS_BIND, None)
            results.append(rc == 0)
        try:  # a user namespace of its own gives capabilities there, never over these mounts
            if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
                raise OSError(ctypes.get_errno(), "unshare")
            results.append(libc.mount(None, b"/grader/autograder", None, MS_REMOUNT | MS_BIND, None) == 0)
        except OSError:
            results.append(False)
        for path in ("/grader/autograder/protocol/wire.py", "/grader/evil.py", sys.prefix + "/evil.py", "/evil.py"):
            try:
                open(path, "a").write("# escaped")
                results.append(True)
            except OSError:
                results.append(False)
        print(results)
    """,
    )
    assert proc.stdout.strip() == str([False] * 8), proc.stdout + proc.stderr
    assert target.read_bytes() == before


@pytest.mark.parametrize("kind", KINDS)
def test_learner_uid_cannot_write_the_grader_or_the_environment(kind):
    package = "/grader/autograder" if kind == "bwrap" else str(ROOT / "autograder")
    proc = as_learner(
        kind,
        f"""
        wrote = []
        for path in ({package!r} + "/wire.py", {package!r} + "/evil.py", sys.prefix + "/evil.py"):
            try:
                open(path, "a").write("# escaped")
                wrote.append(path)
            except OSError:
                pass
        print(wrote)
    """,
    )
    skip_when_learner_is_the_user(kind)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_on_sys_path_is_writable(kind):
    skip_when_learner_is_the_user(kind)
    proc = as_learner(
        kind,
        """
        print([p for p in sys.path if os.access(p or ".", os.W_OK)], "" in sys.path)
    """,
    )
    assert proc.stdout.strip() == "[] False", proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_a_submission_cannot_change_its_own_modules(kind):
    skip_when_learner_is_the_user(kind)
    proc = as_learner(
        kind,
        """
        changed = []
        for action in (lambda: open(SUBMISSION + "/losses.py", "a").write("# changed"),
                       lambda: open(SUBMISSION + "/extra.py", "w").write("x = 1"),
                       lambda: os.chmod(SUBMISSION + "/losses.py", 0o666),
                       lambda: os.rename(SUBMISSION + "/losses.py", SUBMISSION + "/moved.py")):
            try:
                action()
                changed.append(True)
            except OSError:
                changed.append(False)
        print(changed, open(SUBMISSION + "/losses.py").read())
    """,
        files={"losses.py": "ORIGINAL"},
    )
    assert proc.stdout.strip() == "[False, False, False, False] ORIGINAL", proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_learner_code_cannot_start_a_program(kind):
    """A new program would run without the child's forbidden kernels: execve fails (seccomp), and
    so does forking the process that might have tried it (a thread is all it may start)."""
    proc = as_learner(
        kind,
        """
        import errno, threading
        results = []
        try:
            os.execv("/bin/true", ["true"])
        except OSError as exc:
            results.append(exc.errno == errno.EPERM)
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            results.append(False)
        except OSError as exc:
            results.append(exc.errno == errno.EPERM)
        thread = threading.Thread(target=results.append, args=(True,))
        thread.start()
        thread.join()
        print(results)
    """,
    )
    assert proc.stdout.strip() == "[True, True, True]", proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_open_files_are_limited(kind):
    proc = as_learner(
        kind,
        """
        held = []
        try:
            for _ in range(1000):
                held.append(open("/dev/null"))
        except OSError:
            pass
        print(len(held))
    """,
    )
    assert int(proc.stdout.split()[0]) < 256, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_one_exercise_cannot_start_hundreds_of_processes(kind):
    """One process per exercise (fork refused: one address space, so RLIMIT_AS bounds all of its
    memory) and, as root, at most 64 threads (RLIMIT_NPROC of its own uid)."""
    proc = as_learner(
        kind,
        """
        import threading
        forked = 0
        for _ in range(400):
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                forked += 1
            except OSError:
                break
        stop = threading.Event()
        threads = []
        for _ in range(400):
            try:
                thread = threading.Thread(target=stop.wait)
                thread.start()
            except RuntimeError:
                break
            threads.append(thread)
        stop.set()
        print(forked, len(threads))
    """,
    )
    forked, threads = map(int, proc.stdout.split())
    assert forked == 0, proc.stdout + proc.stderr
    if kind == "bwrap" or ROOTED:  # the user's own processes count too when not started as root
        assert 0 < threads <= 64, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_files_have_a_size_limit(kind):
    proc = as_learner(
        kind,
        """
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as Python does: the write fails with EFBIG
        try:
            with open("big", "wb") as f:
                f.write(b"x" * (100 * 2**20))
            print("one file of 100 MiB")
        except OSError as exc:
            print(exc.errno, os.path.getsize("big") // 2**20)
        finally:
            os.unlink("big")
    """,
    )
    import errno

    assert proc.stdout.split() == [str(errno.EFBIG), "64"], proc.stdout + proc.stderr


@pytest.mark.skipif("bwrap" not in KINDS, reason="bubblewrap unavailable")
def test_scratch_has_a_quota():
    proc = as_learner(
        "bwrap",
        """
        written, error = 0, None
        try:
            for i in range(20):  # 20 files of up to 60 MiB: 1.2 GiB asked for
                with open(f"part{i}", "wb") as f:
                    for _ in range(60):
                        f.write(b"x" * 2**20)
                        written += 1
        except OSError as exc:
            error = exc.errno
        print(error, written)
    """,
    )
    import errno

    error, written = proc.stdout.split()
    assert error == str(errno.ENOSPC), proc.stdout + proc.stderr
    assert 256 < int(written) <= launcher.SCRATCH_BYTES // 2**20


def test_plain_processes_have_a_measured_scratch_quota(tmp_path):
    """No tmpfs holds a plain worker's scratch: the zygote measures it (and, as root, what the
    learner uid left in /tmp) and stops the exercise past the quota; what it left is removed."""
    left = f"/tmp/left-by-learner-{os.getpid()}"
    sub = submission_with(
        tmp_path,
        "outliers",
        f"""
        import torch
        def count_nan(values):
            try:  # PyTorch's own writer: no audit event (as root, /tmp is a read-only folder of its own)
                torch.save(torch.zeros(4), {left!r})
            except RuntimeError:
                pass
            block = b"x" * 2**20
            for i in range(20):  # 20 files of 60 MiB: 1.2 GiB asked for
                with open(f"part{{i}}", "wb") as f:
                    for _ in range(60):
                        f.write(block)
            return 0
        """,
    )
    with Grader("process", limits=FAST) as g:
        result = by_id(g.grade(sub, ["outliers.count_nan", "outliers.iqr"]))
    ex = result["outliers.count_nan"]
    assert ex.outcome == "crashed" and ex.score == 0, ex.message
    assert f"more than {launcher.SCRATCH_BYTES // 2**20} MiB of files" in ex.message
    assert result["outliers.iqr"].outcome == "passed"
    if ROOTED:
        assert not os.path.exists(left)


@pytest.mark.skipif(not ROOTED, reason="sweeping a uid needs root")
def test_every_process_of_a_learner_uid_is_killed():
    from autograder.sandbox import worker

    uid = launcher.learner_uids(1)[0]
    procs = [
        subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=[], start_new_session=True)
        for _ in range(3)
    ]
    worker._kill_uid(uid)  # kills, and reaps what it may (here: our own children)
    for p in procs:
        assert not os.path.exists(f"/proc/{p.pid}") or "Z" in open(f"/proc/{p.pid}/stat").read().split()[2]


def test_a_chosen_uid_range_must_stay_clear_of_accounts(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("AUTOGRADER_UID_BASE", "1000")
    with pytest.raises(ValueError, match="AUTOGRADER_UID_BASE"):
        launcher.learner_uids(2)
    monkeypatch.setenv("AUTOGRADER_UID_BASE", "1500000000")
    assert launcher.learner_uids(2) == [1_500_000_000, 1_500_000_001]


def test_the_plain_worker_kills_nothing_outside_its_uids():
    """Only a worker in a PID namespace of its own sweeps it whole; a plain one (pid 2 or 3 in a
    container, say) never does."""
    from autograder.sandbox import worker

    bystander = subprocess.Popen(["sleep", "30"])
    try:
        worker._end_of_job(None, own_pid_namespace=False)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_concurrent_exercises_run_as_different_unprivileged_uids(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        import os, time
        _iqr, _bounds = iqr, outlier_bounds
        def iqr(values):
            print("uid", os.getuid())
            return _iqr(values)
        def outlier_bounds(values, k=1.5):
            print("uid", os.getuid())
            return _bounds(values, k)
        """,
    )
    result = by_id(grader.grade(sub, ["outliers.iqr", "outliers.outlier_bounds"]))
    uids = {int(ex.output.split("uid ", 1)[1].split()[0]) for ex in result.values()}  # output is labelled per check
    if ROOTED:
        assert len(uids) == 2 and 0 not in uids
    else:
        assert uids == {os.getuid()}


def test_learner_code_imports_the_standard_library_after_the_drop(tmp_path, grader):
    """Submodules the worker never loaded, of packages it did (``json``, ``encodings``, ``email``,
    ``concurrent.futures``), import as the learner uid, at call time, in either sandbox (a Python
    under /root included: ``privileges.keep_import_path_reachable``)."""
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        _iqr = iqr
        def iqr(values):
            import concurrent.futures.process, email.mime.text, encodings.idna, json.tool
            print("imported", json.tool.__name__, encodings.idna.__name__, email.mime.text.__name__)
            return _iqr(values)
        """,
    )
    found = by_id(grader.grade(sub, ["outliers.iqr"]))["outliers.iqr"]
    assert found.score == found.max_score, f"{found.outcome} {found.message} {found.output}"
    assert "imported json.tool encodings.idna email.mime.text" in found.output


def test_links_in_a_class_folder_are_never_followed(tmp_path):
    from autograder.submissions.unpack import SubmissionError, materialize

    outside = tmp_path / "instructor"
    outside.mkdir()
    (outside / "answers.ipynb").write_text("{}")
    (outside / "answers.zip").write_bytes(b"PK")
    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "answers.ipynb").symlink_to(outside / "answers.ipynb")
    (learner / "answers.zip").symlink_to(outside / "answers.zip")
    assert materialize(learner, tmp_path / "work") == learner  # nothing unpacked: no module found
    with pytest.raises(SubmissionError, match="symbolic link"):
        materialize(learner / "answers.zip", tmp_path / "work2")


# ----------------------------------------------------------------------------- honest code scores full
LEGAL = {
    "neurons": """
        import logging
        logging.basicConfig(level=logging.DEBUG)
        print("neurons loaded")
        _tanh, _neuron = tanh, neuron
        def tanh(x):
            print("tanh got", x, repr(x), f"{x}")
            return _tanh(x)
        def neuron(x, w, b):
            z = x @ w.T + b
            logging.debug(f"pre-activation {z}")
            return _neuron(x, w, b)
        """,
    "losses": """
        import math, statistics
        def log_softmax(logits, dim=-1):
            shifted = logits - logits.amax(dim=dim, keepdim=True)
            print("shifted", shifted)
            return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
        """,
}


@pytest.mark.parametrize("module", list(LEGAL))
def test_printing_and_logging_tensors_costs_nothing(tmp_path, grader, module):
    sub = submission_with(tmp_path, module, LEGAL[module])
    result = grader.grade(sub, [module])
    for ex in result.exercises:
        assert ex.outcome == "passed" and ex.score == ex.max_score, (ex.exercise.id, ex.message)


# ----------------------------------------------------------------------------- forbidden means forbidden
FORBIDDEN_ROUTES = {
    "in a thread": """
        import threading, torch
        def tanh(x):
            box = []
            t = threading.Thread(target=lambda: box.append(torch.tanh(x)))
            t.start(); t.join()
            return box[0]
        """,
    "in place (Tensor.tanh_)": """
        def tanh(x):
            return x.clone().tanh_()
        """,
    "through a sparse tensor": """
        import torch
        def tanh(x):
            return torch.tanh(x.to_sparse()).to_dense()
        """,
    "in a custom backward": """
        import torch
        class _Tanh(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                e = torch.exp(-2 * x.abs())
                return torch.sign(x) * (1 - e) / (1 + e)
            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * (1 - torch.tanh(x) ** 2)
        def tanh(x):
            return _Tanh.apply(x)
        """,
    "with the recorder switched off": """
        import sys, torch
        def tanh(x):
            stack = getattr(torch.utils, "_python" + "_dispatch")._get_current_dispatch_mode_stack()
            for mode in stack:
                mode.recording = False
            main = sys.modules["__main__"]
            for name in dir(main):
                obj = getattr(main, name)
                if hasattr(obj, "recorder"):
                    obj.recorder.recording = False
            return torch.tanh(x)
        """,
    "in a new program": """
        import os, sys, torch
        def tanh(x):  # a Python of its own has no forbidden kernels; _posixsubprocess raises no audit event
            spawn = sys.modules["_posix" + "subprocess"].fork_exec
            r, w = os.pipe()
            er, ew = os.pipe()
            code = "import torch; print(torch.tanh(torch.tensor(%r, dtype=torch.float64)).tolist())" % x.tolist()
            pid = spawn([sys.executable, "-c", code], [os.fsencode(sys.executable)], True, (w, ew), None, None,
                        -1, -1, -1, w, -1, -1, er, ew, True, False, -1, None, None, None, -1, None, False)
            os.close(w); os.close(ew)
            out = b""
            while chunk := os.read(r, 65536):
                out += chunk
            os.waitpid(pid, 0)
            return torch.tensor(eval(out), dtype=x.dtype)
        """,
    "with the reports forged": """
        import os, torch
        _write = os.write
        def _forge(fd, data):
            return _write(fd, data.replace(b'"tanh"', b'"exp_"'))
        os.write = _forge
        def tanh(x):
            return torch.tanh(x)
        """,
}


@pytest.mark.parametrize("route", list(FORBIDDEN_ROUTES), ids=list(FORBIDDEN_ROUTES))
def test_a_forbidden_op_earns_nothing_whatever_the_route(tmp_path, grader, route):
    sub = submission_with(tmp_path, "neurons", FORBIDDEN_ROUTES[route])
    result = by_id(grader.grade(sub, ["neurons.tanh", "neurons.neuron"]))
    assert result["neurons.tanh"].score == 0, result["neurons.tanh"].message
    assert result["neurons.neuron"].outcome == "passed", result["neurons.neuron"].message


def test_a_forbidden_op_is_reported_once_without_a_placement_note(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "neurons",
        """
        def tanh(x):
            return torch.tanh(x)
        """,
    )
    ex = by_id(grader.grade(sub, ["neurons.tanh"]))["neurons.tanh"]
    assert ex.outcome == "forbidden" and ex.message.startswith("tanh called aten.tanh")
    assert ex.notes == [], ex.notes


def test_a_forbidden_op_at_import_costs_that_exercise_only(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "neurons",
        """
        import torch
        _PRECOMPUTED = torch.tanh(torch.linspace(-3, 3, 7))
        """,
    )
    result = by_id(grader.grade(sub, ["neurons"]))
    assert result["neurons.tanh"].outcome == "forbidden" and result["neurons.tanh"].score == 0
    assert "aten.tanh" in result["neurons.tanh"].message
    for other in ("neurons.neuron", "neurons.TinyNet", "neurons.count_parameters", "neurons.sensitive_mask"):
        assert result[other].outcome == "passed", (other, result[other].message)


# ----------------------------------------------------------------------------- checks stay outside
HIDDEN_NAMES = ("saturation", "shared by two layers", "every parameter frozen")  # in hidden check names only


def test_hidden_checks_never_enter_the_sandbox(tmp_path, grader):
    """At import and while its function runs, the submission finds no check module, no check
    object, and (under bwrap) no check file; what it prints holds no hidden check's name."""
    sub = submission_with(
        tmp_path,
        "neurons",
        """
        import os, sys
        _pkg = "auto" + "grader"
        def _look(when):
            mods = [m for m in sys.modules if m.startswith(_pkg + ".checks")]
            folder = os.path.join(os.path.dirname(sys.modules[_pkg].__file__), "checks")
            files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
            print(when, "modules", mods, "files", files)
        _look("import")
        _tanh = tanh
        def tanh(x):
            _look("call")
            return _tanh(x)
        """,
    )
    ex = by_id(grader.grade(sub, ["neurons.tanh"]))["neurons.tanh"]
    assert ex.outcome == "passed", ex.message
    lines = [line for line in ex.output.splitlines() if " modules " in line]
    assert lines and all("modules []" in line for line in lines), ex.output
    if grader.box.contained:
        assert all(line.endswith("files []") for line in lines), ex.output
    assert not any(word in ex.output for word in HIDDEN_NAMES)
    hidden = " ".join(c.name for c in checks.for_module("neurons", ("hidden",)))
    assert all(word in hidden for word in HIDDEN_NAMES)  # the words still name hidden checks


def test_the_worker_module_loads_no_check():
    code = "import sys, autograder.sandbox.worker\nprint([m for m in sys.modules if m.startswith('autograder.checks')])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_every_check_travels_as_data():
    """Each plan unpickles under the worker's allow-list (PyTorch, NumPy, ``plans``): no check,
    reference or check module rides along; a plan holding one is refused."""
    import pickle

    from autograder import checks
    from autograder.checks.public.neurons import neuron_reference
    from autograder.protocol import plans

    for found in checks.all_checks().values():
        for check in found:
            plan = plans.loads(check.wire_plan())
            assert plan.kind in plans.PROTOCOLS
            assert b"autograder.checks" not in check.wire_plan(), check.describe()
    smuggled = plans.dumps(plans.Plan("call", {"args": (neuron_reference,)}))
    with pytest.raises(pickle.UnpicklingError, match="send data"):
        plans.loads(smuggled)


# ----------------------------------------------------------------------------- a paranoid scorer
def test_a_tensor_without_data_earns_nothing(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "normalization",
        """
        import torch
        def normalize(x, mean, std):
            return torch.sparse_coo_tensor(torch.zeros(4, 0, dtype=torch.long), torch.zeros(0),
                                           size=x.shape, dtype=x.dtype, device=x.device)
        """,
    )
    ex = by_id(grader.grade(sub, ["normalization.normalize"]))["normalization.normalize"]
    assert ex.score == 0, ex.message
    assert "dense" in ex.message or "sparse" in ex.message


def _writes_to_result_pipe(payload_expr: str) -> str:
    return f"""
        import os, stat, struct
        def _result_fd():
            for fd in range(3, 64):
                try:
                    if stat.S_ISFIFO(os.fstat(fd).st_mode):
                        return fd
                except OSError:
                    pass
        def count_nan(values):
            payload = {payload_expr}
            os.write(_result_fd(), b"U" + struct.pack("<I", len(payload)) + payload)
            return 0
        """


def test_a_deeply_nested_message_costs_the_exercise_not_the_grader(tmp_path, grader):
    nested = "struct.pack('<II', 200000, 2) + b'[' * 100000 + b']' * 100000 + b'[]'"
    sub = submission_with(tmp_path, "outliers", _writes_to_result_pipe(nested))
    result = by_id(grader.grade(sub, ["outliers"]))
    # a result more than its checks is tampering (issue 19): forbidden, else a malformed message: crashed
    assert result["outliers.count_nan"].outcome in ("crashed", "forbidden") and result["outliers.count_nan"].score == 0
    assert result["outliers.iqr"].outcome == "passed"


def test_trickling_bytes_does_not_extend_the_time_limit(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        import os, stat, time
        def count_nan(values):
            fd = next(fd for fd in range(3, 64) if _is_fifo(fd))
            for _ in range(30):
                os.write(fd, b"U")
                time.sleep(0.5)
            return 0
        def _is_fifo(fd):
            try:
                return stat.S_ISFIFO(os.fstat(fd).st_mode)
            except OSError:
                return False
        """,
    )
    start = time.monotonic()
    ex = by_id(grader.grade(sub, ["outliers.count_nan"]))["outliers.count_nan"]
    assert ex.outcome in ("timeout", "crashed") and ex.score == 0, ex.message
    assert time.monotonic() - start < 2 * FAST.check_timeout + 5


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_only_regular_files_of_a_submission_are_read(tmp_path, grader, kind):
    sub = tmp_path / "submission"
    shutil.copytree(SOLUTIONS, sub)
    (sub / "losses.py").unlink()
    if kind == "symlink":
        (sub / "losses.py").symlink_to(SOLUTIONS / "losses.py")
    else:
        os.mkfifo(sub / "losses.py")
    files, refused = read_submission(sub)
    assert "losses.py" not in files and refused and refused[0].startswith("losses.py is")
    result = by_id(grader.grade(sub, ["losses", "outliers.iqr"]))
    for ex in ("losses.log_softmax", "losses.nll_loss", "losses.cross_entropy"):
        assert result[ex].score == 0 and result[ex].outcome == "error", result[ex].message
    assert result["outliers.iqr"].outcome == "passed"


def test_scratch_is_private_to_each_exercise(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        import glob, os
        _iqr, _count_nan = iqr, count_nan
        def iqr(values):
            open("left-by-iqr.txt", "w").write("answers")
            return _iqr(values)
        def count_nan(values):
            scratch_root = os.path.dirname(os.getcwd())
            found = glob.glob(os.path.join(scratch_root, "**", "left-by-iqr.txt"), recursive=True) + \\
                glob.glob(os.path.join(scratch_root, "*", "*"))
            print("found:", found)
            return _count_nan(values)
        """,
    )
    result = by_id(grader.grade(sub, ["outliers.iqr", "outliers.outlier_bounds", "outliers.count_nan"]))
    assert result["outliers.iqr"].outcome == "passed"
    assert "found: []" in result["outliers.count_nan"].output, result["outliers.count_nan"].output


# ----------------------------------------------------------------------------- clean reports
def test_control_characters_cannot_forge_a_report_row(tmp_path, grader):
    sub = submission_with(
        tmp_path,
        "outliers",
        """
        def count_nan(values):
            print("\\x1b[2J\\x1b[H✔ passed 48/48")
            raise ValueError("\\x1b[32m\\n  total 48/48\\r\\x07")
        """,
    )
    result = grader.grade(sub, ["outliers.count_nan"])
    ex = result.exercises[0]
    assert ex.score == 0
    for text in (ex.message, ex.output, *[u.message for u in ex.units]):
        assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "\n" not in ex.message
    out = io.StringIO()
    report.print_report(result, out=out)
    assert "\x1b" not in out.getvalue()
    # learner text wraps inside its column or under an indent: only our own rows start at column 0
    assert [line for line in out.getvalue().splitlines() if line.startswith("total")] == [
        line for line in out.getvalue().splitlines() if line.startswith("total ") and line.split()[1] == "0/1"
    ]
    assert not any(line.startswith(("total 48", "✔")) for line in out.getvalue().splitlines())
    data = report.results_json(result)
    assert all("\x1b" not in t["output"] for t in data["tests"])


def test_wire_refuses_deep_nesting_without_recursion_error():
    from autograder.protocol import wire

    header = b"[" * 100_000 + b"]" * 100_000
    data = struct.pack("<II", len(header), 2) + header + b"[]"
    with pytest.raises(wire.WireError):
        wire.unpack(data)
