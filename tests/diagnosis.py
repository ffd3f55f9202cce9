"""How many wrong answers of a corpus lose points, and how many get a named diagnosis, before and after
the generic relations (course/relations.py): one grading run over the corpus gives both.

"Before" is the diagnosis as it was without relations (a named mistake of the exercise's record, else a
mistake shown by the evidence's shape), computed from the same units; "after" is the judge's own.
``python tests/diagnosis.py [zoo|misconceptions]`` prints the table and the shares.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mutants import build_submission


@dataclass(frozen=True)
class Row:
    name: str
    target: str
    killed: bool
    named_before: str | None
    named_after: str | None
    message: str


def _before(result) -> str | None:
    # imported here: the judge loads torch, and this module is read by pure tests too
    from autograder.course import mistakes

    failures = [u for u in result.units if u.verdict in ("failed", "not_started")]
    cpu = [u for u in failures if u.device == "cpu" and getattr(u.check, "diagnostic", True)]
    named = None
    if cpu and all(u.got is not None or u.raised for u in cpu):
        named = mistakes.identify([(u.check, u.got, u.raised) for u in cpu])
    named = named or mistakes.from_evidence({fact for u in failures for fact in u.facts})
    return named.describe() if named else None


def measure(corpus, grader) -> list[Row]:
    """Each wrong answer spliced into the solutions and its target exercise graded (one grade each)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(corpus):
            sub = build_submission(Path(tmp) / f"s{i}", m.target, m.source)
            ex = grader.grade(sub, [m.target]).exercises[0]
            killed = ex.outcome != "passed" and ex.score < ex.max_score
            after = ex.mistake.describe() if ex.mistake is not None else None
            rows.append(Row(m.name, m.target, killed, _before(ex) if killed else None, after, ex.message))
    return rows


def shares(rows: list[Row]) -> str:
    n = len(rows)
    killed = sum(r.killed for r in rows)
    before = sum(r.named_before is not None for r in rows if r.killed)
    after = sum(r.named_after is not None for r in rows if r.killed)
    return f"killed {killed}/{n}; named before {before}/{killed}, after {after}/{killed}"


def main(which: str = "misconceptions") -> int:
    # imported here: the grader loads torch and starts a worker
    from autograder.scoring.grader import Grader

    if which == "zoo":
        from mutants import MUTANTS as corpus  # the zoo, same splicing
    else:
        from corpus_misconceptions import CORPUS as corpus  # the independent corpus
    with Grader() as grader:
        rows = measure(corpus, grader)
    for r in rows:
        status = "KILLED" if r.killed else "SURVIVED"
        print(f"{status:8} {r.name:32} before: {r.named_before or '-'}\n{'':41} after:  {r.named_after or '-'}")
    print(shares(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(*sys.argv[1:2]))
