"""Property-based tests of IEEE 488.2 block parsing, decoding and encoding."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from instruments import binblock
from instruments.errors import BinaryBlockError

datatypes = st.sampled_from(["f", "d"])
orders = st.booleans()
terminators = st.sampled_from([b"", b"\n", b"\r\n"])


@st.composite
def arrays(draw: st.DrawFn) -> tuple[np.ndarray, str, bool]:
    datatype = draw(datatypes)
    big_endian = draw(orders)
    dtype = binblock.numpy_dtype(datatype, big_endian)  # type: ignore[arg-type]
    values = draw(hnp.arrays(dtype, st.integers(0, 300)))  # any bit pattern incl. NaN/inf
    return values, datatype, big_endian


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype.itemsize == b.dtype.itemsize and a.tobytes() == b.tobytes()


@given(arrays(), terminators)
def test_round_trip_minimal_header(case: tuple[np.ndarray, str, bool], term: bytes) -> None:
    values, datatype, big_endian = case
    block = binblock.encode_block(values, datatype, big_endian, terminator=term)
    decoded = binblock.decode_block(block, datatype, big_endian)
    assert decoded.dtype == values.dtype
    assert same_bits(decoded, values)


@given(arrays(), st.integers(1, 9), st.data())
def test_round_trip_any_header_digit_count(
    case: tuple[np.ndarray, str, bool], digits: int, data: st.DataObject
) -> None:
    values, datatype, big_endian = case
    nbytes = values.nbytes
    digits = max(digits, len(str(nbytes)))
    block = binblock.encode_block(values, datatype, big_endian, header_digits=digits)
    assert block[1:2] == str(digits).encode()
    offset, length = binblock.parse_header(block)
    assert (offset, length) == (2 + digits, nbytes)
    points = data.draw(st.sampled_from([None, values.size]))
    assert same_bits(binblock.decode_block(block, datatype, big_endian, points=points), values)


@given(arrays())
def test_decode_is_zero_copy(case: tuple[np.ndarray, str, bool]) -> None:
    values, datatype, big_endian = case
    buf = bytearray(binblock.encode_block(values, datatype, big_endian))
    decoded = binblock.decode_block(buf, datatype, big_endian)
    if decoded.size:
        assert np.shares_memory(decoded, np.frombuffer(buf, np.uint8))


@given(arrays(), terminators)
def test_indefinite_block_needs_and_uses_points(
    case: tuple[np.ndarray, str, bool], term: bytes
) -> None:
    values, datatype, big_endian = case
    block = binblock.encode_block(values, datatype, big_endian, indefinite=True, terminator=term)
    assert binblock.parse_header(block) == (2, -1)
    with pytest.raises(BinaryBlockError, match="indefinite"):
        binblock.decode_block(block, datatype, big_endian)
    assert same_bits(binblock.decode_block(block, datatype, big_endian, points=values.size), values)


@given(arrays(), st.data())
def test_truncated_block_raises(case: tuple[np.ndarray, str, bool], data: st.DataObject) -> None:
    values, datatype, big_endian = case
    block = binblock.encode_block(values, datatype, big_endian)
    cut = data.draw(st.integers(0, len(block) - 1))
    with pytest.raises(BinaryBlockError):
        binblock.decode_block(block[:cut], datatype, big_endian)


@given(arrays(), st.binary(min_size=1, max_size=8).filter(lambda b: b not in (b"\n", b"\r\n")))
def test_bytes_after_the_block_raise(case: tuple[np.ndarray, str, bool], junk: bytes) -> None:
    values, datatype, big_endian = case
    block = binblock.encode_block(values, datatype, big_endian)
    with pytest.raises(BinaryBlockError, match="unexpected bytes"):
        binblock.decode_block(block + junk, datatype, big_endian)


@given(datatypes, orders, st.integers(1, 64))
def test_wrong_point_count_raises(datatype: str, big_endian: bool, n: int) -> None:
    block = binblock.encode_block(np.zeros(n), datatype, big_endian)  # type: ignore[arg-type]
    with pytest.raises(BinaryBlockError, match="expected"):
        binblock.decode_block(block, datatype, big_endian, points=n + 1)  # type: ignore[arg-type]


@given(datatypes, st.integers(1, 200))
def test_length_not_a_whole_number_of_values_raises(datatype: str, nbytes: int) -> None:
    itemsize = 4 if datatype == "f" else 8
    if nbytes % itemsize == 0:
        nbytes += 1
    block = b"#%d%d" % (len(str(nbytes)), nbytes) + b"\x00" * nbytes
    with pytest.raises(BinaryBlockError, match="whole"):
        binblock.decode_block(block, datatype)  # type: ignore[arg-type]


MALFORMED = [
    (b"", "truncated"),
    (b"#", "truncated"),
    (b"4004", "'#'"),
    (b" #14abcd", "'#'"),
    (b"#A16" + b"\x00" * 16, "not a digit"),
    (b"#:16", "not a digit"),
    (b"#3", "truncated"),
    (b"#31", "truncated"),
    (b"#2 8" + b"\x00" * 8, "not decimal"),
    (b"#2+8" + b"\x00" * 8, "not decimal"),
    (b"#2x8" + b"\x00" * 8, "not decimal"),
    (b"#18\x00\x00\x00\x00", "truncated"),
]


@pytest.mark.parametrize(("block", "match"), MALFORMED)
def test_malformed_headers_raise(block: bytes, match: str) -> None:
    with pytest.raises(BinaryBlockError, match=match):
        binblock.decode_block(block, "f")


@given(st.binary(max_size=40))
def test_arbitrary_bytes_never_raise_anything_but_block_error(junk: bytes) -> None:
    with contextlib.suppress(BinaryBlockError):
        binblock.decode_block(junk, "f")


def test_known_bytes_both_orders() -> None:
    """1.0 and -2.0 as REAL,32: NORM (big-endian) and SWAP (little-endian) byte orders."""
    norm = b"#18" + bytes.fromhex("3f800000c0000000") + b"\n"
    swap = b"#18" + bytes.fromhex("0000803f000000c0") + b"\n"
    assert binblock.decode_block(norm, "f", big_endian=True).tolist() == [1.0, -2.0]
    assert binblock.decode_block(swap, "f", big_endian=False).tolist() == [1.0, -2.0]
    assert binblock.encode_block(np.array([1.0, -2.0]), "f", True, terminator=b"\n") == norm


def test_encode_rejects_too_few_digits() -> None:
    with pytest.raises(ValueError):
        binblock.encode_block(np.zeros(300), "f", header_digits=2)
