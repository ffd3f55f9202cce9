"""An on-disk cache of each exercise's plans and PyTorch's reference results, for the learner's loop.

An entry is keyed by everything its values depend on: the exercise and suites, the devices, the
versions of torch, NumPy and Python, every file of this package (the checks, the plans, the
catalogue) and a digest of the course secret, so a change of any of them never reuses one. Entries
live in the user's own cache folder (``~/.cache/autograder/references``, a 0700 folder; or
``AUTOGRADER_CACHE_DIR``), are written whole or not at all (a temporary file renamed) and read
defensively: a digest over the bytes, ``wire.unpack`` (no pickle) and ``encoding.is_valid``; anything
else is recomputed. A value is stored only when it reads back identical. Only the ``grade`` and
``watch`` verbs use it (``AUTOGRADER_REFERENCE_CACHE=0`` turns it off); never grade-batch or Gradescope.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy
import torch

from autograder.checks import secret as course
from autograder.protocol import encoding, wire
from autograder.scoring import private

FORMAT = b"autograder-references-1\n"
OFF_VARIABLE = "AUTOGRADER_REFERENCE_CACHE"  # "0": no cache
DIR_VARIABLE = "AUTOGRADER_CACHE_DIR"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
MAX_ENTRIES = 256  # the oldest beyond this are removed when one is written

_source: list[bytes] = []


def enabled() -> bool:
    return os.environ.get(OFF_VARIABLE, "1") != "0"


def folder() -> Path:
    chosen = os.environ.get(DIR_VARIABLE)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autograder" / "references"


def source_digest() -> bytes:
    """A digest of every file of this package (checks, plans, catalogue, data), once per process."""
    if not _source:
        h = hashlib.sha256()
        for path in sorted(PACKAGE_DIR.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
        _source.append(h.digest())
    return _source[0]


def key(exercise_id: str, suites: tuple[str, ...], devices: tuple[str, ...]) -> str:
    """The entry's name: a digest of everything the exercise's plans and references depend on."""
    secret = course.course_secret()
    h = hashlib.sha256(FORMAT)
    parts = [exercise_id, list(suites), list(devices), torch.__version__, numpy.__version__, sys.version]
    h.update(json.dumps([*parts, platform.machine()]).encode())
    h.update(source_digest())
    h.update(b"secret:" + (hashlib.sha256(secret).digest() if secret else b"none"))
    return h.hexdigest()


def _own_folder(create: bool) -> Path | None:
    """The cache folder, when it is ours alone (owned by us, 0700): else None, and nothing is used."""
    return private.own_folder(folder(), create)


def load(name: str) -> tuple[list, dict] | None:
    """The plans and references stored under ``name``, or None (absent, foreign, corrupt)."""
    where = _own_folder(create=False)
    if where is None:
        return None
    try:
        with open(where / name, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None
            data = f.read(wire.MAX_BYTES + 64)
        return _decode(data)
    except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError):
        return None


def _decode(data: bytes) -> tuple[list, dict] | None:
    if not data.startswith(FORMAT) or len(data) < len(FORMAT) + 32:
        return None
    digest, body = data[len(FORMAT) : len(FORMAT) + 32], data[len(FORMAT) + 32 :]
    if hashlib.sha256(body).digest() != digest:
        return None
    tree = wire.unpack(body)
    plans, rows = tree["plans"], tree["refs"]
    for row in plans:
        index, devices, blob, suite = row
        if type(index) is not int or not all(type(d) is str for d in devices) or type(blob) is not str:
            return None
        if type(suite) is not str:
            return None
    refs = {}
    for index, device, value in rows:
        if type(index) is not int or type(device) is not str or not isinstance(value, dict):
            return None
        if not all(type(k) is str for k in value) or not all(encoding.is_valid(v) for v in value.values()):
            return None
        refs[(index, device)] = value
    return plans, refs


def _encode(plans: list, refs: dict) -> bytes:
    body = wire.pack({"plans": plans, "refs": [[i, device, value] for (i, device), value in refs.items()]})
    return FORMAT + hashlib.sha256(body).digest() + body


def store(name: str, plans: list, refs: dict) -> bool:
    """Writes the entry whole (or not at all); only when it reads back identical. Never raises."""
    try:
        data = _encode(plans, refs)
        back = _decode(data)
        if back is None or not same(back[0], plans) or not same(back[1], refs):
            return False  # something wire does not carry exactly (a tuple, a dtype): computed each time
        where = _own_folder(create=True)
        if where is None:
            return False
        fd, temporary = tempfile.mkstemp(dir=where, prefix=".entry-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, where / name)
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(where)
        return True
    except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError):
        return False


def _prune(where: Path) -> None:
    entries = sorted((p for p in where.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)


def same(a, b) -> bool:
    """Identical trees: same types (a tuple is not a list), same keys, tensors of the same dtype,
    shape and bytes (NaN included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, torch.Tensor):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and a.device == b.device
            and a.requires_grad == b.requires_grad
            and a.detach().cpu().contiguous().numpy().tobytes() == b.detach().cpu().contiguous().numpy().tobytes()
        )
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b
