"""The sandbox-to-scorer byte format: round trips exactly and refuses anything malformed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.protocol import wire
from autograder.protocol.encoding import encode, is_valid

pytestmark = pytest.mark.pure  # no sandbox, no subprocess: `make test-fast` runs these

DTYPES = [torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8]


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 4), max_size=4), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 99))
def test_tensors_round_trip_bit_for_bit(shape, dtype, seed):
    t = (torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 10).to(dtype)
    back = wire.unpack(wire.pack({"value": encode(t)}))["value"]
    assert is_valid(back)
    assert back["shape"] == list(shape) and back["dtype"] == str(dtype).replace("torch.", "")
    assert torch.equal(back["data"], t)


def test_numpy_and_python_values_round_trip():
    tree = {
        "a": encode(np.array([1.5, np.nan])),
        "b": encode((np.float64(2.0), 3, None, "x")),
        "c": encode(float("nan")),
    }
    back = wire.unpack(wire.pack(tree))
    assert back["a"]["dtype"] == "float64" and torch.isnan(back["a"]["data"][1])
    assert [i["value"] for i in back["b"]["items"][1:]] == [3, None, "x"]
    assert all(is_valid(v) for v in back.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_get_past_unpack_unchecked(data):
    try:
        wire.unpack(data)
    except wire.WireError:
        pass


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b[:-1],  # truncated buffer
        lambda b: b + b"\x00",  # trailing garbage
        lambda b: b[:4] + b"\xff\xff\xff\x7f" + b[8:],  # absurd table length
    ],
)
def test_corrupted_messages_are_refused(corrupt):
    good = wire.pack({"out": encode(torch.ones(3))})
    with pytest.raises(wire.WireError):
        wire.unpack(corrupt(good))


def test_a_pickle_is_not_accepted():
    import pickle

    with pytest.raises(wire.WireError):
        wire.unpack(pickle.dumps({"out": 1}))


def test_header_that_lies_about_its_data_is_invalid():
    tree = encode(torch.ones(2, 3))
    tree["shape"] = [3, 2]
    assert not is_valid(tree)
    tree = encode(torch.ones(2, 3))
    tree["dtype"] = "float64"
    assert not is_valid(tree)


def test_the_scorer_accepts_exactly_what_the_worker_may_send():
    from autograder.protocol import messages, wire

    assert messages.MAX_STREAM_BYTES == wire.MAX_BYTES
