"""An nbgrader preprocessor for the feedback learners get back: no hidden test code in it.

nbgrader's own ``ClearHiddenTests`` removes the hidden test lines from a cell's source, but a
failing test cell's traceback quotes the lines around the error, hidden ones included, and the
files it passed through. This one runs first and keeps, of such a cell's error, only its last
line (``AssertionError: ...``, which says what failed in the learner's terms).
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


class ShortenHiddenTestErrors(NbGraderPreprocessor):
    """Error outputs of cells that hold hidden tests keep only ``ename: evalue``."""

    marker = "BEGIN HIDDEN TESTS"

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and self.marker in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
