"""What a class run keeps between runs: each results.json stamped with what decided it (the
submission's content hash, the grader's fingerprint, the exercises and suite), read back to skip
unchanged submissions, and written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from autograder.submissions.discover import IGNORED, Submission

RESULTS_NAME = "results.json"


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a directory's relative paths and bytes (symlinks by their target)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(b"file\0")
        _hash_file(h, path)
        return h.hexdigest()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED)
        for name in sorted(files):
            full = Path(root, name)
            rel = full.relative_to(path).as_posix().encode()
            if full.is_symlink():
                h.update(b"link\0" + rel + b"\0" + os.readlink(full).encode() + b"\0")
            elif full.is_file():
                h.update(b"file\0" + rel + b"\0")
                _hash_file(h, full)
    return h.hexdigest()


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(b"\0")


def grader_fingerprint() -> str:
    """What else decides a grade: the grader's own code (checks included) and torch's version."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]  # the whole autograder package
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            h.update(path.relative_to(package).as_posix().encode() + b"\0")
            _hash_file(h, path)
    # the checks package loads torch: imported here, so that importing the batch code (a Dask event loop) does not
    from autograder.checks import secret as course

    key = course.course_secret()  # the hidden checks' inputs: another secret, other grades
    h.update(hashlib.sha256(key).digest() if key else b"no secret\0")
    for dist in ("torch", "numpy"):
        try:
            h.update(f"{dist}=={metadata.version(dist)}\0".encode())
        except metadata.PackageNotFoundError:
            pass
    return h.hexdigest()[:16]


def stamp(data: dict, sub: Submission, key: dict, graded_by: dict | None = None) -> dict:
    data = dict(data)
    data["extra_data"] = {
        "submission": sub.name,
        "source": sub.label,
        "kind": sub.kind,
        "content_hash": sub.digest,
        **key,
    }
    if graded_by:  # which machine, worker, sandbox and devices graded it (see ``batch.graded_by``)
        data["extra_data"]["graded_by"] = graded_by
    return data


def failure_json(sub: Submission, message: str, key: dict, graded_by: dict | None = None) -> dict:
    return stamp(
        {"score": 0.0, "execution_time": 0.0, "output": f"could not be graded: {message}", "tests": []},
        sub,
        {**key, "error": message},
        graded_by,
    )


def write_atomically(data: dict, path: Path) -> None:
    """Replaces whatever is at ``path`` (a file, a link) with ``data``, via a fresh private file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stored_result(sub: Submission, json_dir: Path | None) -> dict | None:
    """The results.json an earlier run stored for ``sub`` (whatever graded it), or None."""
    if json_dir is None:
        return None
    try:
        data = json.loads((json_dir / sub.name / RESULTS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(data, dict) and isinstance(data.get("extra_data"), dict) and isinstance(data.get("tests"), list)
    return data if ok else None


def cached_result(sub: Submission, json_dir: Path | None, key: dict) -> dict | None:
    data = stored_result(sub, json_dir)
    if data is None:
        return None
    extra = data["extra_data"]
    same = extra.get("content_hash") == sub.digest and all(extra.get(k) == v for k, v in key.items())
    return data if same and "error" not in extra and isinstance(data.get("tests"), list) else None
