"""Neutralises control characters in text that came from learner code (messages, printed output),
so that nothing it prints can move the cursor, recolour or forge a row of a report."""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators and bidi overrides.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match) -> str:
    return f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}"


def one_line(text: str) -> str:
    """For a message shown on one line: newlines and tabs become visible, controls escaped."""
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return _CONTROL.sub(_visible, text)


def block(text: str) -> str:
    """For printed output shown as a block: newlines and tabs kept, every other control escaped."""
    return _CONTROL.sub(_visible, text.replace("\r\n", "\n"))
