"""Grading a class on Dask against local ``grade-batch``, at 1 and 2 workers, in one run.

Generates one synthetic class (``bench/class_grading.py``'s generator: solutions, stubs, solutions
with mistakes of the mutant zoo) and grades all of it four times, in this order, so that each pair
compared at equal worker counts runs back to back (the machine's load drifts):

1. ``grade-batch --jobs 1`` (one local warm grader), 2. ``--cluster local:1`` (a Dask LocalCluster
   of one single-threaded worker process over TCP on localhost, with one warm grader);
3. ``grade-batch --jobs 2`` and 4. ``--cluster local:2``.

``--repeat R`` repeats the four and compares medians. Each run is timed end to end (start-up
included: a Dask worker imports torch as a local grader does) and in its steady state (first to
last result, from the progress lines' arrival times).
Prints submissions per minute, Dask ÷ local at equal worker counts (aim: within 15 %, >= 0.85),
the 2-worker ÷ 1-worker speed-up and its efficiency (aim: >= 1.8x), and whether all four runs
gave every submission identical scores (exit 1 if not).

Usage: python bench/cluster_scaling.py [--count 40] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from class_grading import make_class, per_minute  # noqa: E402  (the same synthetic class)

RUNS = [
    ("local grade-batch --jobs 1", ["--jobs", "1"], 1),
    ("Dask LocalCluster, 1 worker", ["--cluster", "local:1"], 1),
    ("local grade-batch --jobs 2", ["--jobs", "2"], 2),
    ("Dask LocalCluster, 2 workers", ["--cluster", "local:2"], 2),
]


def time_run(subs: Path, out: Path, extra: list[str]) -> tuple[float, float, int]:
    """(end-to-end seconds, first-to-last-result seconds, results) of one ``grade-batch``."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade-batch",
        str(subs),
        "--force",
        "--csv",
        str(out / "grades.csv"),
        "--json-dir",
        str(out / "results"),
        *extra,
    ]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: Dask's logs cannot block the run
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, "COLUMNS": "120"}
        )
        arrivals, lines = [], []
        for line in proc.stdout:  # not a terminal: one plain line per submission, as it finishes
            lines.append(line)
            if line.startswith("["):
                arrivals.append(time.perf_counter())
        proc.wait()
        elapsed = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(extra)} failed ({proc.returncode}):\n{''.join(lines)[-3000:]}\n{stderr[-3000:]}")
    steady = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else elapsed
    return elapsed, steady, len(arrivals)


def scores(out: Path, names: list[str]) -> dict[str, list]:
    found = {}
    for name in names:
        data = json.loads((out / "results" / name / "results.json").read_text())
        found[name] = [data["score"], [(t["name"], t["score"]) for t in data["tests"]]]
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=40, help="submissions in the class (default 40)")
    p.add_argument("--repeat", type=int, default=1, help="run the four this many times; medians are compared")
    p.add_argument("--keep", metavar="DIR", help="generate the class and the outputs here and keep them")
    args = p.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cluster-scaling-"))
    try:
        subs = work / "submissions"
        shutil.rmtree(subs, ignore_errors=True)
        subs.mkdir(parents=True)
        names = sorted(make_class(subs, args.count))
        print(f"class: {args.count} submissions in {subs}; {os.cpu_count()} cores here", flush=True)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in RUNS}
        graded: dict[str, dict] = {}
        for _ in range(args.repeat):
            for label, extra, _ in RUNS:
                elapsed, steady, count = time_run(subs, work / label.replace(" ", "_"), extra)
                if count != args.count:
                    raise SystemExit(f"{label}: {count} results for {args.count} submissions")
                times[label].append((elapsed, steady))
                print(f"  {label}: {elapsed:.1f} s", flush=True)
                graded[label] = scores(work / label.replace(" ", "_"), names)
        rates: dict[str, tuple[float, float]] = {}
        for label, measured in times.items():
            elapsed = statistics.median(e for e, _ in measured)
            steady = statistics.median(s for _, s in measured)
            rates[label] = (
                per_minute(args.count, elapsed),
                per_minute(args.count - 1, steady) if args.count > 1 else 0.0,
            )
            runs = f" (runs: {', '.join(f'{e:.1f}' for e, _ in measured)} s)" if len(measured) > 1 else ""
            print(
                f"{label}: {args.count} submissions in {elapsed:.1f} s = {rates[label][0]:.1f} submissions/min "
                f"(steady, first to last result: {rates[label][1]:.1f} submissions/min){runs}",
                flush=True,
            )

        def ratio(a: str, b: str, i: int) -> float:
            return rates[a][i] / rates[b][i] if rates[b][i] else float("nan")

        for workers in (1, 2):
            local, dask = (label for label, _, n in RUNS if n == workers)
            print(
                f"Dask / local at {workers} worker{'s' if workers > 1 else ''}: {ratio(dask, local, 0):.2f}x end to "
                f"end, {ratio(dask, local, 1):.2f}x steady (aim: >= 0.85)"
            )
        for kind in ("local", "Dask"):
            one, two = (label for label, _, n in RUNS if label.startswith(kind) and n in (1, 2))
            speed = ratio(two, one, 0)
            print(
                f"scaling {kind}, 2 workers / 1: {speed:.2f}x end to end (efficiency {speed / 2:.0%}), "
                f"{ratio(two, one, 1):.2f}x steady (aim: >= 1.8x)"
            )

        reference = graded[RUNS[0][0]]
        differ = [
            f"{name}: {label}" for label, found in graded.items() for name in names if found[name] != reference[name]
        ]
        if differ:
            print(f"scores differ from local --jobs 1 for {len(differ)} submissions:")
            for line in differ[:20]:
                print(f"  {line}")
            return 1
        print(f"scores identical across the four runs: {args.count} of {args.count} submissions")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
