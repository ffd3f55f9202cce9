"""Source decoded as Python decodes it (PEP 263): the scan reads the very bytes the import will, a
coding cookie included (``utf-7`` can hide a line in a comment); a file Python refuses to import
scores 0 with a line saying why; a declared latin-1 file is graded like its UTF-8 twin."""

from __future__ import annotations

import pytest

from autograder.course import catalogue
from autograder.scoring import static
from conftest import SOLUTIONS, by_id

LOSSES = (SOLUTIONS / "losses.py").read_text(encoding="utf-8")


def utf7_hiding(line: str) -> bytes:
    """The reference losses.py, saved as UTF-7, with ``line`` hidden in a comment: the ``+AAo-``
    after ``#`` is a newline to Python's UTF-7 decoder, and nothing at all to a UTF-8 reader."""
    return b"# coding: utf-7\n" + LOSSES.encode("utf-7") + b"\n# +AAo-" + line.encode() + b"\n"


def as_read(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # as ``read_submission`` passes it on


@pytest.mark.pure
@pytest.mark.parametrize("hidden", ["import ctypes", "import gc", "from importlib import reload"])
def test_a_line_hidden_by_a_utf7_cookie_is_seen_by_the_scan(hidden):
    message = static.scan_source(as_read(utf7_hiding(hidden)), catalogue.get("losses.nll_loss"))
    assert message and "at module level" in message, message


@pytest.mark.pure
def test_the_scan_reads_a_declared_latin1_file_as_latin1():
    data = b"# -*- coding: latin-1 -*-\n" + LOSSES.replace("import torch", "import torch  # \xe9", 1).encode("latin-1")
    assert static.undecodable(data) is None
    assert static.scan_source(as_read(data), catalogue.get("losses.nll_loss")) is None


@pytest.mark.pure
@pytest.mark.parametrize(
    "data, says",
    [
        ("x = 'caf\xe9'\n".encode("latin-1"), "on line 1 ('utf-8' codec can't decode byte 0xe9"),
        (b"x = 1\n\ny = 'caf\xe9'\n", "on line 3"),
        (b"# coding: klingon\nx = 1\n", "unknown encoding: klingon"),
        (b"# coding: ascii\nx = 'caf\xc3\xa9'\n", "'ascii' codec can't decode byte 0xc3"),
        (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "encoding problem"),
    ],
)
def test_what_python_refuses_to_decode_is_said_plainly(data, says):
    with pytest.raises(SyntaxError):
        compile(data, "m.py", "exec")  # Python's own verdict on these bytes, as the import compiles them
    message = static.undecodable(data)
    assert message and says in message and message.endswith("save the file as UTF-8"), message


@pytest.mark.pure
@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfx = 1\n",
        "x = 'caf\xe9'\n".encode(),
        b"# coding: utf-7\nx = 1\n",
        b"x = 1\n\n# caf\xe9\n",  # Python does not decode a comment past line 2: it imports this
        b"def f(:\n",  # an ordinary syntax error: the worker reports it with its line
        b"x = '\\N{nope}'\n",
    ],
)
def test_what_python_decodes_is_not_refused(data):
    assert static.undecodable(data) is None


def test_a_file_python_refuses_scores_zero_and_a_declared_one_full_marks(tmp_path):
    from autograder.scoring.grader import grade  # loads torch: only for the test that grades

    refused, declared = tmp_path / "refused", tmp_path / "declared"
    for folder in (refused, declared):
        folder.mkdir()
    (refused / "losses.py").write_bytes(LOSSES.replace('"""Log', '"""Caf\xe9. Log', 1).encode("latin-1"))
    (declared / "losses.py").write_bytes(
        b"# coding: latin-1\n" + LOSSES.replace("Log", "Caf\xe9 Log", 1).encode("latin-1")
    )
    bad, good = by_id(grade(refused, ["losses"])), by_id(grade(declared, ["losses"]))
    for e in catalogue.select(["losses"]):
        assert bad[e.id].score == 0 and "cannot be imported: Python cannot decode it" in bad[e.id].message, bad[
            e.id
        ].message
        assert good[e.id].score == e.points, good[e.id].message
