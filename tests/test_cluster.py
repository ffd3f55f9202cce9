"""Grading a class on Dask (``grade-batch --scheduler`` / ``--cluster``): on a real LocalCluster (a
scheduler and worker processes talking TCP on localhost) the grades equal local ``grade-batch``'s;
a hostile submission changes no other grade and no worker's state; a worker killed mid-submission
costs nothing; submissions travel as bytes within the zip limits; the documented Slurm and
Kubernetes configurations are what docs/cluster.md says (no Slurm or Kubernetes runs here)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import cloudpickle
import pytest
import yaml
from test_adversarial import CASES

from autograder.course import catalogue
from autograder.scoring.grader import read_submission
from autograder.scoring.results import Limits
from autograder.submissions import batch, cluster
from autograder.submissions.cache import content_hash
from autograder.submissions.discover import Submission, discover
from autograder.submissions.unpack import ZIP_MAX_FILES, SubmissionError, materialize
from conftest import EXERCISES, ROOT, SOLUTIONS, submission_with
from test_batch import _notebook

pytestmark = pytest.mark.slow
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/

HOSTILE = "kills the worker"  # l1_penalty SIGKILLs its parent process
FAST = Limits(check_timeout=5.0, exercise_timeout=30.0, total_timeout=180.0)


def _bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("class_grading", ROOT / "bench" / "class_grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _zip(folder: Path, dest: Path, prefix: str = "") -> None:
    with zipfile.ZipFile(dest, "w") as z:
        for path in sorted(folder.glob("*.py")):
            z.write(path, prefix + path.name)


def grade_batch(folder: Path, out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade-batch",
        str(folder),
        "--csv",
        str(out / "grades.csv"),
        "--json-dir",
        str(out / "results"),
        *extra,
    ]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "100"}
    )


def read_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def results(out: Path) -> dict[str, dict]:
    return {p.name: json.loads((p / "results.json").read_text()) for p in sorted((out / "results").iterdir())}


def grades(data: dict) -> dict:
    """What a results.json says about the learner (not how long it took or where)."""
    return {
        "score": data["score"],
        "max_score": data.get("max_score"),
        "tests": data["tests"],
        "error": data["extra_data"].get("error"),
    }


# ----------------------------------------------------------------------------- the Dask worker's view
def worker_state(dask_worker) -> dict:
    """What a hostile submission must not change in a Dask worker (run there by ``client.run``):
    its process, the modules it imported, and each of its graders (by plugin name)."""
    graders = {
        name: (id(p.grader) if p.grader is not None else None, p.started)
        for name, p in dask_worker.plugins.items()
        if name.startswith(cluster.PLUGIN)
    }
    return {
        "pid": os.getpid(),
        "learner_modules": sorted(m for m in catalogue.MODULES if m in sys.modules),
        "graders": graders,
    }


def executing(dask_worker) -> list[str]:
    return [str(key) for key, ts in dask_worker.state.tasks.items() if ts.state == "executing"]


def inboxes(dask_worker) -> list[str]:
    """The folders where this worker's graders post submissions (a killed worker leaves them)."""
    return [
        p.grader.worker.inbox
        for name, p in dask_worker.plugins.items()
        if name.startswith(cluster.PLUGIN) and p.grader is not None and p.grader.worker is not None
    ]


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def dask_client():
    """Two worker processes and a scheduler on localhost over plain TCP, as ``dask scheduler`` and
    ``dask worker`` started by hand would be (``--cluster local:N`` adds TLS)."""
    from distributed import Client

    with cluster.start_cluster("local", 2, secure=False) as local, Client(local) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, dask_client):
    """A class (the benchmark's generator, plus a zip, a notebook, a broken zip and a hostile
    submission) graded by local grade-batch and by the Dask cluster."""
    base = tmp_path_factory.mktemp("cluster-class")
    folder = base / "submissions"
    folder.mkdir()
    described = _bench().make_class(folder, 5, seed=12)
    _zip(SOLUTIONS, folder / "zipped.zip", prefix="zipped/")
    _notebook(folder / "notebook.ipynb")
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not a zip")
    module, code, spoiled, outcome = CASES[HOSTILE]
    shutil.copytree(submission_with(base / "hostile", module, code), folder / "hostile")
    names = sorted([*described, "zipped", "notebook", "broken", "hostile"])
    local = grade_batch(folder, base / "local", "--jobs", "2")
    before = dask_client.run(worker_state)
    dask = grade_batch(folder, base / "dask", "--scheduler", dask_client.scheduler.address)
    after = dask_client.run(worker_state)
    return dict(
        folder=folder,
        base=base,
        names=names,
        local=local,
        dask=dask,
        before=before,
        after=after,
        spoiled=spoiled,
        outcome=outcome,
    )


def test_the_cluster_gives_every_submission_the_local_grade(classroom):
    local, dask = classroom["local"], classroom["dask"]
    assert local.returncode == dask.returncode == 1, dask.stdout + dask.stderr  # the broken zip, only
    base = classroom["base"]
    assert read_csv(base / "dask" / "grades.csv") == read_csv(base / "local" / "grades.csv")
    on_dask, here = results(base / "dask"), results(base / "local")
    assert sorted(on_dask) == sorted(here) == classroom["names"]
    for name in classroom["names"]:
        assert grades(on_dask[name]) == grades(here[name]), name
    assert on_dask["learner-000"]["score"] == on_dask["learner-000"]["max_score"] == catalogue.total_points()


def test_a_hostile_submission_in_the_class_changes_no_other_grade_and_no_worker(classroom):
    rows = read_csv(classroom["base"] / "dask" / "grades.csv")
    hostile = rows["hostile"]
    assert hostile["status"] == "graded"
    target = sorted(classroom["spoiled"])[0]  # as tests/test_adversarial.py judges it
    assert float(hostile[target]) < catalogue.get(target).points
    for ex in catalogue.EXERCISES:
        if ex.id not in classroom["spoiled"]:
            assert float(hostile[ex.id]) == ex.points, ex.id
    assert float(rows["zipped"]["score"]) == catalogue.total_points()
    before, after = classroom["before"], classroom["after"]
    assert sorted(before) == sorted(after)  # the same two workers, neither restarted
    for address, state in after.items():
        assert state["pid"] == before[address]["pid"]
        assert state["learner_modules"] == []  # the worker never imported learner code
        assert [started for _, started in state["graders"].values()] == [1]  # one grader, never replaced


def test_cluster_results_say_which_host_worker_and_devices_graded(classroom, dask_client):
    on_dask, here = results(classroom["base"] / "dask"), results(classroom["base"] / "local")
    workers = set(dask_client.scheduler_info(n_workers=-1)["workers"])
    devices = ["cpu", "cuda", "meta"] if any(dask_client.run(has_cuda).values()) else ["cpu", "meta"]
    for name in classroom["names"]:
        if name == "broken":  # not a zip: nothing was graded, so no grader is named
            assert "graded_by" not in on_dask[name]["extra_data"]
            continue
        by = on_dask[name]["extra_data"]["graded_by"]
        assert by["host"] == socket.gethostname() and by["worker"] in workers, by
        assert by["devices"] == devices and by["sandbox"] in ("bwrap", "process")
        assert here[name]["extra_data"]["graded_by"]["worker"] == "local"


def test_cluster_progress_is_one_plain_line_per_submission(classroom):
    out = classroom["dask"].stdout
    lines = out.splitlines()
    assert lines[0].startswith("Dask: scheduler tcp://127.0.0.1:") and "2 workers on 1 host" in lines[0], out
    progress = [line for line in lines if line.startswith("[")]
    count = len(classroom["names"])
    assert [line.split("]")[0] for line in progress] == [f"[{i}/{count}" for i in range(1, count + 1)]
    for name in classroom["names"]:
        assert sum(f"] {name}: " in line for line in progress) == 1, name
    assert "\x1b[" not in out and "\r" not in out
    assert f"{count} of {count} submissions: {count - 1} graded, 0 unchanged, 1 failed" in out


def test_a_local_cluster_rerun_grades_only_what_changed(classroom):
    folder, out = classroom["folder"], classroom["base"] / "dask"
    stamps = {n: (out / "results" / n / "results.json").stat().st_mtime_ns for n in classroom["names"]}
    changed = classroom["base"] / "changed"
    shutil.copytree(folder, changed)
    (changed / "learner-000" / "pooling.py").write_text((EXERCISES / "pooling.py").read_text())
    proc = grade_batch(changed, out, "--cluster", "local:1")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken zip is tried again
    assert "Dask: scheduler tls://127.0.0.1:" in proc.stdout and "1 worker on 1 host" in proc.stdout
    rows = read_csv(out / "grades.csv")
    assert rows["learner-000"]["status"] == "graded" and float(rows["learner-000"]["pooling.max_pool2d"]) == 0
    assert {n for n, r in rows.items() if r["status"] == "unchanged"} == set(classroom["names"]) - {
        "learner-000",
        "broken",
    }
    for name in set(classroom["names"]) - {"learner-000", "broken"}:
        assert (out / "results" / name / "results.json").stat().st_mtime_ns == stamps[name]


# ----------------------------------------------------------------------------- one worker, hostile code
@pytest.mark.parametrize("case", [HOSTILE, "os._exit at import"])
def test_hostile_code_leaves_its_worker_as_it_found_it(tmp_path, dask_client, case):
    """On one worker: an honest grade, the hostile submission, the honest one again: the same grade,
    the same Dask worker process (no learner module in it) and the same grader."""
    module, code, spoiled, outcome = CASES[case]
    plugin = cluster.GraderPlugin("auto", None, FAST)
    dask_client.register_plugin(plugin, name=plugin.name)
    worker = sorted(dask_client.scheduler_info(n_workers=-1)["workers"])[0]

    def grade(path: Path) -> batch.Graded:
        packet = cluster.pack(Submission(path.name, path, "directory"))
        return dask_client.submit(
            cluster.grade_packet, packet, [module], plugin.name, workers=[worker], pure=False
        ).result()["graded"]

    honest = shutil.copytree(SOLUTIONS, tmp_path / "honest", ignore=shutil.ignore_patterns("__pycache__"))
    first = grade(honest)
    state = dask_client.run(worker_state, workers=[worker])[worker]
    hostile = grade(submission_with(tmp_path / "h", module, code))
    again = grade(honest)
    assert dask_client.run(worker_state, workers=[worker])[worker] == state
    assert state["learner_modules"] == []
    assert first.status == again.status == hostile.status == "graded"
    assert again.data["tests"] == first.data["tests"] and again.data["score"] == again.data["max_score"]
    target = sorted(spoiled)[0]  # as tests/test_adversarial.py judges it
    lost = {t["exercise"] for t in hostile.data["tests"] if t["score"] < t["max_score"]}
    assert target in lost and lost <= set(spoiled), hostile.data["tests"]
    assert {t["outcome"] for t in hostile.data["tests"] if t["exercise"] == target} == {outcome}


def test_runs_with_the_same_settings_share_a_warm_grader_and_others_get_their_own(dask_client):
    same = cluster.GraderPlugin("auto", None, FAST)
    other = cluster.GraderPlugin("auto", None, Limits(check_timeout=7.0))
    assert same.name == cluster.GraderPlugin("auto", None, FAST).name != other.name
    dask_client.register_plugin(same, name=same.name)
    first = dask_client.run(worker_state)
    dask_client.register_plugin(cluster.GraderPlugin("auto", None, FAST), name=same.name)  # a second run
    assert dask_client.run(worker_state) == first  # the same warm graders
    dask_client.register_plugin(other, name=other.name)
    for state in dask_client.run(worker_state).values():
        assert state["graders"][same.name] == (None, 1)  # idle: closed, its memory given back
        assert state["graders"][other.name][0] is not None and state["graders"][other.name][1] == 1


def test_a_worker_with_cuda_runs_the_cuda_checks(tmp_path, dask_client):
    cuda = sorted(a for a, ok in dask_client.run(has_cuda).items() if ok)
    if not cuda:
        pytest.skip("no Dask worker here has CUDA (torch.cuda.is_available() is False): a GPU node runs this")
    plugin = cluster.GraderPlugin("auto", None, FAST)
    dask_client.register_plugin(plugin, name=plugin.name)
    sub = shutil.copytree(SOLUTIONS, tmp_path / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    packet = cluster.pack(Submission("alice", sub, "directory"))
    graded = dask_client.submit(
        cluster.grade_packet, packet, ["pooling"], plugin.name, workers=cuda[:1], pure=False
    ).result()["graded"]
    assert graded.graded_by["devices"] == ["cpu", "cuda", "meta"] and graded.graded_by["cuda_device"]
    assert "CUDA checks skipped" not in graded.data["output"]
    assert graded.data["score"] == graded.data["max_score"] > 0


def set_fingerprint(value: str | None) -> None:
    cluster._FINGERPRINT[:] = [value] if value else []


def test_a_worker_running_another_grader_version_is_refused(tmp_path, dask_client):
    """Reached through a scheduler file this time; the grades of a worker whose grader differs from
    the client's (another version installed there) are refused, and nothing is kept to skip."""
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copytree(SOLUTIONS, folder / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    scheduler_file = tmp_path / "scheduler.json"  # what Client(scheduler_file=...) reads
    scheduler_file.write_text(json.dumps({"address": dask_client.scheduler.address}))
    dask_client.run(set_fingerprint, "0123456789abcdef")
    try:
        proc = grade_batch(folder, tmp_path / "out", "--exercise", "pooling", "--scheduler", str(scheduler_file))
    finally:
        dask_client.run(set_fingerprint, None)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    alice = read_csv(tmp_path / "out" / "grades.csv")["alice"]
    assert alice["status"] == "failed" and "runs another grader (fingerprint 0123456789abcdef" in alice["message"]
    assert "error" in json.loads((tmp_path / "out" / "results" / "alice" / "results.json").read_text())["extra_data"]


# ----------------------------------------------------------------------------- a worker killed mid-submission
def test_a_worker_killed_mid_submission_costs_nothing(tmp_path, dask_client):
    """Last in this file: it kills one of the module's workers (its nanny starts a new one)."""
    folder = tmp_path / "submissions"
    slow = submission_with(folder, "pooling", "import time\ntime.sleep(6)\n")  # 6 s inside the grade
    slow.rename(folder / "slow")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-batch",
            str(folder),
            "--exercise",
            "pooling",
            "--check-timeout",
            "30",
            "--json-dir",
            str(tmp_path / "results"),
            "--csv",
            str(tmp_path / "grades.csv"),
            "--scheduler",
            dask_client.scheduler.address,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim, deadline = None, time.monotonic() + 240
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        busy = [a for a, keys in dask_client.run(executing).items() if any(k.startswith("grade-") for k in keys)]
        victim = busy[0] if busy else None
        time.sleep(0.2)
    assert victim is not None, "the submission was never seen executing"
    time.sleep(1.0)  # well inside its 6 s
    pid = dask_client.run(os.getpid, workers=[victim])[victim]
    leftovers = dask_client.run(inboxes, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    try:
        stdout, stderr = run.communicate(timeout=400)
    finally:
        for inbox in leftovers:
            shutil.rmtree(inbox, ignore_errors=True)
    assert run.returncode == 0, stdout + stderr
    assert victim not in dask_client.scheduler_info(n_workers=-1)["workers"]
    progress = [line for line in stdout.splitlines() if line.startswith("[")]
    assert len(progress) == 1 and progress[0].startswith("[1/1] slow: 4/4 in "), stdout
    assert list(read_csv(tmp_path / "grades.csv")) == ["slow"]
    data = json.loads((tmp_path / "results" / "slow" / "results.json").read_text())
    assert data["score"] == data["max_score"] == catalogue.get("pooling.max_pool2d").points
    assert data["extra_data"]["graded_by"]["worker"] != victim  # graded again, elsewhere, once


# ----------------------------------------------------------------------------- submissions as data
def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_packet_rebuilds_directories_zips_and_notebooks_exactly(tmp_path):
    for learner in ("alice", "carol"):  # modules inside a wrapper folder
        shutil.copytree(SOLUTIONS, tmp_path / "class" / learner / "hw1", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "class" / "carol" / "empty-folder").mkdir()  # then ``materialize`` stops: it must travel
    _zip(EXERCISES, tmp_path / "class" / "bob.zip")
    _notebook(tmp_path / "class" / "erin.ipynb")
    for sub in discover(tmp_path / "class"):
        rebuilt = cluster.unpack(cluster.pack(sub), tmp_path / "worker" / sub.name)
        assert rebuilt.name == sub.path.name
        assert content_hash(rebuilt) == content_hash(sub.path), sub.name
        if sub.kind == "directory":
            assert _tree(rebuilt) == _tree(sub.path)
            assert sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*")) == sorted(
                p.relative_to(sub.path) for p in sub.path.rglob("*")
            )
        there = materialize(rebuilt, tmp_path / "m1" / sub.name)
        here = materialize(sub.path, tmp_path / "m2" / sub.name)
        assert read_submission(there) == read_submission(here)


def test_links_and_special_files_travel_as_what_they_are_never_as_their_content(tmp_path):
    secret = tmp_path / "instructor" / "answers.py"
    secret.parent.mkdir()
    secret.write_text("SECRET = 'the instructor answers'\n")
    learner = shutil.copytree(SOLUTIONS, tmp_path / "learner", ignore=shutil.ignore_patterns("__pycache__"))
    (learner / "losses.py").unlink()
    (learner / "losses.py").symlink_to(secret)
    (learner / "pooling.py").unlink()
    os.mkfifo(learner / "pooling.py")
    (learner / "folder-link").symlink_to(secret.parent)
    (learner / "dangling.py").symlink_to(tmp_path / "nothing")
    packet = cluster.pack(Submission("learner", learner, "directory"))
    assert b"instructor answers" not in b"".join(data for _, _, data in packet["entries"])
    kinds = {rel: kind for rel, kind, _ in packet["entries"]}
    assert (kinds["losses.py"], kinds["pooling.py"], kinds["folder-link"], kinds["dangling.py"]) == (
        "link-file",
        "special",
        "link-dir",
        "link",
    )
    rebuilt = cluster.unpack(packet, tmp_path / "worker")
    here, there = read_submission(learner), read_submission(rebuilt)
    assert there == here and len(here[1]) == 3  # the same modules read, the same three refusals
    assert all(p.resolve().is_relative_to((tmp_path / "worker").resolve()) for p in rebuilt.rglob("*"))


def test_a_linked_zip_is_refused_as_locally(tmp_path):
    (tmp_path / "real.zip").write_bytes(b"PK")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.zip").symlink_to(tmp_path / "real.zip")
    with pytest.raises(SubmissionError, match="symbolic link"):
        cluster.pack(discover(tmp_path / "class")[0])


def test_packets_keep_the_zip_limits(tmp_path, monkeypatch):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(ZIP_MAX_FILES + 1):
        (many / f"f{i}.txt").write_text("x")
    with pytest.raises(SubmissionError, match=f"more than {ZIP_MAX_FILES} files"):
        cluster.pack(Submission("many", many, "directory"))
    big = shutil.copytree(SOLUTIONS, tmp_path / "big", ignore=shutil.ignore_patterns("__pycache__"))
    size = sum(p.stat().st_size for p in big.rglob("*") if p.is_file())
    monkeypatch.setattr(cluster, "ZIP_MAX_BYTES", size - 1)
    with pytest.raises(SubmissionError, match="larger than"):
        cluster.pack(Submission("big", big, "directory"))
    monkeypatch.setattr(cluster, "ZIP_MAX_BYTES", size)
    assert len(cluster.pack(Submission("big", big, "directory"))["entries"]) == len(list(big.rglob("*")))


@pytest.mark.parametrize("rel", ["../outside.py", "/etc/outside.py", "a/../../outside.py", ""])
def test_unpacking_refuses_paths_that_leave_the_submission(tmp_path, rel):
    packet = {"label": "alice", "kind": "directory", "entries": [[rel, "file", b"x = 1\n"]]}
    with pytest.raises(SubmissionError, match="unsafe path"):
        cluster.unpack(packet, tmp_path / "worker")
    assert not list(tmp_path.rglob("outside.py"))


def ask_identity(address: str, security=None) -> dict:
    """The scheduler's answer to one message, sent as any Dask client sends it."""
    import asyncio

    from distributed.core import rpc

    async def ask():
        args = security.get_connection_args("client") if security is not None else {}
        async with rpc(address, connection_args=args, timeout=5) as scheduler:
            return await scheduler.identity()

    return asyncio.run(ask())


def test_a_cluster_started_here_admits_only_its_own_client():
    """Learner code in a plain-process sandbox has the network: it must not be able to send the
    local scheduler a task (which would run in a scoring process)."""
    from distributed.security import Security

    with cluster.start_cluster("local", 0) as local:
        address = local.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        assert ask_identity(address, local.security)["address"] == address  # its own credentials
        with pytest.raises(TypeError):  # no certificate: no TLS context at all
            ask_identity(address)
        with pytest.raises((OSError, TimeoutError)):  # plain TCP: the handshake fails
            ask_identity(address.replace("tls://", "tcp://"))
        with pytest.raises((OSError, TimeoutError)):  # a certificate of its own: not trusted
            ask_identity(address, Security.temporary())
        http = f"http://127.0.0.1:{local.scheduler.services['dashboard'].port}"
        assert urllib.request.urlopen(f"{http}/health", timeout=10).read() == b"ok"
        for page in ("/info/main/workers.html", "/json/counts.json", "/metrics"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(http + page, timeout=10)


def test_cluster_spec_is_checked():
    assert cluster.parse_cluster("local:3") == ("local", 3)
    assert cluster.parse_cluster("slurm:8") == ("slurm", 8)
    for bad in ("local", "local:0", "kubernetes:2", "local:x"):
        with pytest.raises(RuntimeError, match="expected local:N"):
            cluster.parse_cluster(bad)


# ----------------------------------------------------------------------------- the documented configurations
DOC = ROOT / "docs" / "cluster.md"


def doc_block(first_line: str) -> str:
    """The fenced block of docs/cluster.md whose first line is ``first_line``."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", DOC.read_text(), re.S):
        if block.splitlines()[0].strip() == first_line:
            return block
    raise AssertionError(f"docs/cluster.md has no block starting with {first_line!r}")


def test_the_documented_slurm_configuration_makes_a_grading_job_script():
    """dask-jobqueue builds the job script from the documented jobqueue.yaml (no Slurm runs here:
    nothing is submitted)."""
    import dask
    from dask_jobqueue import SLURMCluster

    config = yaml.safe_load(doc_block("# ~/.config/dask/jobqueue.yaml"))
    settings = {f"jobqueue.slurm.{k}": v for k, v in config["jobqueue"]["slurm"].items()}
    with dask.config.set(settings), SLURMCluster(scheduler_options={"dashboard_address": ":0"}) as slurm:
        script = slurm.job_script()
    python = config["jobqueue"]["slurm"]["python"]
    assert re.search(r"^#SBATCH --cpus-per-task=8$", script, re.M), script
    assert re.search(r"^#SBATCH --mem=2[0-9]G$", script, re.M), script
    assert re.search(r"^#SBATCH -A your-course-account$", script, re.M), script
    assert "launcher.choose('bwrap')" in script  # a node without a working bubblewrap starts no worker
    worker = next(line for line in script.splitlines() if "distributed.cli.dask_worker" in line)
    assert worker.startswith(python) and "--nthreads 1" in worker and "--nworkers 4" in worker, worker


def test_the_documented_kubernetes_cluster_runs_one_grader_per_single_threaded_worker():
    manifest = yaml.safe_load(doc_block("# nn-by-hand-cluster.yaml"))
    assert manifest["apiVersion"] == "kubernetes.dask.org/v1" and manifest["kind"] == "DaskCluster"
    worker = manifest["spec"]["worker"]["spec"]["containers"][0]
    scheduler = manifest["spec"]["scheduler"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"] and worker["args"][worker["args"].index("--nthreads") + 1] == "1"
    assert worker["image"] == scheduler["image"]  # one image: the same distributed and grader versions
    assert worker["securityContext"]["privileged"] is True  # bubblewrap needs it inside a pod
    assert worker["resources"]["requests"]["cpu"] == "2"
    dockerfile = doc_block("# Dockerfile")
    assert "bubblewrap" in dockerfile and "torch==2.13.0" in dockerfile and "[cluster]" in dockerfile
