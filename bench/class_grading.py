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

Prints submissions per minute for each, the ratios (aim: batch >= 3x the loop, >= 10x nbgrader)
and whether the batch and the loop gave every submission identical scores (exit 1 if not).

Usage: python bench/class_grading.py [--count 100] [--small N] [--repeat R] [--nbgrader-sample K]
                                     [--nbgrader-repeat R] [--no-nbgrader] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
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


def compare(batch_out: Path, loop_out: Path, names: list[str]) -> list[str]:
    differ = []
    for name in names:
        batch = json.loads((batch_out / "results" / name / "results.json").read_text())
        loop = json.loads((loop_out / f"{name}.json").read_text())
        if scores(batch) != scores(loop) or batch["score"] != loop["score"]:
            differ.append(f"{name}: batch {batch['score']} vs loop {loop['score']}")
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

        print(f"ratio grade-batch / CLI loop: {b_rate / l_rate:.2f}x (aim: >= 3x)")
        if nb_rate:
            print(f"ratio grade-batch / nbgrader autograde: {b_rate / nb_rate:.2f}x (aim: >= 10x)")

        differ = compare(work / "batch", work / "loop", names)
        if differ:
            print(f"scores differ between grade-batch and the CLI loop for {len(differ)} submissions:")
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
