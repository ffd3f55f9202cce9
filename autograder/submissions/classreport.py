"""The class report: what a class got wrong, read from stored results, as one inert HTML page and a JSON summary.

    python -m autograder class-report --json-dir results/ [--submissions SUBMISSIONS] [--gradebook gradebook.db]
        [--roster names.txt] [--anonymize] [--out class-report/]

Reads only what is stored: each ``results/<name>/results.json`` that ``grade-batch`` wrote, and
nbgrader's ``gradebook.db`` after ``make autograde``; the submissions themselves (read as bytes, never
imported) only for the similarity section. The fields read from a results.json (any other is
ignored, any missing one is read as absent):

* top level: ``score``, ``max_score``, ``output``, ``tests``; ``extra_data.error`` (a submission that
  could not be graded), ``extra_data.status`` (``failed`` / ``not_gradable``, where a writer sets it);
* per test: ``exercise``, ``score``, ``max_score``, ``status``, ``outcome``, ``visibility``, ``name``
  (its ``(public)`` / ``(hidden)`` suffix) and ``output``: the named mistake is a line
  ``looks like NAME: FIX`` there (or a ``mistake`` field) and counts only when NAME is one of the
  catalogue's mistakes for that exercise (an allow-list: learner output cannot invent one); failed
  checks are its ``- [check] (device) ...`` lines and ``hidden checks: X of Y passed``. Everything
  after ``your code printed:`` is the learner's and is never parsed.

Everything learner-made (names, code, messages) is escaped with ``html.escape``; charts carry only
the catalogue's words and numbers, drawn as paths, inside ``<img>`` data URIs; the page has no script
and a Content-Security-Policy that forbids scripts and the network.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import html
import io
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import catalogue
from autograder.submissions import similarity
from autograder.submissions.discover import discover
from autograder.submissions.unpack import SubmissionError, materialize

ROOT = Path(__file__).resolve().parents[2]
RESULTS_NAME = "results.json"
KEY_NAME = ".class-report-key"
EXERCISE_WIDE = ("forbidden", "timeout", "crashed", "error", "not_started")
MAX_SOURCE = 256 * 1024  # bytes of one module read for the similarity section
_CHECK_LINE = re.compile(r"^- \[([^\]\n]{1,120})\] \(([\w:]{1,16})\)")
_HIDDEN_LINE = re.compile(r"^hidden checks: (\d+) of (\d+) passed")
_LEARNER_TEXT = "your code printed:"


# ----------------------------------------------------------------------------- reading what is stored
@dataclass
class Entry:
    """One learner's stored result."""

    name: str
    status: str  # "graded" or "not_gradable"
    score: float = 0.0
    max_score: float = 0.0
    tests: list[dict] = field(default_factory=list)
    error: str = ""
    source: str = "grade-batch"


def _number(x, default: float = 0.0) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return default
    return value if value == value and abs(value) != float("inf") else default


def read_entry(name: str, path: Path) -> Entry:
    """One results.json, read defensively: anything unreadable is a submission not gradable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Entry(name, "not_gradable", error=f"results.json unreadable: {type(exc).__name__}")
    if not isinstance(data, dict):
        return Entry(name, "not_gradable", error="results.json is not an object")
    extra: dict = data["extra_data"] if isinstance(data.get("extra_data"), dict) else {}
    tests = [t for t in data.get("tests") or [] if isinstance(t, dict) and isinstance(t.get("exercise"), str)]
    error = extra.get("error")
    if (
        error
        or str(extra.get("status", "")) in ("failed", "not_gradable", "error")
        or (not tests and str(data.get("output", "")).startswith("could not be graded"))
    ):
        return Entry(name, "not_gradable", error=str(error or data.get("output") or "could not be graded"))
    score = _number(data.get("score"), sum(_number(t.get("score")) for t in tests))
    max_score = _number(data.get("max_score"), sum(_number(t.get("max_score")) for t in tests))
    return Entry(name, "graded", score, max_score, tests)


def read_json_dir(folder: Path) -> list[Entry]:
    """Every ``folder/<name>/results.json``, by name (links are not followed)."""
    entries = []
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith("."):
            path = sub / RESULTS_NAME
            if path.is_file() and not path.is_symlink():
                entries.append(read_entry(sub.name, path))
    return entries


def read_gradebook(path: Path) -> tuple[list[Entry], list[str]]:
    """nbgrader's gradebook: one entry per learner, one test per autograded exercise cell; and the
    learners it knows who submitted nothing."""
    # nbgrader and SQLAlchemy take a second to import: only this option needs them
    from nbgrader.api import Gradebook

    from autograder.nbcourse.gradebook import grade_columns, learner_rows

    entries, absent = [], []
    with Gradebook(f"sqlite:///{path.resolve()}") as gb:
        assignments = sorted(gb.assignments, key=lambda a: a.name)
        students = sorted(gb.students, key=lambda s: s.id)
        for row in learner_rows(gb, assignments, students):
            if len(row.not_submitted) == len(assignments):
                absent.append(row.student_id)
                continue
            tests = []
            for assignment in assignments:
                for column in grade_columns(assignment):
                    exercise = column.header.rsplit("/", 1)[-1]
                    got = row.cells.get(column.header)
                    if column.written or exercise not in catalogue.BY_ID or got is None:
                        continue
                    ok = got >= column.max_score - 1e-9
                    tests.append(
                        {
                            "exercise": exercise,
                            "name": f"{exercise} (nbgrader)",
                            "score": got,
                            "max_score": column.max_score,
                            "status": "passed" if ok else "failed",
                            "outcome": "passed" if ok else "failed",
                        }
                    )
            entries.append(Entry(row.student_id, "graded", row.total, row.max_total, tests, source="nbgrader"))
    return entries, absent


# ----------------------------------------------------------------------------- pseudonyms
class Names:
    """Real names, or stable pseudonyms (an HMAC of the name under a key kept beside the results)."""

    def __init__(self, real: list[str], key: bytes | None):
        self.key = key
        self.map = {n: self.pseudonym(n) for n in real} if key else {n: n for n in real}
        self._longest = sorted(real, key=len, reverse=True)

    def pseudonym(self, name: str) -> str:
        assert self.key is not None
        return "learner-" + hmac.new(self.key, name.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:10]

    def __call__(self, name: str) -> str:
        return self.map.get(name, name)

    def scrub(self, text: str) -> str:
        """``text`` with every real name replaced by its pseudonym (messages quote paths)."""
        if not self.key:
            return text
        for name in self._longest:
            if name:
                text = text.replace(name, self.map[name])
        return text


def load_key(path: Path) -> bytes:
    """The anonymizing key: made once (random, owner-only) and kept, so pseudonyms are stable."""
    if path.is_file() and not path.is_symlink():
        key = path.read_bytes()
        if len(key) >= 16:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


# ----------------------------------------------------------------------------- the class's facts
def _suite(test: dict) -> str:
    name = str(test.get("name", ""))
    if name.endswith("(hidden)"):
        return "hidden"
    if name.endswith("(public)"):
        return "public"
    return "public" if test.get("visibility", "visible") == "visible" else "hidden"


def _grader_text(test: dict) -> list[str]:
    """The lines of a test's output the grader wrote (the learner's printed output cut off)."""
    output = test.get("output")
    if not isinstance(output, str):
        return []
    return output.split(_LEARNER_TEXT, 1)[0].splitlines()


@functools.cache
def known_mistakes(exercise: str) -> dict[str, object]:
    """The catalogue's named mistakes for ``exercise`` and those any exercise can make."""
    # course.mistakes imports torch (its variants' comparison): --help and reading files need none
    from autograder.course.mistakes import DEFAULT_DEVICE, FLOAT32_RESULT

    own = catalogue.BY_ID[exercise].mistakes if exercise in catalogue.BY_ID else ()
    return {m.name: m for m in (*own, FLOAT32_RESULT, DEFAULT_DEVICE)}


def mistakes_in(exercise: str, tests: list[dict]) -> set[str]:
    """The catalogue's mistakes for ``exercise`` that these tests name (nothing else counts)."""
    known = known_mistakes(exercise)
    found = set()
    for test in tests:
        named = test.get("mistake")
        if isinstance(named, dict):
            named = named.get("name")
        if isinstance(named, str) and named in known:
            found.add(named)
        lines = {line.strip() for line in _grader_text(test)}
        found.update(name for name, m in known.items() if m.describe() in lines)  # type: ignore[attr-defined]
    return found


def _outcome(tests: list[dict]) -> str:
    outcomes = [str(t.get("outcome") or t.get("status") or "failed") for t in tests]
    wide = next((o for o in outcomes if o in EXERCISE_WIDE), None)
    if wide:
        return wide
    return "passed" if all(t.get("status") == "passed" or o == "passed" for t, o in zip(tests, outcomes)) else "failed"


def summarize(entries: list[Entry], names: Names, missing: list[str]) -> dict:
    graded = [e for e in entries if e.status == "graded"]
    by_exercise: dict[str, list[tuple[Entry, list[dict]]]] = {}
    for e in graded:
        mine: dict[str, list[dict]] = {}
        for t in e.tests:
            mine.setdefault(t["exercise"], []).append(t)
        for ex, tests in mine.items():
            by_exercise.setdefault(ex, []).append((e, tests))
    order = [e.id for e in catalogue.EXERCISES] + sorted(set(by_exercise) - set(catalogue.BY_ID))
    exercises: list[dict] = []
    for ex in (x for x in order if x in by_exercise):
        rows = by_exercise[ex]
        points = [sum(_number(t.get("score")) for t in tests) for _, tests in rows]
        possible = max(sum(_number(t.get("max_score")) for t in tests) for _, tests in rows)
        outcomes = Counter(_outcome(tests) for _, tests in rows)
        public = sum(any(_suite(t) == "public" and t.get("status") == "failed" for t in ts) for _, ts in rows)
        hidden = sum(any(_suite(t) == "hidden" and t.get("status") == "failed" for t in ts) for _, ts in rows)
        who: dict[str, list[str]] = {}
        checks: Counter = Counter()
        for e, tests in rows:
            for m in sorted(mistakes_in(ex, tests)):
                who.setdefault(m, []).append(names(e.name))
            failed_checks = set()
            for t in tests:
                for line in _grader_text(t):
                    if c := _CHECK_LINE.match(line):
                        failed_checks.add(f"{c.group(1)} ({_suite(t)})")
                    elif (h := _HIDDEN_LINE.match(line)) and int(h.group(1)) < int(h.group(2)):
                        failed_checks.add("hidden checks (inputs not shown)")
            checks.update(failed_checks)
        known = known_mistakes(ex)
        mistakes = [
            {"name": m, "fix": known[m].fix, "learners": len(w), "who": sorted(w)}  # type: ignore[attr-defined]
            for m, w in sorted(who.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
        exercises.append(
            {
                "id": ex,
                "learners": len(rows),
                "mean_points": round(statistics.fmean(points), 4),
                "max_points": possible,
                "mean_share": round(statistics.fmean(points) / possible, 4) if possible else 0.0,
                "share_passing": round(outcomes["passed"] / len(rows), 4),
                "public_failures": public,
                "hidden_failures": hidden,
                "timeouts": outcomes["timeout"],
                "crashes": outcomes["crashed"],
                "forbidden": outcomes["forbidden"],
                "errors": outcomes["error"],
                "not_started": outcomes["not_started"],
                "mistakes": mistakes,
                "checks_failed": [
                    {"check": c, "learners": n} for c, n in sorted(checks.items(), key=lambda cn: (-cn[1], cn[0]))[:10]
                ],
            }
        )
    exercises.sort(key=lambda x: (x["mean_share"], x["share_passing"], order.index(x["id"])))
    assignments = []
    modules = list(catalogue.MODULES) + sorted({x.split(".", 1)[0] for x in by_exercise} - set(catalogue.MODULES))
    for module in modules:
        shares = []
        for e in graded:
            tests = [t for t in e.tests if t["exercise"].split(".", 1)[0] == module]
            possible = sum(_number(t.get("max_score")) for t in tests)
            if possible:
                shares.append(sum(_number(t.get("score")) for t in tests) / possible)
        if shares:
            assignments.append(
                {
                    "name": module,
                    "learners": len(shares),
                    "mean_share": round(statistics.fmean(shares), 4),
                    "median_share": round(statistics.median(shares), 4),
                    "shares": [round(s, 4) for s in shares],
                }
            )
    totals = [e.score / e.max_score for e in graded if e.max_score]
    return {
        "counts": {
            "submissions": len(entries),
            "graded": len(graded),
            "not_gradable": len(entries) - len(graded),
            "missing": len(missing),
        },
        "totals": {
            "mean_share": round(statistics.fmean(totals), 4) if totals else None,
            "median_share": round(statistics.median(totals), 4) if totals else None,
        },
        "assignments": assignments,
        "exercises": exercises,
        "learners": [
            {
                "name": names(e.name),
                "status": e.status,
                "score": round(e.score, 4),
                "max_score": round(e.max_score, 4),
                "error": names.scrub(e.error),
                "source": e.source,
            }
            for e in sorted(entries, key=lambda e: names(e.name))
        ],
        "missing": sorted(names(n) for n in missing),
    }


# ----------------------------------------------------------------------------- similarity
def module_sources(folder: Path) -> dict[str, dict[str, str]]:
    """module → submission → its code, read as bytes from regular files only (a link, which could
    point at the instructor's own files, is never followed) and at most ``MAX_SOURCE`` bytes."""
    found: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="class-report-") as tmp:
        for i, sub in enumerate(discover(folder)):
            try:
                where = materialize(sub.path, Path(tmp) / str(i))
            except (SubmissionError, OSError, ValueError):
                continue
            for module in catalogue.MODULES:
                path = where / f"{module}.py"
                try:
                    if path.is_symlink() or not path.is_file():
                        continue
                    with open(path, "rb") as f:
                        text = f.read(MAX_SOURCE).decode("utf-8", "replace")
                except OSError:
                    continue
                found.setdefault(module, {})[sub.name] = text
    return found


def starter_code(starter: Path | None, provided: list[Path]) -> dict[str, list[str]]:
    """module → the code every learner was given: its stub, and any provided file of that name."""
    code: dict[str, list[str]] = {}
    for folder in ([starter] if starter else []) + provided:
        for module in catalogue.MODULES:
            path = folder / f"{module}.py"
            if path.is_file():
                code.setdefault(module, []).append(path.read_text(encoding="utf-8", errors="replace"))
        if folder in provided:
            for path in sorted(folder.glob("*.py")):
                if path.stem not in catalogue.MODULES:
                    for module in catalogue.MODULES:
                        code.setdefault(module, []).append(path.read_text(encoding="utf-8", errors="replace"))
    return code


def compare_class(sources: dict[str, dict[str, str]], boilerplate: dict[str, list[str]]) -> tuple[list, dict]:
    cache: dict = {}
    pairs, left = [], {}
    for module in catalogue.MODULES:
        if len(sources.get(module, {})) > 1:
            found, left[module] = similarity.compare_module(
                module, sources[module], boilerplate.get(module, []), cache=cache
            )
            pairs += found
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.module, p.a, p.b))
    return pairs, left


# ----------------------------------------------------------------------------- pictures
def _svg(fig) -> str:
    """A figure as an ``<img>`` with an SVG data URI: its text drawn as paths, nothing to run."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(summary: dict) -> dict[str, str]:
    """Histogram of totals, per-assignment spread, per-exercise bars, mistake frequency (catalogue
    words and numbers only: no learner text is ever drawn)."""
    # matplotlib takes a second to import: only the HTML needs it
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # after choosing the Agg backend: no display is needed

    plt.rcParams.update({"svg.fonttype": "path", "text.parse_math": False, "svg.hashsalt": "class-report"})
    out: dict[str, str] = {}
    totals = [
        100 * s["score"] / s["max_score"] for s in summary["learners"] if s["status"] == "graded" and s["max_score"]
    ]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.hist(totals, bins=list(range(0, 105, 5)), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("total (% of the points graded)")
    ax.set_ylabel("learners")
    ax.set_xlim(0, 100)
    out["totals"] = _svg(fig)
    plt.close(fig)
    if summary["assignments"]:
        fig, ax = plt.subplots(figsize=(6, 0.45 * len(summary["assignments"]) + 0.8))
        data = [[100 * s for s in a["shares"]] for a in summary["assignments"]][::-1]
        ax.boxplot(data, orientation="horizontal", tick_labels=[a["name"] for a in summary["assignments"]][::-1])
        ax.set_xlabel("points per assignment (%)")
        ax.set_xlim(-2, 102)
        out["assignments"] = _svg(fig)
        plt.close(fig)
    if summary["exercises"]:
        ex = summary["exercises"][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(ex) + 0.8))
        ax.barh([x["id"] for x in ex], [100 * x["mean_share"] for x in ex], color="#dd8452", label="mean points")
        ax.plot([100 * x["share_passing"] for x in ex], range(len(ex)), "k|", markersize=10, label="passing")
        ax.set_xlim(0, 100)
        ax.set_xlabel("% (bars: mean points; marks: learners passing)")
        out["exercises"] = _svg(fig)
        plt.close(fig)
    ranked = sorted(
        ((m["learners"], f"{x['id']}: {m['name']}") for x in summary["exercises"] for m in x["mistakes"]), reverse=True
    )[:12]
    if ranked:
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(ranked) + 0.8))
        ax.barh([label[:70] for _, label in ranked][::-1], [n for n, _ in ranked][::-1], color="#c44e52")
        ax.set_xlabel("learners who made it")
        ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]  # MaxNLocator's
        out["mistakes"] = _svg(fig)
        plt.close(fig)
    return out


# ----------------------------------------------------------------------------- the page
CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0} td,th{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1em;flex-wrap:wrap} .card{background:#f6f8fa;border-radius:6px;padding:.6em 1.2em}
.card b{display:block;font-size:1.6em} .note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.5em}
pre{margin:0;font-size:12px;overflow:auto;max-height:30em;background:#fafafa;border:1px solid #eee}
pre span{display:block;white-space:pre}
pre span.hit{background:#ffe08a} details{margin:.3em 0} img{max-width:100%} .dim{color:#777}
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'; form-action 'none'"


def e(x) -> str:
    return html.escape(str(x), quote=True)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f} %"


def _img(data: str, alt: str) -> str:
    return f'<img alt="{e(alt)}" src="data:image/svg+xml;base64,{data}">'


def _code(text: str, lines: list[int]) -> str:
    marked = set(lines)
    rows = [
        f'<span class="{"hit" if i in marked else ""}">{i:4d}  {e(line)}</span>'
        for i, line in enumerate(text.splitlines(), 1)
    ]
    return "<pre>" + "".join(rows) + "</pre>"


def render(summary: dict, pictures: dict[str, str], pairs: list, sources: dict, names: Names) -> str:
    c = summary["counts"]
    sim = summary["similarity"]
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>Class report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Class report</h1>",
        f"<p class='dim'>made {e(summary['generated'])} from {e(', '.join(summary['sources']))}"
        f"{' · names replaced by pseudonyms' if summary['anonymized'] else ''}</p>",
        "<section id='glance'><h2>The class at a glance</h2><div class='cards'>",
    ]
    for label, value in (
        ("graded", c["graded"]),
        ("not gradable", c["not_gradable"]),
        ("missing", c["missing"]),
        ("mean total", _pct(summary["totals"]["mean_share"])),
        ("median total", _pct(summary["totals"]["median_share"])),
    ):
        out.append(f"<div class='card'><b>{e(value)}</b>{e(label)}</div>")
    out.append("</div>")
    if "totals" in pictures:
        out.append(_img(pictures["totals"], "histogram of the learners' totals"))
    if "assignments" in pictures:
        out.append("<h3>Per assignment</h3>" + _img(pictures["assignments"], "points per assignment"))
    out.append("<table><tr><th>assignment</th><th>learners</th><th>mean</th><th>median</th></tr>")
    for a in summary["assignments"]:
        out.append(
            f"<tr><td>{e(a['name'])}</td><td class='n'>{a['learners']}</td><td class='n'>{_pct(a['mean_share'])}</td>"
            f"<td class='n'>{_pct(a['median_share'])}</td></tr>"
        )
    out.append("</table>")
    trouble = [x for x in summary["learners"] if x["status"] != "graded"]
    if trouble or summary["missing"]:
        out.append("<details><summary>not gradable or missing</summary><ul>")
        out += [f"<li>{e(x['name'])}: {e(x['error'])}</li>" for x in trouble]
        out += [f"<li>{e(n)}: no submission</li>" for n in summary["missing"]]
        out.append("</ul></details>")
    out.append("</section><section id='exercises'><h2>Per exercise (hardest first)</h2>")
    if "exercises" in pictures:
        out.append(_img(pictures["exercises"], "mean points and share passing per exercise"))
    out.append(
        "<table><tr><th>exercise</th><th>learners</th><th>mean points</th><th>passing</th><th>public failed</th>"
        "<th>hidden failed</th><th>timeouts</th><th>crashes</th><th>forbidden</th><th>not started</th></tr>"
    )
    for x in summary["exercises"]:
        out.append(
            f"<tr><td><a href='#ex-{e(x['id'])}'>{e(x['id'])}</a></td><td class='n'>{x['learners']}</td>"
            f"<td class='n'>{x['mean_points']:.2f}/{x['max_points']:g}</td>"
            f"<td class='n'>{_pct(x['share_passing'])}</td>"
            + "".join(
                f"<td class='n'>{x[k]}</td>"
                for k in ("public_failures", "hidden_failures", "timeouts", "crashes", "forbidden", "not_started")
            )
            + "</tr>"
        )
    out.append("</table>")
    out.append("<section id='mistakes'><h3>Named mistakes, most frequent first</h3>")
    if "mistakes" in pictures:
        out.append(_img(pictures["mistakes"], "how many learners made each named mistake"))
    for x in summary["exercises"]:
        if not (x["mistakes"] or x["checks_failed"]):
            continue
        out.append(f"<div id='ex-{e(x['id'])}'><h4>{e(x['id'])}</h4><ul>")
        for m in x["mistakes"]:
            out.append(
                f"<li><b>{m['learners']}</b> × looks like <b>{e(m['name'])}</b>: {e(m['fix'])}"
                f"<details><summary>who</summary>{e(', '.join(m['who']))}</details></li>"
            )
        out.append("</ul>")
        if x["checks_failed"]:
            out.append("<p class='dim'>checks failed most: ")
            out.append(" · ".join(f"{e(cf['check'])} ({cf['learners']})" for cf in x["checks_failed"][:5]) + "</p>")
        out.append("</div>")
    out.append("</section></section><section id='similarity'><h2>Submissions that look alike</h2>")
    out.append(
        "<p class='note'>A high score is a reason to look, not a verdict: learners who follow the same "
        "lesson write alike, and code copied from one shared source can look like copying between two.</p>"
    )
    if not sim["available"]:
        out.append(f"<p>{e(sim['why_not'])}</p>")
    else:
        out.append(
            f"<p class='dim'>{e(sim['method'])}. Flagged: score ≥ {sim['threshold']:g} and at least "
            f"{sim['min_shared']} fingerprints shared; {len(sim['flagged'])} flagged.</p>"
        )
        near = [p for p in sim["pairs"] if p["score"] >= sim["threshold"] / 2 and p["shared"] >= sim["min_shared"] / 2]
        out.append(
            f"<p class='dim'>{len(sim['pairs'])} pairs share some own code; listed: those within half the "
            "threshold of it, at most 30.</p>"
        )
        out.append("<table><tr><th>module</th><th>submission</th><th>submission</th><th>score</th><th>shared</th></tr>")
        for p in near[:30]:
            mark = " ⚑" if p["flagged"] else ""
            out.append(
                f"<tr><td>{e(p['module'])}</td><td>{e(p['a'])}</td><td>{e(p['b'])}</td>"
                f"<td class='n'>{p['score']:.2f}{mark}</td><td class='n'>{p['shared']}</td></tr>"
            )
        out.append("</table>")
        for p in [p for p in pairs if p.flagged][:20]:
            left, right = sources[p.module][p.a], sources[p.module][p.b]
            out.append(
                f"<details class='side'><summary>{e(p.module)}.py: {e(names(p.a))} and {e(names(p.b))} "
                f"({p.score:.2f})</summary><div class='pair'><div>{e(names(p.a))}{_code(left, p.lines_a)}</div>"
                f"<div>{e(names(p.b))}{_code(right, p.lines_b)}</div></div></details>"
            )
    out.append("</section><section id='about'><h2>How to read this</h2><ul>")
    out.append(
        "<li>Mean points and passing count learners graded on the exercise; a notebook counts only for "
        "the exercises it holds.</li><li>Named mistakes are the grader's own diagnoses (only the "
        "catalogue's named mistakes are counted).</li><li>With <code>--anonymize</code>, names are "
        "pseudonyms; the code shown side by side is the learners' own and may still name them in comments.</li>"
    )
    out.append("</ul></section></body></html>")
    return "\n".join(out)


# ----------------------------------------------------------------------------- the command
def build(args) -> dict:
    """Reads what is stored, writes the HTML page and the JSON summary; returns the summary."""
    started = time.monotonic()
    entries: list[Entry] = []
    roster: list[str] = []  # who should have submitted
    sources_used = []
    if args.json_dir:
        folder = Path(args.json_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"results folder not found: {folder}")
        entries += read_json_dir(folder)
        sources_used.append("grade-batch results")
    if args.gradebook:
        if not Path(args.gradebook).is_file():
            raise FileNotFoundError(f"gradebook not found: {args.gradebook}")
        found, roster = read_gradebook(Path(args.gradebook))  # the learners it knows who submitted nothing
        entries += found
        sources_used.append("nbgrader gradebook")
    if args.roster:
        roster += [line.strip() for line in Path(args.roster).read_text(encoding="utf-8").splitlines() if line.strip()]
    present = {x.name for x in entries}
    missing = sorted({n for n in roster if n not in present})
    key = None
    if args.anonymize:
        key = load_key(Path(args.key_file) if args.key_file else Path(args.json_dir or args.out) / KEY_NAME)
    names = Names(sorted(present | set(roster)), key)
    summary = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sources": sources_used,
        "anonymized": bool(key),
        **summarize(entries, names, missing),
    }
    sources: dict = {}
    pairs: list = []
    sim: dict = {
        "available": False,
        "why_not": "no --submissions folder given: the similarity of the code was not computed",
        "method": "winnowed token fingerprints (autograder/submissions/similarity.py)",
        "threshold": similarity.THRESHOLD,
        "min_shared": similarity.MIN_SHARED,
        "pairs": [],
        "flagged": [],
    }
    if args.submissions:
        if not Path(args.submissions).is_dir():
            raise FileNotFoundError(f"submissions folder not found: {args.submissions}")
        sources = module_sources(Path(args.submissions))
        starter = Path(args.starter) if args.starter else ROOT / "exercises"
        boilerplate = starter_code(starter if starter.is_dir() else None, [Path(p) for p in args.boilerplate or []])
        pairs, left = compare_class(sources, boilerplate)
        listed = [
            {
                "module": p.module,
                "a": names(p.a),
                "b": names(p.b),
                "score": round(p.score, 4),
                "shared": p.shared,
                "flagged": p.flagged,
            }
            for p in pairs
        ]
        sim.update(
            available=True,
            why_not="",
            pairs=listed[:200],
            flagged=[p for p in listed if p["flagged"]],
            left_out=left,
            starter=bool(boilerplate),
        )
        if not boilerplate:
            sim["method"] += " (no starter code found: shared stubs count as similarity)"
    summary["similarity"] = sim
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "class-report.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    page = render(summary, charts(summary), pairs, sources, names)
    (out / "class-report.html").write_text(page, encoding="utf-8")
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def argument_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder class-report", description=__doc__.split("\n")[0])
    p.add_argument("--json-dir", metavar="DIR", help="grade-batch's results folder (results/<name>/results.json)")
    p.add_argument("--gradebook", metavar="DB", help="nbgrader's gradebook.db (after make autograde)")
    p.add_argument("--submissions", metavar="DIR", help="the graded submissions, for the similarity section")
    p.add_argument("--starter", metavar="DIR", help="the stubs learners started from (default: exercises/)")
    p.add_argument("--boilerplate", action="append", metavar="DIR", help="code every learner was given (repeatable)")
    p.add_argument("--roster", metavar="FILE", help="one learner name per line: who is missing")
    p.add_argument("--anonymize", action="store_true", help="replace names with stable pseudonyms")
    p.add_argument("--key-file", metavar="FILE", help="the pseudonyms' key (default: DIR/.class-report-key)")
    p.add_argument("--out", default="class-report", metavar="DIR", help="where to write (default class-report/)")
    return p


def main(argv=None) -> int:
    args = argument_parser().parse_args(argv)
    if not (args.json_dir or args.gradebook):
        print("error: give --json-dir (grade-batch's results) and/or --gradebook", file=sys.stderr)
        return 2
    try:
        summary = build(args)
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    c = summary["counts"]
    print(
        f"class report: {c['graded']} graded, {c['not_gradable']} not gradable, {c['missing']} missing; "
        f"{len(summary['similarity']['flagged'])} pairs flagged; in {summary['seconds']:.1f} s"
    )
    print(f"  {Path(args.out) / 'class-report.html'}\n  {Path(args.out) / 'class-report.json'}")
    return 0
