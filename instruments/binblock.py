"""IEEE 488.2 arbitrary block data: parse, decode to numpy, encode.

Definite length (IEEE 488.2 §7.7.6): ``#<n><len><data>`` where ``<n>`` is one non-zero ASCII digit
giving the number of digits of ``<len>`` (zero-padding allowed, e.g. ``#800004004``), and ``<len>``
is the byte count of ``<data>``. Indefinite length: ``#0<data>`` terminated by NL^END; it carries no
length, so it is accepted only when the caller states how many values to expect (pyvisa silently
returns an empty array for it otherwise — stack-notes §1.4).

Keysight ``FORM REAL,32``/``REAL,64`` sends IEEE 754 values; ``FORM:BORD NORM`` is big-endian,
``SWAP`` little-endian (X-series programmer's reference, "Format Data: Byte Order").
Pure functions; no I/O.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from instruments.errors import BinaryBlockError

Datatype = Literal["f", "d"]
_ITEMSIZE = {"f": 4, "d": 8}
_DIGITS = frozenset(b"0123456789")
#: bytes allowed after the data: nothing (already stripped) or the message terminator
_TERMINATORS = (b"", b"\n", b"\r\n")


def numpy_dtype(datatype: Datatype, big_endian: bool) -> np.dtype:
    """`"f"` → float32, `"d"` → float64, in the given byte order."""
    try:
        return np.dtype(("<", ">")[big_endian] + datatype)
    except TypeError as exc:  # pragma: no cover - guarded by Literal
        raise ValueError(f"datatype must be 'f' or 'd', not {datatype!r}") from exc


def parse_header(buf: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Return ``(data_offset, data_length)``; ``data_length`` is -1 for an indefinite ``#0`` block.

    Raises `BinaryBlockError` on a missing ``#``, a non-digit count or length, or a truncated
    header.
    """
    if len(buf) < 2:
        raise BinaryBlockError(f"block header truncated: {bytes(buf[:2])!r}")
    if buf[0] != 0x23:  # '#'
        raise BinaryBlockError(f"block does not start with '#': {bytes(buf[:16])!r}")
    n = buf[1] - 0x30
    if not 0 <= n <= 9:
        raise BinaryBlockError(f"block header digit count is not a digit: {bytes(buf[:16])!r}")
    if n == 0:
        return 2, -1
    field = bytes(buf[2 : 2 + n])
    if len(field) < n:
        raise BinaryBlockError(f"block length field truncated: {bytes(buf[: 2 + n])!r}")
    if not _DIGITS.issuperset(field):
        raise BinaryBlockError(f"block length field is not decimal: {bytes(buf[: 2 + n])!r}")
    return 2 + n, int(field)


def block_payload(
    buf: bytes | bytearray | memoryview,
    *,
    indefinite_nbytes: int | None = None,
) -> memoryview:
    """The data bytes of one complete block (no copy).

    After the data only nothing, ``\\n`` or ``\\r\\n`` may follow; anything else means the
    header's length is wrong and raises `BinaryBlockError`. A ``#0`` block needs
    `indefinite_nbytes`.
    """
    offset, length = parse_header(buf)
    if length < 0:
        if indefinite_nbytes is None:
            raise BinaryBlockError("indefinite-length block (#0) and no expected length given")
        length = indefinite_nbytes
    end = offset + length
    if len(buf) < end:
        got = len(buf) - offset
        raise BinaryBlockError(f"block truncated: header says {length} data bytes, got {got}")
    tail = bytes(buf[end:])
    if tail not in _TERMINATORS:
        raise BinaryBlockError(f"{len(tail)} unexpected bytes after the block: {tail[:16]!r}")
    return memoryview(buf)[offset:end]


def decode_block(
    buf: bytes | bytearray | memoryview,
    datatype: Datatype = "f",
    big_endian: bool = False,
    *,
    points: int | None = None,
) -> np.ndarray:
    """Decode a REAL,32 (`"f"`) or REAL,64 (`"d"`) block to a 1-D array (zero-copy view of `buf`).

    `points`, if given, is the number of values expected: it is checked for a definite block and
    supplies the length of an indefinite ``#0`` block.
    """
    itemsize = _ITEMSIZE[datatype]
    payload = block_payload(
        buf, indefinite_nbytes=None if points is None else points * itemsize
    )
    return payload_to_array(payload, datatype, big_endian, points=points)


def payload_to_array(
    payload: bytes | bytearray | memoryview,
    datatype: Datatype,
    big_endian: bool,
    *,
    points: int | None = None,
) -> np.ndarray:
    """`np.frombuffer` over the data bytes, after checking the size is whole (and `points`)."""
    itemsize = _ITEMSIZE[datatype]
    nbytes = len(payload)
    if nbytes % itemsize:
        raise BinaryBlockError(f"{nbytes} data bytes are not whole {itemsize}-byte values")
    if points is not None and nbytes != points * itemsize:
        raise BinaryBlockError(f"expected {points} values, block holds {nbytes // itemsize}")
    return np.frombuffer(payload, dtype=numpy_dtype(datatype, big_endian))


def encode_block(
    values: np.ndarray,
    datatype: Datatype = "f",
    big_endian: bool = False,
    *,
    header_digits: int | None = None,
    indefinite: bool = False,
    terminator: bytes = b"",
) -> bytes:
    """Encode `values` as an IEEE 488.2 block (for tests, simulators and benchmarks).

    `header_digits` zero-pads the length field to that many digits (1–9; default: minimal).
    """
    data = np.ascontiguousarray(values, dtype=numpy_dtype(datatype, big_endian)).tobytes()
    if indefinite:
        return b"#0" + data + terminator
    length = str(len(data))
    digits = len(length) if header_digits is None else header_digits
    if not len(length) <= digits <= 9:
        raise ValueError(f"{len(data)} bytes cannot be described with {digits} length digits")
    return b"#%d%s" % (digits, length.zfill(digits).encode()) + data + terminator
