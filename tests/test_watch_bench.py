"""The watch latency the README states is the one ``bench/watch_latency.py`` measures (``make
bench-watch``): the benchmark runs end to end here on two saves (no timing is asserted), and the
README's sentence names it and the machine."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_watch_benchmark_measures_save_to_table():
    proc = subprocess.run(
        [sys.executable, "bench/watch_latency.py", "--saves", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"2 saves of outliers.py on \d+ CPUs", proc.stdout), proc.stdout
    assert re.search(r"median [0-9.]+ s, fastest [0-9.]+ s, slowest [0-9.]+ s", proc.stdout), proc.stdout


@pytest.mark.pure
def test_the_readme_states_the_measured_figure_and_the_machine():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    claim = re.search(r"complete table appears ([0-9.]+) s after the save \(median of (\d+) saves.*?\)", readme)
    assert claim and "`make bench-watch` measures it" in claim.group(0) and "CPU" in claim.group(0)
    assert "well under a second" not in readme
