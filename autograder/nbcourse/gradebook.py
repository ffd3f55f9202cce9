"""The instructor's gradebook (``make export``): an nbgrader export plugin over ``gradebook.db``, and
the autograde step that leaves a hand grade alone when the answer it judged has not changed.

``nbgrader export --exporter=autograder.nbcourse.gradebook.CourseExport --to grades.csv`` writes two files,
both read through nbgrader's own API (``nbgrader.api.Gradebook``), never from notebooks on disk:

* ``grades.csv``, one row per learner: the course total and its maximum, each assignment's score
  (late penalty applied) and maximum, one column per exercise (``04_losses/losses.nll_loss``) and
  per written answer (``06_pooling/explain-maxpool (written)``), ``to_grade`` listing the answers
  nbgrader still marks "needs manual grade" (a written answer waiting for its grade is left empty,
  not 0) and ``not_submitted``;
* ``grades-canvas.csv`` (``CourseExport.canvas``), Canvas's gradebook import layout: ``Student``,
  ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment, headed
  ``name (Canvas id)`` when ``CourseExport.canvas_ids`` maps it to a Canvas assignment and by its
  bare name otherwise (Canvas then creates a new assignment), after a ``Points Possible`` row as
  Canvas's own export has. nbgrader's student id goes in ``SIS Login ID`` (``canvas_id_column``).
  An assignment not submitted, or with answers still to grade, is left empty there: nothing
  partial reaches the LMS.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy import Column as SqlColumn
from sqlalchemy import MetaData, String, Table, delete, insert, select
from traitlets import Dict, Enum, Unicode

from autograder.course import catalogue
from autograder.nbcourse.nbsource import exercise_of

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{float(x):.4f}".rstrip("0").rstrip(".")


@dataclass
class GradeColumn:
    """One grade cell of one assignment's notebook, as a gradebook column."""

    header: str
    assignment: str
    notebook: str
    cell: str
    written: bool  # graded by hand (a written answer, or any nbgrader "manually graded answer")
    max_score: float


def _order(name: str) -> tuple:
    """Autograded exercises in the catalogue's teaching order, then the rest by name."""
    exercise = _exercise(name)
    ids = [e.id for e in catalogue.EXERCISES]
    return (0, ids.index(exercise), name) if exercise in ids else (1, 0, name)


def _exercise(cell_name: str) -> str | None:
    return exercise_of(cell_name) if cell_name.startswith("test-") else None


def grade_columns(assignment) -> list[GradeColumn]:
    """The columns of an ``nbgrader.api.Assignment``: one per grade cell of each of its notebooks."""
    columns = []
    several = len(assignment.notebooks) > 1
    for notebook in sorted(assignment.notebooks, key=lambda n: n.name):
        answers = {c.name for c in notebook.solution_cells}
        for cell in sorted(notebook.grade_cells, key=lambda c: _order(c.name)):
            written = cell.name in answers
            label = _exercise(cell.name) or cell.name
            header = "/".join([assignment.name] + ([notebook.name] if several else []) + [label])
            columns.append(
                GradeColumn(
                    header + (" (written)" if written else ""),
                    assignment.name,
                    notebook.name,
                    cell.name,
                    written,
                    float(cell.max_score),
                )
            )
        for task in notebook.task_cells:  # tasks are always graded by hand
            header = "/".join([assignment.name] + ([notebook.name] if several else []) + [task.name])
            columns.append(
                GradeColumn(
                    header + " (written)", assignment.name, notebook.name, task.name, True, float(task.max_score)
                )
            )
    return columns


@dataclass
class LearnerRow:
    student_id: str
    last_name: str
    first_name: str
    email: str
    total: float
    max_total: float
    assignments: dict  # name -> score (None: not submitted)
    cells: dict  # column header -> score (None: not submitted, or a written answer still to grade)
    to_grade: list  # "assignment/notebook/cell" nbgrader marks "needs manual grade"
    not_submitted: list

    def pending(self, assignment: str) -> bool:
        return any(item.startswith(assignment + "/") for item in self.to_grade)


def learner_rows(gradebook: Gradebook, assignments: list, students: list) -> list[LearnerRow]:
    """One row per learner from nbgrader's gradebook (scores are nbgrader's: a hand grade wins)."""
    columns = {a.name: grade_columns(a) for a in assignments}
    rows = []
    for student in students:
        row = LearnerRow(
            student.id, student.last_name or "", student.first_name or "", student.email or "", 0.0, 0.0, {}, {}, [], []
        )
        for assignment in assignments:
            row.max_total += float(assignment.max_score)
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.assignments[assignment.name] = None
                row.not_submitted.append(assignment.name)
                continue
            score = max(0.0, float(submission.score) - float(submission.late_submission_penalty or 0.0))
            row.assignments[assignment.name] = score
            row.total += score
            by_cell = {(c.notebook, c.cell): c for c in columns[assignment.name]}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    column = by_cell.get((notebook.name, grade.name))
                    if column is None:
                        continue
                    if grade.needs_manual_grade:
                        row.to_grade.append(f"{assignment.name}/{notebook.name}/{grade.name}")
                    waiting = grade.needs_manual_grade and column.written
                    row.cells[column.header] = None if waiting else float(grade.score)
        rows.append(row)
    return rows


def write_gradebook(rows: list[LearnerRow], assignments: list, path: Path) -> None:
    columns = [c for a in assignments for c in grade_columns(a)]
    header = ["student_id", "last_name", "first_name", "email", "total", "max_total", "to_grade", "not_submitted"]
    for assignment in assignments:
        header += [assignment.name, f"{assignment.name} max"]
        header += [c.header for c in columns if c.assignment == assignment.name]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        for row in rows:
            line = [
                row.student_id,
                row.last_name,
                row.first_name,
                row.email,
                _fmt(row.total),
                _fmt(row.max_total),
                "; ".join(row.to_grade),
                "; ".join(row.not_submitted),
            ]
            for assignment in assignments:
                line += [_fmt(row.assignments.get(assignment.name)), _fmt(assignment.max_score)]
                line += [_fmt(row.cells.get(c.header)) for c in columns if c.assignment == assignment.name]
            out.writerow(line)


def canvas_header(name: str, canvas_ids: dict) -> str:
    return f"{name} ({canvas_ids[name]})" if name in canvas_ids else name


def write_canvas(
    rows: list[LearnerRow], assignments: list, path: Path, canvas_ids: dict, id_column: str, section: str = ""
) -> None:
    """Canvas's gradebook import: the five fixed columns, then one per assignment."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(CANVAS_FIXED + [canvas_header(a.name, canvas_ids) for a in assignments])
        out.writerow(["    Points Possible", "", "", "", ""] + [_fmt(a.max_score) for a in assignments])
        for row in rows:
            fixed = dict.fromkeys(CANVAS_FIXED, "")
            names = ", ".join(n for n in (row.last_name, row.first_name) if n)
            fixed.update({"Student": names or row.student_id, id_column: row.student_id, "Section": section})
            scores = [
                "" if row.assignments.get(a.name) is None or row.pending(a.name) else _fmt(row.assignments[a.name])
                for a in assignments
            ]
            out.writerow([fixed[k] for k in CANVAS_FIXED] + scores)


class CourseExport(ExportPlugin):
    """nbgrader export plugin: the per-learner gradebook and Canvas's import CSV (see the module)."""

    canvas = Unicode(
        "", help="where to write the Canvas import CSV (default: beside --to, grades.csv -> grades-canvas.csv)"
    ).tag(config=True)
    canvas_ids = Dict(
        {}, help="nbgrader assignment -> Canvas assignment id, for the 'name (id)' headers Canvas matches on"
    ).tag(config=True)
    canvas_id_column = Enum(
        ["ID", "SIS User ID", "SIS Login ID"],
        default_value="SIS Login ID",
        help="the Canvas column that carries nbgrader's student id",
    ).tag(config=True)
    canvas_section = Unicode("", help="the Section column of the Canvas CSV").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        canvas = Path(self.canvas) if self.canvas else dest.with_name(f"{dest.stem}-canvas{dest.suffix or '.csv'}")
        wanted_a, wanted_s = [str(a) for a in self.assignment], [str(s) for s in self.student]
        assignments = [
            a for a in sorted(gradebook.assignments, key=lambda a: a.name) if not wanted_a or a.name in wanted_a
        ]
        students = [s for s in sorted(gradebook.students, key=lambda s: s.id) if not wanted_s or s.id in wanted_s]
        rows = learner_rows(gradebook, assignments, students)
        for path in (dest, canvas):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_gradebook(rows, assignments, dest)
        write_canvas(
            rows,
            assignments,
            canvas,
            {str(k): v for k, v in self.canvas_ids.items()},
            self.canvas_id_column,
            self.canvas_section,
        )
        self.log.info(
            "Gradebook: %s (%d learners, %d assignments); Canvas import: %s", dest, len(rows), len(assignments), canvas
        )
        waiting = [f"{row.student_id}: {item}" for row in rows for item in row.to_grade]
        if waiting:
            self.log.warning(
                "%d answer(s) still to grade by hand (empty in the gradebook, their assignment "
                "left out of the Canvas file):\n  %s",
                len(waiting),
                "\n  ".join(waiting),
            )


# ----------------------------------------------------------------------------- hand grades kept
# What each hand-graded answer looked like when autograde last saw it: nbgrader's own checksum of the
# cell, keyed by nbgrader's id of the grade. A table of its own inside gradebook.db (nbgrader's
# models and migrations never touch it), so it lives and travels with the grades it protects.
_METADATA = MetaData()
ANSWER_CHECKSUMS = Table(
    "autograder_answer_checksums",
    _METADATA,
    SqlColumn("grade_id", String(32), primary_key=True),
    SqlColumn("checksum", String(32), nullable=False),
)


class KeepHandGrades(SaveAutoGrades):
    """``SaveAutoGrades``, except that a hand-graded written answer stays graded when autograde runs again.

    nbgrader marks every grade that has a manual score "needs manual grade" again on each autograde
    (``SaveAutoGrades._add_score``: the answer might have changed since it was graded), so re-running
    autograde sends every hand-graded submission back to the formgrader's queue. Here the flag is
    cleared again when the answer cell is the one the grader saw: its checksum
    (``nbgrader.utils.compute_checksum``) equals the one recorded at the previous autograde. A changed
    answer (a new submission) keeps nbgrader's flag. The manual score itself is never touched
    (nbgrader never overwrites it either). Hand overrides of autograded test cells keep nbgrader's
    behaviour: their auto score may have changed, so they are flagged for review.
    """

    def _add_score(self, cell, resources) -> None:
        grade = self.gradebook.find_grade(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id, self.student_id
        )
        graded_by_hand = grade.manual_score is not None and not grade.needs_manual_grade
        super()._add_score(cell, resources)
        if not (utils.is_solution(cell) and utils.is_grade(cell)):
            return
        connection = self.gradebook.db.connection()
        ANSWER_CHECKSUMS.create(bind=connection, checkfirst=True)
        checksum = utils.compute_checksum(cell)
        seen = connection.execute(
            select(ANSWER_CHECKSUMS.c.checksum).where(ANSWER_CHECKSUMS.c.grade_id == grade.id)
        ).scalar()
        if graded_by_hand and seen == checksum:
            grade.needs_manual_grade = False
        connection.execute(delete(ANSWER_CHECKSUMS).where(ANSWER_CHECKSUMS.c.grade_id == grade.id))
        connection.execute(insert(ANSWER_CHECKSUMS).values(grade_id=grade.id, checksum=checksum))
        self.gradebook.db.commit()
