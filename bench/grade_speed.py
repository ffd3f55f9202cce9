"""How long a full grade of one submission takes, as a multiple of a bare ``import torch``.

Both are timed in this run, as fresh processes, several times each; the medians are compared.
Usage: python bench/grade_speed.py [--repeat N] [--submission DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--submission", default="solutions")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "process"))
    args = parser.parse_args()
    baseline_cmd = [sys.executable, "-c", "import torch"]
    grade_cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        "--submission",
        args.submission,
        "--sandbox",
        args.sandbox,
        "--quiet",
    ]
    timed(baseline_cmd)  # warm the file cache for both
    timed(grade_cmd)
    baseline, grading = [], []
    for _ in range(args.repeat):  # interleaved, so drift affects both alike
        baseline.append(timed(baseline_cmd))
        grading.append(timed(grade_cmd))
    b, g = statistics.median(baseline), statistics.median(grading)
    print(f"import torch         median {b:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in baseline)})")
    print(f"grade {args.submission:<14} median {g:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in grading)})")
    print(f"ratio grade / import torch: {g / b:.2f}  (aim: <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
