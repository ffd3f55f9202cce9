"""Folders that are this user's alone (owned by us, mode 0700): the reference cache's and the warm grader's."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def own_folder(where: Path, create: bool) -> Path | None:
    """``where`` when it is a folder owned by this user that no one else may enter (made so when
    ``create``); else None, and the caller uses nothing there: a folder another user made or can
    write to could feed us their files."""
    try:
        if create:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(where)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        return None
    return where
