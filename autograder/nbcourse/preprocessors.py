"""An nbgrader preprocessor for the feedback learners get back: no hidden test code in it.

nbgrader's own ``ClearHiddenTests`` removes the hidden test lines from a cell's source, but a
failing test cell's traceback quotes the lines around the error, hidden ones included, and the
files it passed through. This one runs first and keeps, of such a cell's error, only its last
line (``AssertionError: ...``, which says what failed in the learner's terms).
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List


class ShortenHiddenTestErrors(NbGraderPreprocessor):
    """Error outputs of cells that hold hidden tests keep only ``ename: evalue``."""

    marker = "BEGIN HIDDEN TESTS"

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and self.marker in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


def accepting_display_priority(cls):
    """``cls`` with ``display_data_priority`` configurable. nbgrader's preprocessor base class redeclares
    that trait without ``config=True``, so the HTML exporter's ``NbConvertBase.display_data_priority``
    makes ``generate_feedback`` warn "Config option `display_data_priority` not recognized" once per
    such preprocessor (ClearHiddenTests, ShortenHiddenTestErrors)."""
    traits = cls.class_traits()
    if "display_data_priority" not in traits or "display_data_priority" in cls.class_traits(config=True):
        return cls
    default = traits["display_data_priority"].default()
    return type(
        cls.__name__,
        (cls,),
        {"display_data_priority": List(default, config=True), "__module__": cls.__module__, "__doc__": cls.__doc__},
    )
