"""How long ``make watch`` takes from saving a module to printing its complete table.

Starts ``python -m autograder watch`` on a copy of the stubs, waits until it watches, then saves
one module (the reference solution and the stub in turn) several times, and times each save (the
file's modification time) to the last line of the report it prints ("next up" / "every exercise
graded here passes"). Prints the median and the slowest, and the machine they were measured on.
Usage: python bench/watch_latency.py [--saves N] [--module outliers]
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = ("next up", "every exercise graded here passes", "all exercises pass")


def machine() -> str:
    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), load average {load:.1f} at the start"


def measure(saves: int, module: str) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        submission = Path(shutil.copytree(ROOT / "exercises", Path(tmp) / "mine"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder", "watch", "--submission", str(submission)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        try:
            while "watching" not in lines.get(timeout=180):
                pass
            times = []
            versions = [ROOT / "solutions" / f"{module}.py", ROOT / "exercises" / f"{module}.py"]
            for i in range(saves):
                time.sleep(1.0)  # a learner does not save twice within the polling interval
                target = submission / f"{module}.py"
                target.write_text(versions[i % 2].read_text(encoding="utf-8"), encoding="utf-8")
                saved = target.stat().st_mtime
                while not lines.get(timeout=120).lstrip().startswith(LAST_LINE):
                    pass
                times.append(time.time() - saved)
            return times
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--module", default="outliers")
    args = parser.parse_args()
    where = machine()
    times = measure(args.saves, args.module)
    print(f"watch: save to complete table, {len(times)} saves of {args.module}.py on {where}")
    print(f"  median {statistics.median(times):.2f} s, fastest {min(times):.2f} s, slowest {max(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
