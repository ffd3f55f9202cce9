"""How long the learner's loop takes, each as a multiple of a bare ``import torch`` timed in this run.

Interleaved, as fresh processes, ``--repeat`` times each (medians compared): one exercise and a full
grade of ``--submission`` graded cold (their own process; references from the on-disk cache, which
the first run fills, and without it), a second grade answered by the warm grader (``make grade``),
a wrong exercise name, and ``make watch`` from a save to the complete table (``watch_latency.py``).
Its caches and warm grader are private to the run (temporary folders) and stopped at its end.
Each grade timed must earn every point with its worker at work, or the bench stops (a grade whose
worker cannot start is fast and worthless).
Usage: python bench/grade_speed.py [--repeat N] [--submission DIR] [--saves N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import watch_latency  # noqa: E402 - beside this file


def timed(cmd: list[str], env: dict, expect: int = 0, full: bool = False) -> float:
    """Seconds ``cmd`` took; ``full``: a grade, whose table must show every point earned and its
    worker at work (a grade whose worker could not start is fast and worthless)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    took = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    table = " ".join(proc.stdout.decode(errors="replace").split())
    total = re.search(r"\btotal (\S+)/(\S+)", table)
    if full and (not total or total[1] != total[2] or "worker problems" in table):
        raise SystemExit(f"{' '.join(cmd)} did not grade in full: {table[-1500:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--submission", default="solutions", help="a submission that earns every point")
    parser.add_argument("--exercise", default="outliers.iqr")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "process"))
    parser.add_argument("--saves", type=int, default=5, help="saves timed for watch (0: skip it)")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="grade-speed-") as tmp:
        grade = [python, "-m", "autograder", "grade", "--submission", args.submission, "--sandbox", args.sandbox]
        runtime = Path(tmp) / "run"
        runtime.mkdir(mode=0o700)
        env = {**os.environ, "AUTOGRADER_CACHE_DIR": str(Path(tmp) / "cache"), "AUTOGRADER_RUNTIME_DIR": str(runtime)}
        cold = {**env, "AUTOGRADER_WARM": "0"}
        runs = {
            "import torch": ([python, "-c", "import torch"], cold, 0),
            "one exercise, cold": ([*grade, "--exercise", args.exercise], cold, 0, True),
            "one exercise, cold, no cache": (
                [*grade, "--exercise", args.exercise],
                {**cold, "AUTOGRADER_REFERENCE_CACHE": "0"},
                0,
                True,
            ),
            f"full grade of {args.submission}, cold": (grade, cold, 0, True),
            "one exercise, warm grader": (
                [*grade, "--exercise", args.exercise],
                {**env, "AUTOGRADER_WARM": "1"},
                0,
                True,
            ),
            "wrong exercise name": ([*grade, "--exercise", args.exercise + "x"], cold, 2),
        }
        try:
            timed(grade, cold, 0, True)  # fills the file cache and the reference cache
            timed(*runs["one exercise, warm grader"])  # graded here; starts the warm grader
            timed(*runs["one exercise, warm grader"])  # waits for it to be warm
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeat):  # interleaved, so that drift affects all alike
                for name, run in runs.items():
                    times[name].append(timed(*run))
        finally:
            subprocess.run([python, "-m", "autograder", "warm-grader", "stop"], env=env, stdout=subprocess.DEVNULL)
    base = statistics.median(times["import torch"])
    print(f"on {watch_latency.machine()}; {args.repeat} runs each, interleaved, medians")
    for name, values in times.items():
        m = statistics.median(values)
        print(f"{name:<34} {m:6.2f} s = {m / base:4.2f}x import torch  (runs: {', '.join(f'{x:.2f}' for x in values)})")
    if args.saves:
        saves = watch_latency.measure(args.saves, args.exercise.split(".")[0])
        m = statistics.median(saves)
        print(f"{'watch: save to complete table':<34} {m:6.2f} s = {m / base:4.2f}x import torch  ({len(saves)} saves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
