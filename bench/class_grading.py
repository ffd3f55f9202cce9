"""Grading a class: ``grade-batch --jobs 2`` against one CLI process per submission, and nbgrader.

Generates synthetic submissions (the solutions, the stubs, and the solutions with one to three
mistakes of the mutant zoo spliced in, some with a module left unstarted), then times, in this
run, each way of grading all of them:

1. ``python -m autograder grade-batch DIR --jobs 2`` (warm graders, one queue);
2. a loop running ``python -m autograder grade --submission X --json Y --quiet`` once per
   submission (torch and the references paid every time);
3. nbgrader's ``autograde`` of the equivalent notebook submissions (each learner's released
   notebooks with that learner's functions in the answer cells; one nbgrader process per
   assignment for the whole class, a fresh kernel per notebook, as ``nbgrader autograde`` works),
   when ``release/``, ``autograder.nbcourse.notebooks`` and nbgrader are all there, else it says why not.
   nbgrader's cost per learner does not depend on the class size, so ``--nbgrader-sample K``
   times it on the first K learners only.

Prints submissions per minute for each, the ratios (aim: batch >= 5x the loop, >= 50x nbgrader)
and whether the batch and the loop gave every submission identical scores, every copy of the
solutions full marks and no worker trouble (exit 1 if not).
``--profile`` then grades the class once more in this process and prints where a submission's time
goes, phase by phase: the scorer's steps timed around their calls, the worker's from the clocks its
zygote puts in every frame (fork, namespaces and drop, seal and import, checks, exit, clean-up) and
the CPU its children and the zygote used.

Usage: python bench/class_grading.py [--count 100] [--small N] [--repeat R] [--nbgrader-sample K]
                                     [--nbgrader-repeat R] [--no-nbgrader] [--keep DIR] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
STUBS = ROOT / "exercises"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from autograder.course import catalogue  # noqa: E402
from mutants import MUTANTS, splice  # noqa: E402  (the zoo of plausible mistakes)


# ----------------------------------------------------------------------------- the class
def make_class(folder: Path, count: int, seed: int = 5) -> dict[str, str]:
    """``count`` submission directories in ``folder``; returns what each one is."""
    rng = random.Random(seed)
    kinds = ["solutions", "stubs", "mistakes"]  # the first three cover every kind (for --small)
    kinds += rng.choices(["solutions", "stubs", "mistakes"], weights=[15, 10, 75], k=max(0, count - 3))
    described = {}
    for i, kind in enumerate(kinds[:count]):
        name = f"learner-{i:03d}"
        dest = folder / name
        if kind == "stubs":
            shutil.copytree(STUBS, dest, ignore=shutil.ignore_patterns("__pycache__"))
            described[name] = "the stubs"
            continue
        shutil.copytree(SOLUTIONS, dest, ignore=shutil.ignore_patterns("__pycache__"))
        if kind == "solutions":
            described[name] = "the solutions"
            continue
        chosen, seen = [], set()
        for m in rng.sample(MUTANTS, k=len(MUTANTS)):
            if m.target not in seen and len(chosen) < rng.randint(1, 3):
                chosen.append(m)
                seen.add(m.target)
        for m in chosen:
            path = dest / f"{m.module}.py"
            path.write_text(splice(path.read_text(encoding="utf-8"), m.function, m.source), encoding="utf-8")
        what = ", ".join(m.name for m in chosen)
        untouched = {m.module for m in chosen}
        if rng.random() < 0.3:  # a module not started yet
            module = rng.choice([m for m in catalogue.MODULES if m not in untouched])
            shutil.copy(STUBS / f"{module}.py", dest / f"{module}.py")
            what += f"; {module} not started"
        described[name] = what
    return described


# ----------------------------------------------------------------------------- the ways of grading
def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


def time_batch(subs: Path, out: Path, jobs: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    proc = run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade-batch",
            str(subs),
            "--jobs",
            str(jobs),
            "--csv",
            str(out / "grades.csv"),
            "--json-dir",
            str(out / "results"),
            "--force",
        ]
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"grade-batch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def time_loop(subs: Path, out: Path, names: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    for name in names:
        proc = run(
            [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "--submission",
                str(subs / name),
                "--json",
                str(out / f"{name}.json"),
                "--quiet",
            ]
        )
        if proc.returncode != 0:
            raise SystemExit(f"grade failed on {name} ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def scores(data: dict) -> list[tuple[str, float]]:
    return [(t["name"], t["score"]) for t in data["tests"]]


def compare(batch_out: Path, loop_out: Path, described: dict[str, str]) -> list[str]:
    """What is wrong with the two ways' results: a submission scored differently, a copy of the
    solutions short of full marks, a worker that did not work (identical failures are no speed)."""
    differ = []
    for name, what in sorted(described.items()):
        batch = json.loads((batch_out / "results" / name / "results.json").read_text())
        loop = json.loads((loop_out / f"{name}.json").read_text())
        if scores(batch) != scores(loop) or batch["score"] != loop["score"]:
            differ.append(f"{name}: batch {batch['score']} vs loop {loop['score']}")
        for way, result in (("batch", batch), ("loop", loop)):
            if what == "the solutions" and result["score"] != result["max_score"]:
                differ.append(f"{name} (the solutions): {way} {result['score']} of {result['max_score']}")
            if "worker problems" in result.get("output", ""):
                differ.append(f"{name}: {way}'s worker did not work: {result['output'][:300]}")
    return differ


# ----------------------------------------------------------------------------- nbgrader
def nbgrader_unavailable() -> str | None:
    """Why nbgrader autograde cannot be timed here, or None."""
    release = ROOT / "release"
    if not release.is_dir() or not any(release.rglob("*.ipynb")):
        return "release/ has no notebooks yet (the notebooks issue has not landed)"
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        return "nbgrader is not importable in this environment"
    try:
        from autograder.nbcourse import notebooks  # noqa: F401
    except ImportError:
        return "autograder.nbcourse.notebooks does not exist yet"
    if not (ROOT / "source").is_dir():
        return "source/ (nbgrader's source notebooks) is missing"
    return None


def make_notebook_class(subs: Path, names: list[str], course: Path) -> list[str]:
    """nbgrader's course tree: for every learner, each released notebook with its answer cells
    holding that learner's functions (what the learner would have typed into the notebook)."""
    from autograder.nbcourse import nbsource, notebooks

    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(ROOT / "source", course / "source")
    assignments = sorted(p.name for p in (ROOT / "release").iterdir() if any(p.glob("*.ipynb")))
    for name in names:
        for assignment in assignments:
            for released in sorted((ROOT / "release" / assignment).glob("*.ipynb")):
                nb = json.loads(released.read_text(encoding="utf-8"))
                for cell in nb["cells"]:
                    gid = notebooks.grade_id(cell)
                    exercise = nbsource.exercise_of(gid) if gid.startswith("answer-") else None
                    if exercise:
                        cell["source"] = nbsource.function_source(exercise, subs / name)
                dest = course / "submitted" / name / assignment / released.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return assignments


def time_nbgrader(subs: Path, names: list[str], work: Path) -> float:
    """``nbgrader autograde`` of every learner's notebooks: one nbgrader process per assignment
    (all learners at once), each notebook executed in a fresh kernel, as nbgrader does."""
    from autograder.nbcourse import nbcycle

    course = work / "course"
    shutil.rmtree(course, ignore_errors=True)
    course.mkdir(parents=True)
    assignments = make_notebook_class(subs, names, course)
    env = nbcycle.nbgrader_env()
    nbgrader = [sys.executable, "-m", "nbgrader"]

    def call(*args: str) -> None:
        proc = subprocess.run(nbgrader + list(args), cwd=course, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader {args[0]} failed: {(proc.stdout + proc.stderr)[-1500:]}")

    for assignment in assignments:  # not timed: the instructor's one-off set-up
        call("generate_assignment", assignment, "--force")
    start = time.perf_counter()
    for assignment in assignments:
        call("autograde", assignment, "--force")
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- where the time goes
# Trusted-side clocks only: the scorer's steps are timed by wrapping them here (in this process);
# the worker's by the timestamps its zygote puts in every frame header (``phases``).
SCORER_STEPS = (  # (module, attribute, phase name)
    ("autograder.submissions.batch", "materialize", "scorer: unpack into scratch"),
    ("autograder.scoring.grader", "read_submission", "scorer: read the submission's files"),
    ("autograder.scoring.launcher", "clear_inbox", "scorer: clear the inbox"),
    ("autograder.scoring.launcher", "post", "scorer: post the files to the inbox"),
    ("autograder.scoring.grader.Grader", "references", "scorer: references (PyTorch's results)"),
    ("autograder.scoring.static", "scan_source", "scorer: static scan of the source"),
    ("autograder.scoring.judge", "judge_parts", "scorer: judge and diagnose"),  # imported by the grade itself
    ("autograder.nbcourse.notebooks", "relocate", "scorer: relocate (notebooks)"),
    ("autograder.feedback.report", "results_json", "scorer: results.json (build)"),
    ("autograder.submissions.batch", "stamp", "scorer: stamp (hash, graded_by)"),
    ("autograder.submissions.batch", "write_atomically", "scorer: write results.json"),
    ("autograder.submissions.batch", "write_csv", "scorer: write the CSV"),
)
# the worker's steps, from the zygote's marks (seconds after the fork): (from, to, phase name)
WORKER_STEPS = (
    ("spawn", None, "child: scratch folder, pipes and fork (zygote)"),
    (None, "V", "child: namespaces, limits, uid drop + seccomp, setup"),
    ("V", "I", "child: seal (forbidden kernels, audit hook) + import the module"),
    ("I", "D", "child: run the checks"),
    ("D", "eof", "child: exit (flush, address space and namespaces torn down)"),
    ("eof", "reaped", "zygote: reap"),
    ("reaped", "uid_killed", "zygote: kill the learner uid's processes (/proc scan)"),
    ("uid_killed", "tmp_cleared", "zygote: clear the uid's files in /tmp, /dev/shm"),
    ("tmp_cleared", "strays_killed", "zygote: kill strays (/proc scan)"),
    ("strays_killed", "wiped", "zygote: wipe the child's scratch"),
)


def profile_batch(subs: Path, out: Path, jobs: int) -> tuple[float, int, dict, dict, list]:
    """grade-batch in this process with every step timed: (seconds, submissions, scorer phases
    {name: [wall s, cpu s, calls]}, worker phases {name: [seconds, children]}, per-submission seconds)."""
    import importlib  # the profile only: the timed run above is a separate process, as an instructor's
    import threading
    from types import SimpleNamespace

    from autograder.scoring import client
    from autograder.submissions import batch

    lock = threading.Lock()
    scorer: dict[str, list[float]] = {}
    worker: dict[str, list[float]] = {}
    undo = []

    def timed(owner, attr, name):
        original = getattr(owner, attr)

        def wrapper(*a, **kw):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*a, **kw)
            finally:
                with lock:
                    row = scorer.setdefault(name, [0.0, 0.0, 0])
                    row[0] += time.perf_counter() - wall
                    row[1] += time.thread_time() - cpu
                    row[2] += 1

        setattr(owner, attr, wrapper)
        undo.append((owner, attr, original))

    for module, attr, name in SCORER_STEPS:
        path, _, cls = module.rpartition(".") if module.endswith("Grader") else (module, "", "")
        owner = getattr(importlib.import_module(path), cls) if cls else importlib.import_module(module)
        timed(owner, attr, name)

    class Recording(queue.Queue):  # the frames' headers, as the scorer receives them
        last: dict | None = None  # the worker's CPU clocks at its previous frame

        def put(self, item, *a, **kw):
            if isinstance(item, tuple) and item[0] == "frame":
                marks = dict(item[1].get("phases") or {})
                if "I" not in marks and "E" in marks:  # the import failed: its end is the checks' start and end
                    marks["I"] = marks["D"] = marks["E"]
                cpu = item[1].get("cpu") or {}
                with lock:
                    if self.last is not None and cpu:
                        for what in ("children", "zygote"):
                            row = worker.setdefault(f"cpu: {what}", [0.0, 0])
                            row[0] += cpu[what] - self.last[what]
                            row[1] += 1
                    self.last = cpu
                    for start, end, name in WORKER_STEPS:
                        t0 = 0.0 if start is None else marks.get(start)
                        t1 = 0.0 if end is None else marks.get(end)
                        if t0 is not None and t1 is not None:
                            row = worker.setdefault(name, [0.0, 0])
                            row[0] += t1 - t0
                            row[1] += 1
            return super().put(item, *a, **kw)

    start_worker = client.Worker.__init__

    def init(self, *a, **kw):
        start_worker(self, *a, **kw)
        self.events = Recording()

    client.Worker.__init__ = init
    undo.append((client.Worker, "__init__", start_worker))
    seconds: list[float] = []
    original_finish = batch.finish

    def finish(sub, graded, key):
        seconds.append(graded.seconds)
        return original_finish(sub, graded, key)

    batch.finish = finish
    undo.append((batch, "finish", original_finish))
    args = SimpleNamespace(
        submissions=str(subs),
        jobs=jobs,
        csv=str(out / "grades.csv"),
        json_dir=str(out / "results"),
        force=True,
        exercise=None,
        suite="all",
        sandbox="auto",
        check_timeout=10.0,
        total_timeout=600.0,
        scheduler=None,
        cluster=None,
    )
    shutil.rmtree(out, ignore_errors=True)
    try:
        begin, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            batch.main(args)
        elapsed = time.perf_counter() - begin
        scorer["scorer: all threads"] = [elapsed, time.process_time() - cpu, 1]
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    return elapsed, len(seconds), scorer, worker, seconds


def print_profile(elapsed: float, count: int, scorer: dict, worker: dict, seconds: list[float], jobs: int) -> None:
    """The phase table, and the ceiling the CPU it measured puts on submissions per minute."""
    cores = os.cpu_count() or 1
    print(
        f"\nwhere a submission's time goes (grade-batch --jobs {jobs} in this process, {count} submissions in "
        f"{elapsed:.1f} s = {per_minute(count, elapsed):.1f}/min; one grade took {statistics.median(seconds):.2f} s "
        f"wall, median; {cores} cores, load average {os.getloadavg()[0]:.1f} at the end):"
    )
    print(f"  {'phase':<68} {'per submission':>14} {'per call':>10}")
    for name, (wall, cpu, calls) in scorer.items():
        if name != "scorer: all threads":
            print(
                f"  {name:<68} {wall / count * 1000:>8.1f} ms   {wall / max(calls, 1) * 1000:>7.2f} ms"
                f"  (cpu {cpu / count * 1000:.1f} ms)"
            )
    children = max((n for name, (_, n) in worker.items() if not name.startswith("cpu")), default=0)  # frames
    forks = worker.get(WORKER_STEPS[0][2], [0.0, 0])[1]  # a child kept for its hidden checks sends two frames
    print(
        f"  the worker: {children / max(count, 1):.0f} frames (a suite of an exercise each) from "
        f"{forks / max(count, 1):.0f} children per submission; wall, summed over them:"
    )
    for name, (total, n) in worker.items():
        if not name.startswith("cpu"):
            print(f"  {name:<68} {total / count * 1000:>8.1f} ms   {total / max(n, 1) * 1000:>7.2f} ms")
    cpu = {
        "the children (rusage, fork to exit)": worker.get("cpu: children", [0.0, 1]),
        "the zygote (forks, reading pipes, reaping, clean-up)": worker.get("cpu: zygote", [0.0, 1]),
    }
    total = scorer.get("scorer: all threads", [0.0, 0.0, 1])[1] / count
    print("  CPU per submission:")
    for name, (seconds_, n) in cpu.items():  # the first frame of each worker has no earlier clock
        per_sub = seconds_ / max(n, 1) * children / max(count, 1)
        total += per_sub
        print(f"  {name:<68} {per_sub * 1000:>8.1f} ms   {seconds_ / max(n, 1) * 1000:>7.2f} ms per frame")
    print(
        f"  {'the scorer (this process, every thread)':<68} {scorer['scorer: all threads'][1] / count * 1000:>8.1f} ms"
    )
    print(
        f"  {'all of it':<68} {total * 1000:>8.1f} ms: at most {cores * 60 / total:.1f} submissions/min on "
        f"{cores} cores, however the work is scheduled"
    )


# ----------------------------------------------------------------------------- the report
def per_minute(count: int, seconds: float) -> float:
    return count / seconds * 60 if seconds > 0 else float("inf")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100, help="submissions in the class (default 100)")
    p.add_argument("--small", type=int, metavar="N", help="a quick run on N submissions (for tests)")
    p.add_argument("--jobs", type=int, default=2, help="grade-batch --jobs (default 2)")
    p.add_argument("--repeat", type=int, default=1, help="time each way this many times; medians are compared")
    p.add_argument(
        "--nbgrader-sample",
        type=int,
        metavar="K",
        help="time nbgrader on the first K learners only (its cost per learner does not depend on "
        "how many there are: a fresh kernel per notebook); default: all",
    )
    p.add_argument("--nbgrader-repeat", type=int, default=1, help="time nbgrader this many times (default 1)")
    p.add_argument("--no-nbgrader", action="store_true", help="leave nbgrader out (it takes minutes)")
    p.add_argument("--keep", metavar="DIR", help="generate the class and the outputs here and keep them")
    p.add_argument("--profile", action="store_true", help="then print where a submission's time goes, per phase")
    args = p.parse_args(argv)
    count = args.small or args.count

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="class-grading-"))
    try:
        subs = work / "submissions"
        shutil.rmtree(subs, ignore_errors=True)
        subs.mkdir(parents=True)
        described = make_class(subs, count)
        names = sorted(described)
        solved = sum(what == "the solutions" for what in described.values())
        stubs = sum(what == "the stubs" for what in described.values())
        print(
            f"class: {count} submissions ({solved} solutions, {stubs} stubs, {count - solved - stubs} with "
            f"mistakes from the mutant zoo) in {subs}",
            flush=True,
        )

        batch_times, loop_times = [], []
        for _ in range(args.repeat):  # interleaved, so that load on the machine hits both alike
            batch_times.append(time_batch(subs, work / "batch", args.jobs))
            loop_times.append(time_loop(subs, work / "loop", names))
        batch, loop = statistics.median(batch_times), statistics.median(loop_times)
        b_rate, l_rate = per_minute(count, batch), per_minute(count, loop)

        def runs(ts):
            return f" (runs: {', '.join(f'{t:.1f}' for t in ts)} s)" if len(ts) > 1 else ""

        print(
            f"grade-batch --jobs {args.jobs}: {count} submissions in {batch:.1f} s = "
            f"{b_rate:.1f} submissions/min{runs(batch_times)}",
            flush=True,
        )
        print(
            f"CLI loop (one process per submission): {count} submissions in {loop:.1f} s = "
            f"{l_rate:.1f} submissions/min{runs(loop_times)}",
            flush=True,
        )

        why_not = "--no-nbgrader was given" if args.no_nbgrader else nbgrader_unavailable()
        nb_rate = None
        if why_not is None:
            sample = names[: args.nbgrader_sample] if args.nbgrader_sample else names
            try:
                nb_times = [time_nbgrader(subs, sample, work / "nbgrader") for _ in range(args.nbgrader_repeat)]
                nb = statistics.median(nb_times)
                nb_rate = per_minute(len(sample), nb)
                of = f" (a sample of the first {len(sample)})" if len(sample) < count else ""
                print(
                    f"nbgrader autograde: {len(sample)} submissions{of} in {nb:.1f} s = {nb_rate:.1f} "
                    f"submissions/min{runs(nb_times)}",
                    flush=True,
                )
            except (RuntimeError, OSError, ValueError, KeyError) as exc:
                why_not = f"{type(exc).__name__}: {str(exc)[:300]}"
        if why_not is not None:
            print(f"nbgrader comparison skipped: {why_not}")

        print(f"ratio grade-batch / CLI loop: {b_rate / l_rate:.2f}x (aim: >= 5x)")
        if nb_rate:
            print(f"ratio grade-batch / nbgrader autograde: {b_rate / nb_rate:.2f}x (aim: >= 50x)")
        if args.profile:
            print_profile(*profile_batch(subs, work / "profile", args.jobs), args.jobs)

        differ = compare(work / "batch", work / "loop", described)
        if differ:
            print(f"scores differ between grade-batch and the CLI loop, or are wrong, in {len(differ)} cases:")
            for line in differ[:20]:
                print(f"  {line}")
            return 1
        print(f"scores identical between grade-batch and the CLI loop: {count} of {count} submissions")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
