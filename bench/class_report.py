"""The class report's speed on a class of 300 (grading not included), and the similarity methods compared.

Writes a synthetic class: ``--count`` learners' stored results (as ``grade-batch`` writes them; each
exercise passed, failed with one of its named mistakes, timed out or forbidden, at random) and their
code for every module (the reference with one mutant of the zoo spliced in per module at random, the
legal corpus appended, two learners' own ``losses.py``, and ``--copies`` disguised copies: another
learner's module with every local name renamed and the functions reordered). Then times
``class-report`` on it, in this process, and prints the seconds (aim: < 30 s on the 2-core machine).

``--compare`` also runs the similarity of ``tests/synthetic_class.py`` (12 learners, one planted pair)
through this project's winnowing and through copydetect (when installed: ``pip install copydetect``),
printing the planted pair's score, the highest honest score, the honest pairs each flags and the
time each takes.

Usage: python bench/class_report.py [--count 300] [--copies 10] [--compare] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import synthetic_class  # noqa: E402  (the known-facts class of the tests)
from classmates import OWN_A, OWN_C, disguise, own_module  # noqa: E402

from autograder.course import catalogue  # noqa: E402
from autograder.submissions import classreport, similarity  # noqa: E402
from legal import LEGAL  # noqa: E402
from mutants import MUTANTS, SOLUTIONS, splice  # noqa: E402


def make_class(root: Path, count: int, copies: int, seed: int = 25) -> dict:
    """``root/results``, ``root/submissions`` and ``root/roster.txt`` for ``count`` learners."""
    rng = random.Random(seed)
    reference = {m: (SOLUTIONS / f"{m}.py").read_text(encoding="utf-8") for m in catalogue.MODULES}
    zoo: dict[str, list] = {}
    for mutant in MUTANTS:
        zoo.setdefault(mutant.module, []).append(mutant)
    legal: dict[str, list] = {}
    for case in LEGAL:
        legal.setdefault(case.module, []).append(case)
    code: dict[str, dict[str, str]] = {}
    chosen: dict[tuple[str, str], set[str]] = {}  # (learner, module) -> the zoo's mutant and legal case in it
    names = [f"learner-{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        modules = {}
        for module in catalogue.MODULES:
            text = reference[module]
            if zoo.get(module) and (rng.random() < 0.7 or i < 2 * copies + 2):
                m = rng.choice(zoo[module])
                text = splice(text, m.function, m.source)
                chosen.setdefault((name, module), set()).add(m.name)
            else:  # the reference's code unchanged: what every such learner hands in alike
                chosen.setdefault((name, module), set()).add("the reference")
            if legal.get(module) and rng.random() < 0.1:
                case = rng.choice(legal[module])
                text += "\n" + textwrap.dedent(case.source)
                chosen.setdefault((name, module), set()).add(case.name)
            modules[module] = text
        if i == 0:
            modules["losses"] = own_module(OWN_A)
        if i == 1:
            modules["losses"] = own_module(OWN_C)
        code[name] = modules
    planted = []
    for j in range(copies):  # a copier hands in another learner's module, disguised: the first two
        # copy a learner's own losses.py, the others a module whose only own code is one mutant of the zoo
        source, copier = (names[j], names[2 + 2 * j]) if j < 2 else (names[2 + 2 * j], names[3 + 2 * j])
        module = "losses" if j < 2 else [m for m in catalogue.MODULES if zoo.get(m)][j % len(zoo)]
        code[copier][module] = disguise(code[source][module])
        chosen[(copier, module)] = chosen.get((source, module), set())
        planted.append((source, copier, module))
    for name in names:
        failures = {}
        for ex in catalogue.EXERCISES:
            roll = rng.random()
            if roll < 0.25 and ex.mistakes:
                failures[ex.id] = ("failed", rng.choice(ex.mistakes).name)
            elif roll < 0.3:
                failures[ex.id] = ("failed", "")
            elif roll < 0.31:
                failures[ex.id] = ("timeout", "")
            elif roll < 0.32:
                failures[ex.id] = ("forbidden", "")
        data = synthetic_class.results(failures, [e.id for e in catalogue.EXERCISES])
        (root / "results" / name).mkdir(parents=True)
        data["extra_data"] = {"submission": name, "kind": "directory"}
        (root / "results" / name / "results.json").write_text(json.dumps(data), encoding="utf-8")
        for module, text in code[name].items():
            (root / "submissions" / name).mkdir(parents=True, exist_ok=True)
            (root / "submissions" / name / f"{module}.py").write_text(text, encoding="utf-8")
    (root / "roster.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return {"planted": planted, "mutant": chosen}


def time_report(root: Path, out: Path) -> dict:
    args = classreport.argument_parser().parse_args(
        [
            "--json-dir",
            str(root / "results"),
            "--submissions",
            str(root / "submissions"),
            "--roster",
            str(root / "roster.txt"),
            "--out",
            str(out),
        ]
    )
    start = time.perf_counter()
    summary = classreport.build(args)
    return {"seconds": time.perf_counter() - start, "summary": summary}


def compare(work: Path) -> None:
    """Our winnowing and copydetect on the tests' synthetic class: planted pair vs honest pairs."""
    learners = synthetic_class.learners()
    sources = {name: code for name, (code, _) in learners.items()}
    stub = (ROOT / "exercises" / "losses.py").read_text(encoding="utf-8")
    planted = {frozenset(p) for p in synthetic_class.FACTS["copied"]}

    def verdict(label: str, scores: dict, flagged: set, seconds: float) -> None:
        honest = {p: s for p, s in scores.items() if p not in planted}
        top = max(honest.items(), key=lambda kv: kv[1]) if honest else (frozenset(), 0.0)
        ours_planted = max(scores.get(p, 0.0) for p in planted)
        print(
            f"{label}: planted pair {ours_planted:.2f}; highest honest pair {top[1]:.2f} "
            f"({' & '.join(sorted(top[0]))}); honest pairs flagged: {len(flagged - planted)} of "
            f"{len(sources) * (len(sources) - 1) // 2 - len(planted)}; {seconds * 1000:.0f} ms"
        )

    start = time.perf_counter()
    pairs, _ = similarity.compare_module("losses", sources, [stub])
    seconds = time.perf_counter() - start
    scores = {frozenset((p.a, p.b)): p.score for p in pairs}
    verdict(
        "winnowing (ours, stubs + common code left out)",
        scores,
        {frozenset((p.a, p.b)) for p in pairs if p.flagged},
        seconds,
    )
    try:
        import numpy as np
        from copydetect import CodeFingerprint, compare_files
    except ImportError:
        print("copydetect: not installed (pip install copydetect==0.5.0) — not compared")
        return
    folder = work / "copydetect"
    folder.mkdir()
    paths = {}
    for i, (name, code) in enumerate(sources.items()):
        paths[name] = folder / f"s{i}.py"
        paths[name].write_text(code, encoding="utf-8")
    (folder / "stub.py").write_text(stub, encoding="utf-8")
    (folder / "reference.py").write_text((SOLUTIONS / "losses.py").read_text(encoding="utf-8"), encoding="utf-8")
    names = sorted(paths)
    for given in (("stub.py",), ("stub.py", "reference.py")):
        start = time.perf_counter()
        boiler = np.array(sorted(set().union(*(CodeFingerprint(str(folder / g), 25, 1).hashes for g in given))))
        fps = {name: CodeFingerprint(str(path), 25, 1, boilerplate=boiler) for name, path in paths.items()}
        scores, flagged = {}, set()
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                _, (s1, s2), _ = compare_files(fps[a], fps[b])
                scores[frozenset((a, b))] = float(max(s1, s2))
                if min(s1, s2) >= 0.5:  # copydetect's own default display threshold
                    flagged.add(frozenset((a, b)))
        seconds = time.perf_counter() - start
        label = "stubs" if len(given) == 1 else "stubs and the reference solution"
        verdict(f"copydetect 0.5.0 (k=25, win=1, {label} as boilerplate)", scores, flagged, seconds)
    per_pair = seconds / max(1, len(names) * (len(names) - 1) // 2)
    print(f"copydetect, all pairs of 300 learners x 8 modules at this rate: ~{per_pair * 300 * 299 / 2 * 8:.0f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--copies", type=int, default=10)
    p.add_argument("--compare", action="store_true", help="also compare the similarity methods")
    p.add_argument("--keep", metavar="DIR", help="keep the class and the report here")
    args = p.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-class-report-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        made = make_class(work / "class", args.count, args.copies)
        print(
            f"class: {args.count} submissions x {len(catalogue.MODULES)} modules, {args.copies} disguised copies "
            f"(written in {time.perf_counter() - start:.1f} s)"
        )
        timed = time_report(work / "class", work / "report")
        flagged = {(p["a"], p["b"], p["module"]) for p in timed["summary"]["similarity"]["flagged"]}
        planted = {frozenset((a, b)) for a, b, _ in made["planted"]}
        found = sum(frozenset((a, b)) in planted for a, b, _ in flagged)
        own = {frozenset((a, b)) for a, b, _ in made["planted"][:2]}
        print(
            f"similarity: {sum(frozenset((a, b)) in own for a, b, _ in flagged)} of {len(own)} copies of a "
            "learner's own "
            "losses.py flagged"
        )
        twins = sum(  # learners handed the same mutant, legal case or the reference hand in the same code
            frozenset((a, b)) not in planted
            and bool(made["mutant"].get((a, m), set()) & made["mutant"].get((b, m), set()))
            for a, b, m in flagged
        )
        print(f"class-report: {args.count} submissions in {timed['seconds']:.1f} s (aim < 30 s)")
        print(
            f"similarity: {found} of {len(planted)} planted copies flagged; {twins} pairs flagged that hold the "
            f"same mutant of the zoo, legal case or unchanged reference (identical code); "
            f"{len(flagged) - found - twins} other pairs flagged"
        )
        print(f"report: {work / 'report' / 'class-report.html'}")
        if args.compare:
            compare(work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
