"""The capstone's data: the 1 797 handwritten 8×8 digits vendored in ``data/digits.csv.gz``, and its
fixed train/validation/test split (see ``data/README.md`` for the source and the licence).

Each line of the file is one image: 64 pixel counts (row by row, integers 0 to 16) and its label.
The split needs no random numbers, so it is the same on every machine and every PyTorch version,
and each digit is spread evenly over it: the ``k``-th image of a digit in the file (counting from
0) belongs to the **test** set when ``k % 5 == 0``, to the **validation** set when ``k % 5 == 1``,
and to the **training** set otherwise (1 071 / 362 / 364 images).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch

FILE = Path(__file__).resolve().parent / "data" / "digits.csv.gz"
SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
COUNT = 1797
LEVELS = 16  # the pixel counts run from 0 to 16: dividing by 16 scales them to [0, 1]
SPLITS = ("train", "validation", "test")


def split_of(rank: int) -> str:
    """The split of a digit's ``rank``-th image: ``"test"``, ``"validation"`` or ``"train"``."""
    return {0: "test", 1: "validation"}.get(rank % 5, "train")


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    data = FILE.read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise RuntimeError(f"{FILE} is not the vendored digits file (its sha256 differs); restore it from git")
    table = np.loadtxt(gzip.decompress(data).decode("ascii").splitlines(), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :64].astype(np.uint8).reshape(-1, 8, 8), table[:, 64]
    pixels.flags.writeable = labels.flags.writeable = False  # shared by every caller
    return pixels, labels


def raw_digits(split: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixel counts as ``uint8`` ``(N, 8, 8)`` (0 to 16) and the labels as ``int64`` ``(N,)``;
    every image, or one split's in file order."""
    pixels, labels = _raw()
    chosen = np.arange(COUNT) if split is None else _indices(split)
    return torch.from_numpy(pixels[chosen].copy()), torch.from_numpy(labels[chosen].copy())


def _indices(split: str) -> np.ndarray:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    _, labels = _raw()
    seen: dict[int, int] = {}
    chosen = []
    for i, label in enumerate(labels.tolist()):
        rank = seen[label] = seen.get(label, -1) + 1
        if split_of(rank) == split:
            chosen.append(i)
    return np.array(chosen)


def as_images(pixels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel counts ``(N, 8, 8)`` as network input: ``(N, 1, 8, 8)`` of ``dtype``, scaled to [0, 1]."""
    return pixels.to(dtype).div(LEVELS).unsqueeze(1)


def load_digits(split: str | None = None, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 1, 8, 8)`` scaled to [0, 1] and ``int64`` labels ``(N,)``: every image, or one split.

    >>> images, labels = load_digits("train")
    >>> tuple(images.shape), labels[:5].tolist()
    ((1071, 1, 8, 8), [0, 1, 2, 3, 4])
    """
    pixels, labels = raw_digits(split)
    return as_images(pixels, dtype), labels


def load_splits(dtype: torch.dtype = torch.float32) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": (images, labels), "validation": ..., "test": ...}``."""
    return {split: load_digits(split, dtype) for split in SPLITS}
