"""The reference cache: its values read back identical to computed ones; a different torch, check
source, exercise, device set or course secret never reuses an entry; a corrupt, foreign or shared
entry is recomputed, never trusted."""

from __future__ import annotations

import os

import pytest
import torch

from autograder import checks as registry
from autograder.scoring import refcache
from autograder.scoring.grader import plan_table
from autograder.scoring.judge import units_expected

pytestmark = pytest.mark.pure

DEVICES = ("cpu", "meta")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(refcache.DIR_VARIABLE, str(tmp_path / "cache"))
    monkeypatch.setenv("AUTOGRADER_SECRET", "course-one")
    return tmp_path / "cache"


def computed(exercise_id: str) -> tuple[list, dict]:
    found = registry.for_exercise(exercise_id, ("public", "hidden"))
    refs: dict = {}
    for i, check, device in units_expected(found, DEVICES):
        refs[(i, device)] = check.expected(device, refs.get((i, "cpu")))
    return plan_table(found), refs


@pytest.mark.parametrize("exercise", ["outliers.iqr", "losses.nll_loss", "convolution.conv2d"])
def test_a_stored_entry_reads_back_identical_to_the_computed_values(exercise):
    plans, refs = computed(exercise)
    name = refcache.key(exercise, ("public", "hidden"), DEVICES)
    assert refcache.store(name, plans, refs)
    back_plans, back_refs = refcache.load(name)
    assert refcache.same(back_plans, plans) and refcache.same(back_refs, refs)
    assert back_refs.keys() == refs.keys()


def test_the_cache_folder_is_private_to_its_owner(own_cache):
    assert refcache.store("entry", *computed("outliers.iqr"))
    assert own_cache.stat().st_mode & 0o777 == 0o700
    assert (own_cache / "entry").stat().st_mode & 0o077 == 0


def test_a_folder_others_can_write_is_not_used(own_cache):
    own_cache.mkdir(mode=0o777)
    os.chmod(own_cache, 0o777)
    assert not refcache.store("entry", *computed("outliers.iqr"))
    assert refcache.load("entry") is None


def test_a_different_torch_check_source_exercise_device_or_secret_misses(monkeypatch):
    base = refcache.key("outliers.iqr", ("public",), DEVICES)
    assert refcache.key("outliers.iqr", ("public",), DEVICES) == base  # stable
    assert refcache.key("outliers.outlier_mask", ("public",), DEVICES) != base
    assert refcache.key("outliers.iqr", ("public", "hidden"), DEVICES) != base
    assert refcache.key("outliers.iqr", ("public",), ("cpu", "cuda", "meta")) != base
    monkeypatch.setenv("AUTOGRADER_SECRET", "course-two")
    assert refcache.key("outliers.iqr", ("public",), DEVICES) != base
    monkeypatch.setenv("AUTOGRADER_SECRET", "course-one")
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert refcache.key("outliers.iqr", ("public",), DEVICES) != base
    monkeypatch.undo()
    monkeypatch.setenv("AUTOGRADER_SECRET", "course-one")
    monkeypatch.setattr(refcache, "_source", [b"an edited check"])
    assert refcache.key("outliers.iqr", ("public",), DEVICES) != base


def test_the_source_digest_covers_the_checks():
    refcache._source.clear()
    digest = refcache.source_digest()
    assert len(digest) == 32 and refcache.source_digest() == digest
    assert refcache.PACKAGE_DIR.joinpath("checks", "public", "outliers.py").is_file()  # among what it reads


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-7],  # truncated
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"not an entry" + data,  # foreign
        lambda data: b"",
    ],
)
def test_a_corrupt_entry_is_not_trusted(own_cache, damage):
    assert refcache.store("entry", *computed("outliers.iqr"))
    path = own_cache / "entry"
    path.write_bytes(damage(path.read_bytes()))
    assert refcache.load("entry") is None


def test_a_well_formed_entry_with_a_wrong_digest_is_refused(own_cache):
    plans, refs = computed("outliers.iqr")
    data = refcache._encode(plans, refs)
    body = data[len(refcache.FORMAT) + 32 :]
    (own_cache).mkdir(mode=0o700)
    (own_cache / "entry").write_bytes(refcache.FORMAT + bytes(32) + body)
    assert refcache.load("entry") is None


def test_a_value_wire_does_not_carry_exactly_is_not_stored():
    plans, refs = computed("outliers.iqr")
    first = next(iter(refs))
    refs[first] = {**refs[first], "extra": {"t": "py", "type": "tuple", "value": (1, 2)}}
    assert not refcache.store("entry", plans, refs)


def test_turned_off_by_the_environment(monkeypatch):
    assert refcache.enabled()
    monkeypatch.setenv(refcache.OFF_VARIABLE, "0")
    assert not refcache.enabled()
