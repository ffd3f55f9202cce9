"""What the pages made from a learner's notebook may show: no hidden test code, and learner HTML made inert.

nbgrader's own ``ClearHiddenTests`` removes the hidden test lines from a cell's source, but a
failing test cell's traceback quotes the lines around the error, hidden ones included, and the
files it passed through. This one runs first and keeps, of such a cell's error, only its last
line (``AssertionError: ...``, which says what failed in the learner's terms).
"""

from __future__ import annotations

import re

import nh3
from jinja2 import pass_context
from markupsafe import Markup
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbconvert.preprocessors import Preprocessor
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


# Learner HTML made inert: every page we produce or serve from a learner's notebook (the feedback, the
# formgrader's submission view) shows its Markdown and outputs through these. An allow-list: the tags
# and attributes of ammonia's defaults (no script, style, iframe, svg, form, no on* attribute, no
# style attribute), links only http(s) and mailto, images only as inline PNG/JPEG/GIF data.
_URL_SCHEMES = {"http", "https", "mailto", "data"}
_IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*\Z")
KEPT_OUTPUTS = ("text/plain", "text/html", "image/png", "image/jpeg")  # every other kind is dropped
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"


def _attribute(tag: str, attribute: str, value: str) -> str | None:
    """An image's source only as inline image data (nothing is fetched, from the server whose session the
    page has or from elsewhere); no other URL as data."""
    if tag == "img" and attribute == "src":
        return value if _IMAGE_DATA.match(value.strip()) else None
    if attribute in ("href", "cite", "longdesc") and value.strip().lower().startswith("data:"):
        return None
    return value


_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")


def inert_html(html: str) -> str:
    """``html`` with nothing that runs or restyles the page: an allow-list of tags and attributes (an
    image keeps an ``alt``, empty when it had none: nbconvert warns about an image without one)."""
    clean = nh3.clean(
        html,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_attribute,
        clean_content_tags={"script", "style"},
        link_rel="noopener noreferrer nofollow",
    )
    return _IMG_WITHOUT_ALT.sub('<img alt=""', clean)


@pass_context
def inert_markdown2html(context, source: str) -> str:
    """nbconvert's ``markdown2html`` filter (math kept for MathJax), its HTML through ``inert_html``;
    a cell's attachments are not shown."""
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    renderer = IPythonRenderer(escape=False, attachments={}, embed_images=False, path=path, anchor_link_text="¶")
    return Markup(inert_html(MarkdownWithMath(renderer=renderer).render(source)))  # noqa: S704 - sanitized


def _inert_output(output) -> None:
    if output.get("output_type") not in ("display_data", "execute_result"):
        return
    data = output.get("data", {})
    kept = {}
    for kind in KEPT_OUTPUTS:
        value = data.get(kind)
        if isinstance(value, list):
            value = "".join(map(str, value))
        if not isinstance(value, str):
            continue
        if kind.startswith("image/") and not _BASE64.match(value):
            continue
        kept[kind] = inert_html(value) if kind == "text/html" else value
    if "text/html" not in kept and isinstance(data.get("text/markdown"), str):
        kept["text/html"] = inert_html(
            MarkdownWithMath(renderer=IPythonRenderer(escape=False)).render(data["text/markdown"])
        )
    if not kept:
        shown = ", ".join(sorted(map(str, data))) or "nothing"
        kept["text/plain"] = f"[an output of kind {shown}: not shown here]"
    output["data"] = kept
    size = output.get("metadata", {})
    output["metadata"] = {
        kind: {k: v for k, v in size[kind].items() if k in ("width", "height") and type(v) is int}
        for kind in ("image/png", "image/jpeg")
        if isinstance(size.get(kind), dict)
    }


class InertLearnerHTML(Preprocessor):
    """Makes a learner's notebook safe to show as HTML: outputs keep only plain text, PNG/JPEG images
    and sanitized HTML (Markdown outputs become sanitized HTML; SVG, JavaScript, widgets, LaTeX and
    other kinds are dropped), raw cells are sanitized, attachments and non-nbgrader metadata dropped.
    Markdown cells are sanitized as they render (``inert_markdown2html``, the ``markdown2html`` filter)."""

    def preprocess(self, nb, resources):
        nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}  # the course's only kernel
        for cell in nb.cells:
            cell.pop("attachments", None)
            cell.metadata = {k: v for k, v in cell.metadata.items() if k == "nbgrader"}
            if cell.cell_type == "raw":
                cell.source = inert_html(cell.source)
            for output in cell.get("outputs", []):
                _inert_output(output)
        return nb, resources


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class InertHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter for pages made from learners' notebooks (the feedback): the learner's
    HTML inert (``InertLearnerHTML``, ``inert_markdown2html``) and, in depth, a Content-Security-Policy
    that lets no script run and loads nothing from elsewhere."""

    def default_filters(self):
        yield from super().default_filters()
        yield ("markdown2html", inert_markdown2html)

    def _init_preprocessors(self):
        super()._init_preprocessors()
        self.register_preprocessor(InertLearnerHTML, enabled=True)

    def from_notebook_node(self, nb, resources=None, **kw):
        html, resources = super().from_notebook_node(nb, resources, **kw)
        meta = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        head = html.lower().find("<head>")
        html = html[: head + 6] + meta + html[head + 6 :] if head >= 0 else meta + html
        return html, resources
