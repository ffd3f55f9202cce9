"""Grades a class on a Dask cluster: each Dask worker keeps one warm, sandboxed ``Grader`` (a worker
plugin), each submission is one task that carries the submission's bytes, and the outcomes come
back, as they finish, to ``batch.main`` (the same progress, results.json, CSV and skips).

    python -m autograder grade-batch SUBMISSIONS --scheduler tcp://HOST:8786 --json-dir results/
    python -m autograder grade-batch SUBMISSIONS --cluster local:2 --json-dir results/

A Dask worker is the scoring process of its node: it never imports learner code, which runs only
in the sandbox below it. Nothing is shared between the client and the workers but Dask's messages:
no path, no file system. Setting up Slurm and Kubernetes: ``docs/cluster.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import dask
from dask_jobqueue import SLURMCluster
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from distributed.security import Security

from autograder.submissions import batch
from autograder.submissions.cache import grader_fingerprint
from autograder.submissions.discover import IGNORED, Submission
from autograder.submissions.table import Outcome
from autograder.submissions.unpack import ZIP_MAX_BYTES, ZIP_MAX_FILES, SubmissionError

PLUGIN = "nn-by-hand-grader"
WORKERS_TIMEOUT = 120.0  # seconds to wait for the first worker of a running scheduler (every local one)
SLURM_TIMEOUT = 3600.0  # seconds to wait for Slurm to start the first worker job

# ----------------------------------------------------------------------------- submissions as data
# A packet: {"label": "alice", "kind": "directory"|"zip"|"notebook", "file": bytes (zip, notebook)
# or "entries": [[relative path, type, bytes]]}. Types: "file" (its bytes), "dir", "special" (a
# FIFO, socket or device: never read) and, for symbolic links, never followed, "link-file",
# "link-dir" or "link" (by what they point at, so that ``materialize`` and ``read_submission``
# treat them on the worker exactly as here: refused, never read).
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


def pack(sub: Submission) -> dict:
    """The submission as data, with the limits ``unpack`` applies to a zip: at most ``ZIP_MAX_FILES``
    entries and ``ZIP_MAX_BYTES`` in all. Raises ``SubmissionError`` beyond them."""
    path = sub.path
    if sub.kind != "directory":
        if path.is_symlink():
            raise SubmissionError(f"{path.name} is a symbolic link: only regular files are graded")
        return {"label": sub.label, "kind": sub.kind, "file": _read_regular(path, ZIP_MAX_BYTES, sub.label)}
    entries: list[list] = []
    total = 0
    for root, dirs, files in os.walk(path):  # a top-level link to a folder is followed, as locally
        rel_root = Path(root).relative_to(path)
        dirs[:] = sorted(d for d in dirs if d not in IGNORED)
        for name in [*dirs, *sorted(files)]:
            full, rel = Path(root, name), (rel_root / name).as_posix()
            if full.is_symlink():
                target = "link-dir" if full.is_dir() else "link-file" if full.is_file() else "link"
                entries.append([rel, target, b""])
            elif name in dirs:
                entries.append([rel, "dir", b""])
            elif full.is_file():
                data = _read_regular(full, ZIP_MAX_BYTES - total, sub.label)
                total += len(data)
                entries.append([rel, "file", data])
            else:
                entries.append([rel, "special", b""])
            if len(entries) > ZIP_MAX_FILES:
                raise SubmissionError(
                    f"{sub.label} holds more than {ZIP_MAX_FILES} files and folders "
                    f"(at most {ZIP_MAX_FILES} travel to a cluster)"
                )
        dirs[:] = [d for d in dirs if not Path(root, d).is_symlink()]
    return {"label": sub.label, "kind": sub.kind, "entries": entries}


def _read_regular(path: Path, budget: int, label: str) -> bytes:
    fd = os.open(path, _OPEN_FLAGS)  # a link raises (ELOOP); a FIFO opens without blocking
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SubmissionError(f"{path.name} is not a regular file")
        chunks, size = [], 0
        while size <= budget:
            chunk = os.read(fd, min(1 << 20, budget + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > budget:
        raise SubmissionError(
            f"{label} is larger than {ZIP_MAX_BYTES >> 20} MiB (at most {ZIP_MAX_BYTES >> 20} MiB travel to a cluster)"
        )
    return b"".join(chunks)


def unpack(packet: dict, into: Path) -> Path:
    """Recreates a packet inside ``into`` (a fresh private folder) and returns the submission's path;
    links point at empty decoys inside ``into``, so nothing outside it is ever reached."""
    label = packet["label"]
    if not label or "/" in label or label in (".", ".."):
        raise SubmissionError(f"a submission cannot be named {label!r}")
    root = into / "submission" / label
    root.parent.mkdir(parents=True)
    if "file" in packet:
        root.write_bytes(packet["file"])
        return root
    decoys = {"link-file": into / "linked-file", "link-dir": into / "linked-folder", "link": into / "nowhere"}
    decoys["link-file"].write_bytes(b"")
    decoys["link-dir"].mkdir()
    root.mkdir()
    for rel, kind, data in packet["entries"]:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise SubmissionError(f"{label}: an entry of the submission has an unsafe path {rel!r}")
        target = root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "file":
            target.write_bytes(data)
        elif kind == "dir":
            target.mkdir(exist_ok=True)
        elif kind in decoys:
            target.symlink_to(decoys[kind])
        else:
            os.mkfifo(target)
    return root


# ----------------------------------------------------------------------------- the Dask worker's side
_FINGERPRINT: list[str] = []


def worker_fingerprint() -> str:
    """This process's grader fingerprint, taken once: a long-lived worker whose package was
    upgraded on disk still reports the code it imported (and the client refuses its grades)."""
    if not _FINGERPRINT:
        _FINGERPRINT.append(grader_fingerprint())
    return _FINGERPRINT[0]


class GraderPlugin(WorkerPlugin):
    """One warm, sandboxed ``Grader`` per Dask worker, for every submission that worker grades (one
    at a time). Registered by the client, so a worker that joins or restarts later gets one too.

    Named after its settings (sandbox, suites, limits) and idempotent: a later run with the same
    settings finds the grader warm, and two runs with different settings sharing a cluster each
    keep their own (an idle grader of other settings is closed, and started again when needed)."""

    idempotent = True

    def __init__(self, sandbox: str, suites: tuple[str, ...] | None, limits):
        self.sandbox, self.suites, self.limits = sandbox, suites, limits
        self.grader: Any = None  # a scoring.grader.Grader once started (imported in _start: it loads torch)

    @property
    def name(self) -> str:
        settings = repr((self.sandbox, self.suites, sorted(vars(self.limits).items())))
        return f"{PLUGIN}-{hashlib.sha256(settings.encode()).hexdigest()[:12]}"

    async def setup(self, worker):
        self.address = worker.address
        self.lock = threading.Lock()
        self.started = 0  # graders made on this worker (again after a grader failure or an eviction)
        worker_fingerprint()  # taken now, as the grader's code is imported
        for name, other in list(worker.plugins.items()):
            lock = getattr(other, "lock", None) if name.startswith(PLUGIN) and other is not self else None
            if lock is not None and lock.acquire(blocking=False):
                try:  # an idle grader of other settings: its memory back
                    other.close()
                finally:
                    lock.release()
        await asyncio.to_thread(self._start)  # importing torch must not stall the worker's heartbeat

    def _start(self):
        from autograder.scoring.grader import Grader  # loads torch: here, in setup's thread, not at import

        self.grader = Grader(self.sandbox, self.suites, self.limits)
        self.started += 1

    def close(self):
        if self.grader is not None:
            self.grader.close()
            self.grader = None

    def teardown(self, worker):
        with self.lock:
            self.close()

    def grade(self, packet: dict, exercises: list[str] | None) -> dict:
        with self.lock, tempfile.TemporaryDirectory(prefix="dask-submission-") as tmp:
            start = time.monotonic()
            if self.grader is None:
                self._start()
            try:
                path = unpack(packet, Path(tmp))
            except (SubmissionError, OSError, KeyError, TypeError, ValueError) as exc:
                graded = batch.Graded(
                    "failed", error=f"the submission could not be unpacked: {exc}", seconds=time.monotonic() - start
                )
            else:
                graded = batch.grade_submission(self.grader, path, exercises, worker=self.address)
            if graded.grader_broke:
                self.close()
                self._start()
            return {"graded": graded, "fingerprint": worker_fingerprint()}


def grade_packet(packet: dict, exercises: list[str] | None, plugin: str) -> dict:
    """The task: grades one packet on this worker's grader of the plugin named ``plugin``."""
    found: Any = get_worker().plugins.get(plugin)  # a GraderPlugin, as its ``lock`` tells
    if found is None or not hasattr(found, "lock"):
        raise RuntimeError("this Dask worker has no grader (its worker plugin is not set up)")
    return found.grade(packet, exercises)


# ----------------------------------------------------------------------------- the client's side
def parse_cluster(spec: str) -> tuple[str, int]:
    """``local:N`` (N worker processes here) or ``slurm:N`` (N Slurm jobs of dask-jobqueue's
    ``jobqueue.slurm`` configuration, docs/cluster.md) → (kind, N)."""
    kind, _, count = spec.partition(":")
    if kind not in ("local", "slurm") or not count.isdigit() or int(count) < 1:
        raise RuntimeError(
            f"--cluster {spec!r}: expected local:N (N worker processes on this machine) or "
            f"slurm:N (N Slurm jobs, configured as in docs/cluster.md); for any other cluster, "
            f"start it and pass --scheduler ADDRESS"
        )
    return kind, int(count)


def start_cluster(kind: str, count: int, secure: bool = True):
    """A ``LocalCluster`` of single-threaded worker processes on localhost, or a ``SLURMCluster``
    (its settings from Dask's configuration) asked for ``count`` jobs.

    A local cluster talks TLS with a certificate made for it and held only in memory (``secure``):
    in a plain-process sandbox learner code has the network, and Dask's scheduler runs whatever
    task a client sends it, so no client without that certificate may connect; its plain HTTP
    server answers only ``/health`` (no page about workers, tasks or logs)."""
    if kind == "slurm":
        cluster = SLURMCluster()
        cluster.scale(jobs=count)
        return cluster
    routes = ["distributed.http.health"] if secure else dask.config.get("distributed.scheduler.http.routes")
    with dask.config.set({"distributed.scheduler.http.routes": routes}):  # no page about the run over HTTP
        return LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls" if secure else "tcp",
            security=Security.temporary() if secure else None,
            dashboard_address=None,
            memory_limit=0,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )  # HTTP on a free port


class DaskPool:
    """Grades on Dask: a running scheduler at ``scheduler`` (an address or a scheduler file), or a
    cluster started here, ``cluster="local:N"`` or ``"slurm:N"`` (see ``start_cluster``); it is
    stopped by ``close``. Like ``batch.Pool``, ``results`` yields each submission's ``Outcome`` as
    it finishes."""

    def __init__(
        self,
        scheduler: str | None,
        cluster: str | None,
        sandbox: str,
        suites,
        limits,
        exercises: list[str] | None,
        key: dict,
    ):
        self.exercises, self.key = exercises, key
        self.cluster: Any = None  # a dask_jobqueue or local cluster, when this run started one
        self.client: Any = None  # a distributed.Client: its attributes are typed loosely by Dask
        self.futures: dict = {}
        try:
            wait = 1, WORKERS_TIMEOUT
            if cluster:
                kind, count = parse_cluster(cluster)
                self.cluster = start_cluster(kind, count)
                scheduler = self.cluster.scheduler_address
                wait = (count, WORKERS_TIMEOUT) if kind == "local" else (1, SLURM_TIMEOUT)
                self.client = Client(self.cluster, timeout=30)  # with the cluster's own credentials
            elif os.path.isfile(scheduler):  # type: ignore[arg-type]  # None (neither given) fails as before
                self.client = Client(scheduler_file=scheduler, timeout=30)
            else:
                self.client = Client(scheduler, timeout=30)
            self.client.wait_for_workers(wait[0], timeout=wait[1])
        except (OSError, TimeoutError) as exc:
            self.close()
            raise RuntimeError(f"cannot grade on the Dask scheduler {scheduler}: {type(exc).__name__}: {exc}") from None
        plugin = GraderPlugin(sandbox, suites, limits)
        self.plugin = plugin.name
        try:
            self.client.register_plugin(plugin, name=self.plugin)
        except Exception as exc:  # noqa: BLE001 - a worker whose grader cannot start (no checks, no bwrap)
            self.close()
            raise RuntimeError(f"a Dask worker could not start its grader: {type(exc).__name__}: {exc}") from None
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        hosts = sorted({w.get("host", "?") for w in workers})
        self.where = (
            f"Dask: scheduler {self.client.scheduler.address}, {len(workers)} "
            f"worker{'s' if len(workers) != 1 else ''} on {len(hosts)} host{'s' if len(hosts) != 1 else ''} "
            f"({', '.join(hosts)})"
        )

    def results(self, submissions: list[Submission]) -> Iterator[Outcome]:
        run = uuid.uuid4().hex[:8]
        for i, sub in enumerate(submissions):
            try:
                packet = pack(sub)
            except (SubmissionError, OSError) as exc:
                yield batch.failed(sub, str(exc), self.key)
                continue
            future = self.client.submit(grade_packet, packet, self.exercises, self.plugin, key=f"grade-{run}-{i}")
            self.futures[future] = sub
        for future in as_completed(list(self.futures)):
            sub = self.futures.pop(future)
            try:
                reply = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker lost too often (KilledWorker), a cancel
                yield batch.failed(sub, f"the cluster could not grade it: {type(exc).__name__}: {exc}", self.key)
                continue
            finally:
                future.release()
            graded = reply["graded"]
            if reply["fingerprint"] != self.key["grader"]:
                host = (graded.graded_by or {}).get("host", "?")
                yield batch.failed(
                    sub,
                    f"the Dask worker on {host} runs another grader (fingerprint "
                    f"{reply['fingerprint']}, here {self.key['grader']}): install the same "
                    f"version everywhere",
                    self.key,
                )
                continue
            yield batch.finish(sub, graded, self.key)

    def close(self) -> None:
        if self.client is not None:
            if self.futures:
                self.client.cancel(list(self.futures))
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None
