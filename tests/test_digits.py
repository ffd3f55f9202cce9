"""The vendored digits (autograder/course/data/): the file is the one its README names, and the
loader gives the shapes, values and fixed split the capstone relies on, in every way it is shipped."""

from __future__ import annotations

import doctest
import hashlib
import zipfile

import pytest
import torch

from autograder.course import digits


@pytest.mark.pure
def test_the_file_is_the_vendored_one():
    data = digits.FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == digits.SHA256
    assert digits.SHA256 in (digits.FILE.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.pure
def test_every_image_is_8_by_8_with_pixel_counts_and_a_digit():
    pixels, labels = digits.raw_digits()
    assert pixels.shape == (digits.COUNT, 8, 8) and pixels.dtype == torch.uint8
    assert labels.shape == (digits.COUNT,) and labels.dtype == torch.int64
    assert int(pixels.max()) == digits.LEVELS and int(pixels.min()) == 0
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.mark.pure
def test_images_are_scaled_to_the_unit_interval_with_one_channel():
    images, labels = digits.load_digits(dtype=torch.float64)
    assert images.shape == (digits.COUNT, 1, 8, 8) and images.dtype == torch.float64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    pixels, _ = digits.raw_digits()
    assert torch.equal(images[:, 0] * digits.LEVELS, pixels.double())


@pytest.mark.pure
def test_the_split_is_fixed_disjoint_complete_and_balanced():
    parts = digits.load_splits()
    sizes = {name: len(labels) for name, (_, labels) in parts.items()}
    assert sizes == {"train": 1071, "validation": 362, "test": 364}
    _, every = digits.raw_digits()
    chosen = torch.cat([torch.from_numpy(digits._indices(s)) for s in digits.SPLITS])
    assert sorted(chosen.tolist()) == list(range(digits.COUNT))
    per_digit = torch.bincount(every).tolist()
    want = {  # every fifth image of each digit: its 0th, 5th, … to test, its 1st, 6th, … to validation
        "test": [-(-n // 5) for n in per_digit],
        "validation": [-(-(n - 1) // 5) for n in per_digit],
    }
    want["train"] = [n - t - v for n, t, v in zip(per_digit, want["test"], want["validation"])]
    for name, (_, labels) in parts.items():
        assert torch.bincount(labels, minlength=10).tolist() == want[name], name
    first_zero = int((every == 0).nonzero()[0])  # the first image of each digit is a test image
    assert first_zero in digits._indices("test").tolist()


@pytest.mark.pure
def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="validation"):
        digits.load_digits("valid")


@pytest.mark.pure
def test_the_loaders_example_runs():
    assert doctest.testmod(digits).failed == 0


def test_the_wheel_ships_the_data(tmp_path):
    """setuptools' package data: a wheel built from the repository holds the file and its README
    (the learner's bundle and Gradescope's zip copy the package folder: tests/test_notebooks.py and
    tests/test_gradescope.py grade with them). Built from a copy, so that nothing is written here."""
    import shutil
    import subprocess
    import sys

    root, source = digits.FILE.parents[3], tmp_path / "source"
    source.mkdir()
    shutil.copy(root / "pyproject.toml", source)
    shutil.copytree(root / "autograder", source / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/course/data/digits.csv.gz" in names and "autograder/course/data/README.md" in names
