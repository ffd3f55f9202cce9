"""The one command line: ``grade`` a submission or notebook, ``grade-batch`` a class, ``list`` the
exercises, ``hint``, ``repro``, ``watch``; and the instructor's verbs (``stubs``, ``notebooks``,
``autograde``, ``publish``, ``student-release``, ``gradescope``), each handed to its module."""

from __future__ import annotations

import argparse
import difflib
import importlib
import signal
import sys
import tempfile
import threading
from pathlib import Path

from autograder.checks import SUITE_CHOICES
from autograder.course import catalogue

INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C or SIGTERM

# verb -> (module whose main() takes the rest of the command line, arguments put first, what it does)
HANDED_ON = {
    "secret": (
        "autograder.checks.secret",
        [],
        "create the course secret the hidden checks draw their inputs from (the instructor's; never commit it)",
    ),
    "notebooks": (
        "autograder.nbcourse.nbsource",
        [],
        "regenerate source/ from lessons/ and solutions/ (--check: if stale)",
    ),
    "autograde": (
        "autograder.nbcourse.nbcycle",
        ["autograde"],
        "nbgrader autograde, then the sandbox grades the same notebooks; disagreements listed",
    ),
    "publish": (
        "autograder.nbcourse.lab",
        [],
        "publish release/ to this copy's own exchange (what make lab does first)",
    ),
    "student-release": (
        "autograder.packaging.bundle",
        [],
        "write what a learner receives into DIR (default dist/student)",
    ),
    "gradescope": ("autograder.submissions.gradescope", [], "build Gradescope's autograder.zip, or run inside it"),
    "op-recorder": (
        "autograder.sandbox.native",
        [],
        "compile the worker's op recorder in C++ (build [--optional] [--verbose]; check: exit 0 when loadable)",
    ),
    "class-report": (
        "autograder.submissions.classreport",
        [],
        "what a class got wrong, from grade-batch's results (and the gradebook): one HTML page and a JSON summary",
    ),
}


def _grade(args, grader=None) -> int:
    """``grader``: a warm one to grade on (the warm grader's own requests); else one is started here,
    unless a warm grader answers first (``feedback.warm``: ``make grade`` asks for it)."""
    # the verb's own imports, here: `--help` and the other verbs start without them; torch and rich
    # load later (the grader starts its worker first, the table is rendered last)
    from autograder.feedback import warm
    from autograder.nbcourse import notebooks
    from autograder.scoring.grader import grade
    from autograder.scoring.results import Limits
    from autograder.submissions import unpack

    start_warm = grader is None and warm.eligible(args)
    if start_warm:
        answered = warm.ask(args)
        if answered is not None:
            return answered

    limits = Limits(jobs=args.jobs, check_timeout=args.check_timeout, total_timeout=args.total_timeout)
    given = Path(args.notebook or args.submission)
    with tempfile.TemporaryDirectory(prefix="grade-submission-") as unpacked:
        # the one way in, as grade-batch and Gradescope: a folder, zip, notebook or single module
        # file; a notebook or module file is graded on, and out of, its whole assignment
        own: list[str] = []
        try:
            submission = unpack.materialize(given, Path(unpacked), own)
        except unpack.SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.notebook:
            from autograder.nbcourse import siblings  # only for --notebook

            siblings.extract_beside(given, submission)  # the capstone imports your other modules
        exercises = args.exercise or own or None
        if grader is not None:
            result = grader.grade(submission, exercises)
        else:
            result = grade(submission, exercises, SUITE_CHOICES[args.suite], args.sandbox, limits, cache=True)
        notebooks.relocate(result, submission)  # a notebook's messages point at cells, not at generated files
    from autograder.feedback import report  # rich: only once there is something to render

    if args.json:
        report.write_json(
            result, Path(args.json), hidden_visibility=args.hidden_visibility, full_details=args.full_details
        )
    if not args.notebook:  # the next hint follows the diagnosis (a notebook's folder is a temporary one)
        from autograder.course import hints  # only for a grade of a folder: `--help` starts without it

        hints.remember(Path(args.submission), result)
    if not args.quiet:
        shown = "" if given == Path("exercises") else str(given)  # a notebook's too: make repro unpacks it
        report.print_report(result, submission_arg=shown)
    if start_warm:  # for the next grade: detached, after this one's table
        warm.start(args)
    return 0


def _grade_batch(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.submissions import batch

    if args.scheduler or args.cluster:  # Dask is imported only for a cluster
        from autograder.submissions.cluster import DaskPool

        return batch.main(args, remote=DaskPool)
    return batch.main(args)


def _hint(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.course import hints
    from autograder.feedback.report import console

    catalogue.get(args.exercise)
    submission = Path(args.submission)
    if args.reset:
        hints.reset(submission, args.exercise)
        print(f"hints for {args.exercise} start over")
        return 0
    listed = hints.listed(submission, args.exercise)
    if args.all:
        for i, text in enumerate(listed[: max(1, hints.shown(submission, args.exercise))], 1):
            console().print(f"hint {i}/{len(listed)} for {args.exercise}: {text}")
        return 0
    number, text = hints.next_hint(submission, args.exercise)
    console().print(f"hint {number}/{len(listed)} for {args.exercise}: {text}")
    if number == len(listed):
        console().print(
            f"that was the last hint; make repro EX={args.exercise} N=<check> re-runs a failing check "
            f"(make grade prints its N under the failure)"
        )
    return 0


def _repro(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.feedback import repro
    from autograder.submissions import unpack

    with tempfile.TemporaryDirectory(prefix="repro-submission-") as unpacked:
        try:  # the one way in, as grade: the command printed under a zip's or notebook's failure works
            folder = unpack.materialize(Path(args.submission), Path(unpacked))
        except unpack.SubmissionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        repro.rerun(args.exercise, args.index, submission=folder, suite=args.suite)
    return 0


def _watch(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.feedback import watch

    return watch.main(Path(args.submission), args.interval)


def _warm_grader(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.feedback import warm

    return warm.main([args.action, *([args.settings] if args.settings else [])], run, SUITE_CHOICES)


def _list(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from rich.table import Table

    from autograder.feedback.report import console

    t = Table("exercise", "points", "reference", "forbidden")
    names = t.columns[0]  # what a learner types is never cut nor wrapped; the other columns wrap
    names.no_wrap, names.min_width = True, max(len(e.id) for e in catalogue.EXERCISES)
    t.columns[1].no_wrap = True
    for column in t.columns[2:]:
        column.overflow = "fold"  # a long name is folded onto the next line, never cut to "…"
    for e in catalogue.EXERCISES:
        forbidden = ", ".join(e.forbidden + ((e.forbidden_pattern,) if e.forbidden_pattern else ()) + e.forbidden_names)
        t.add_row(e.id, str(e.points), e.reference, forbidden or "—")
    console().print(t)
    console().print(f"total: {catalogue.total_points()} points")
    return 0


def _stubs(args) -> int:
    # the verb's own imports, here: `--help` and the other verbs start without them
    from autograder.packaging import stubs

    return stubs.main(["--check"] if args.check else [])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a submission directory")
    g.add_argument("--submission", default="exercises", help="directory with the seven modules (default: exercises)")
    g.add_argument(
        "--notebook", metavar="PATH", help="grade the code of a notebook (its answer cells are extracted into modules)"
    )
    g.add_argument("--json", metavar="FILE", help="also write Gradescope-compatible results.json here")
    g.add_argument(
        "--exercise",
        action="append",
        metavar="ID",
        help="grade only this exercise or module (repeatable), e.g. convolution.conv2d or losses",
    )
    g.add_argument(
        "--hidden-visibility",
        default="after_due_date",
        choices=("visible", "hidden", "after_due_date", "after_published"),
        help="Gradescope visibility of the hidden checks' results (default after_due_date)",
    )
    g.add_argument(
        "--full-details",
        action="store_true",
        help="show the hidden checks' names and failures in results.json (instructors)",
    )
    g.add_argument(
        "--suite",
        choices=("all", "public", "hidden"),
        default="all",
        help="which checks to run (default: all that are installed)",
    )
    g.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "process"),
        default="auto",
        help="auto: bubblewrap where available, else a plain process",
    )
    g.add_argument("--jobs", type=int, default=2, help="exercises graded in parallel (default 2)")
    g.add_argument("--check-timeout", type=float, default=10.0, help="seconds a single check may take")
    g.add_argument("--total-timeout", type=float, default=600.0, help="seconds the whole grade may take")
    g.add_argument("--quiet", action="store_true", help="print no table")
    g.set_defaults(func=_grade)
    b = sub.add_parser("grade-batch", help="grade every submission in a folder (a class)")
    b.add_argument("submissions", help="folder of submissions: directories, zips of one, or notebooks")
    b.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    b.add_argument("--csv", metavar="FILE", help="write per-exercise points per learner here")
    b.add_argument("--json-dir", metavar="DIR", help="write one results.json per submission here")
    b.add_argument("--force", action="store_true", help="re-grade submissions whose content is unchanged")
    b.add_argument("--exercise", action="append", metavar="ID", help="grade only these exercises or modules")
    b.add_argument("--suite", choices=tuple(SUITE_CHOICES), default="all")
    b.add_argument("--sandbox", choices=("auto", "bwrap", "process"), default="auto")
    b.add_argument("--check-timeout", type=float, default=10.0)
    b.add_argument("--total-timeout", type=float, default=600.0, help="seconds one submission may take")
    dask = b.add_mutually_exclusive_group()  # instead of --jobs: see docs/cluster.md
    dask.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786, or a scheduler file)",
    )
    dask.add_argument(
        "--cluster",
        metavar="local:N",
        help="grade on a Dask cluster started here: local:N worker processes, or slurm:N Slurm jobs",
    )
    b.set_defaults(func=_grade_batch)
    h = sub.add_parser("hint", help="print the next hint for an exercise")
    h.add_argument("exercise", help="e.g. convolution.conv2d")
    h.add_argument("--submission", default="exercises")
    h.add_argument("--all", action="store_true", help="show every hint seen so far again")
    h.add_argument("--reset", action="store_true", help="start this exercise's hints over")
    h.set_defaults(func=_hint)
    r = sub.add_parser("repro", help="re-run one public check as make grade does (every device), then show your values")
    r.add_argument("exercise")
    r.add_argument("index", type=int, help="the check's number, as printed by grade")
    r.add_argument("--submission", default="exercises")
    r.add_argument(
        "--suite", choices=("public", "hidden"), default="public", help="hidden: the instructor's, with the secret"
    )
    r.set_defaults(func=_repro)
    w = sub.add_parser("watch", help="re-grade a module each time its file is saved (Ctrl-C stops)")
    w.add_argument("--submission", default="exercises")
    w.add_argument("--interval", type=float, default=0.1, help="seconds between looks at the files")
    w.set_defaults(func=_watch)
    wg = sub.add_parser("warm-grader", help="stop make grade's warm graders (each stops when idle 10 min)")
    wg.add_argument("action", choices=("stop", "serve"), help="serve: what make grade starts, detached")
    wg.add_argument("settings", nargs="?", help=argparse.SUPPRESS)
    wg.set_defaults(func=_warm_grader)
    ls = sub.add_parser("list", help="list the exercises, points and forbidden operations")
    ls.set_defaults(func=_list)
    st = sub.add_parser("stubs", help="regenerate exercises/ from solutions/")
    st.add_argument("--check", action="store_true", help="only report stale stubs (exit 1)")
    st.set_defaults(func=_stubs)
    for verb, (_, _, what) in HANDED_ON.items():  # listed here, parsed by their own module
        sub.add_parser(verb, help=what, add_help=False)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in HANDED_ON:
        module, first, _ = HANDED_ON[argv[0]]
        return importlib.import_module(module).main(first + argv[1:])  # imported only when asked for
    args = parser().parse_args(argv)
    previous = _unwind_on_sigterm()
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: every ``with`` and ``finally`` on the way has run
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run(args, warm_grader=None) -> int:
    """A parsed command, its errors said in one line (exit status 2); ``warm_grader``: returns the
    warm grader a ``grade`` runs on (``feedback.warm``)."""
    try:
        _check_names(args)  # before anything heavy loads: a typo is answered at once
        return _grade(args, warm_grader()) if warm_grader else args.func(args)
    except (FileNotFoundError, KeyError, RuntimeError, IndexError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}", file=sys.stderr)
        return 2


def unknown_name(name: str, modules: bool = True) -> str | None:
    """Why ``name`` names no exercise (or module, when ``modules``), with the closest that does; None
    when it names one. Reads the catalogue only: no torch."""
    known = [*catalogue.BY_ID, *(catalogue.MODULES if modules else ())]
    if name in known:
        return None
    what = "exercise or module" if modules else "exercise"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if not close:  # a function's name alone (nll_loss): its exercise
        close = [e.id for e in catalogue.EXERCISES if e.function == name.rsplit(".", 1)[-1]][:1]
    return f"unknown {what} {name!r}" + (f"; did you mean {close[0]}?" if close else "") + " (make list shows them all)"


def _check_names(args) -> None:
    named = getattr(args, "exercise", None)
    if named is None:
        return
    single = isinstance(named, str)  # hint and repro take one exercise; grade takes modules too
    for name in [named] if single else named:
        problem = unknown_name(name, modules=not single)
        if problem:
            raise KeyError(problem)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _unwind_on_sigterm():
    """SIGTERM unwinds like Ctrl-C, so that the grader's cleanups run (its worker killed, the copies
    of learner code it made removed); returns the handler it replaced (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)
