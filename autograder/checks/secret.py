"""The course secret: hidden checks draw their inputs from it, so no one can know them in advance.

The instructor keeps it in ``AUTOGRADER_SECRET`` or in ``checks/hidden/course.secret`` (made by
``make secret``; ignored by git, left out of the learners' bundle with the rest of ``hidden/``,
shipped in ``make gradescope``'s zip). Public checks never use it: learners reproduce them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

ENV = "AUTOGRADER_SECRET"
FILE = Path(__file__).resolve().parent / "hidden" / "course.secret"
WITHOUT = (
    "note: no course secret (AUTOGRADER_SECRET, or `make secret`): the hidden checks' inputs are the "
    "repository's fixed ones, the same for every course and every year; anyone who has seen them can "
    "publish answers that pass them"
)
_told = False


def course_secret() -> bytes | None:
    """The secret, from the environment or the instructor's file; None when there is none."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        try:
            value = FILE.read_text(encoding="utf-8").strip()
        except OSError:
            return None
    return value.encode() or None


def keyed_seed(identity: str, secret: bytes) -> int:
    """A seed from the check's identity and the secret: unknown without the secret, stable with it."""
    digest = hashlib.blake2b(identity.encode(), key=hashlib.sha256(secret).digest(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def tell_once_if_missing(out=None) -> None:
    """Says once per process, plainly, what grading hidden checks without a secret means."""
    global _told
    if not _told and course_secret() is None:
        _told = True
        print(WITHOUT, file=out or sys.stderr)


def create(path: Path = FILE) -> Path:
    """Writes a new random secret (readable by its owner only); never replaces one."""
    if path.exists():
        raise FileExistsError(f"{path} exists: a new secret would change every hidden input (delete it first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def main(argv=None) -> int:
    """``python -m autograder secret``: creates the secret file, or says why not."""
    try:
        print(f"wrote {create()}: keep it; `make gradescope` ships it to Gradescope, never to learners")
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
