"""`ScpiSession` over real sockets: a scripted responder (tests/_scpi_responder.py) for faults,
the simulators' `ScpiServer` for the performance comparison. No mock of the VISA layer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from _scpi_responder import Responder

from instruments.errors import (
    BinaryBlockError,
    ConnectionLost,
    InstrumentError,
    InstrumentTimeout,
    UnexpectedResponse,
)
from instruments.scpi import ScpiSession, parse_error, resource_manager

IDN = "Benchbot,RESPONDER,0001,1.0"


@pytest.fixture
def responder() -> Iterator[Responder]:
    with Responder() as r:
        yield r


@pytest.fixture
def session(responder: Responder) -> Iterator[ScpiSession]:
    s = ScpiSession.open(responder.resource, timeout_s=0.5)
    yield s
    s.close()


def test_query_write_and_traffic_log(session: ScpiSession) -> None:
    session.write("VAL 2.5")
    assert session.query("VAL?") == "2.500000E+00"
    assert session.query_float("VAL?") == 2.5
    assert session.query("*IDN?") == IDN
    entries = list(session.traffic)
    assert [(d, t) for _, d, t in entries] == [
        ("w", "VAL 2.5"), ("w", "VAL?"), ("r", "2.500000E+00"), ("w", "VAL?"),
        ("r", "2.500000E+00"), ("w", "*IDN?"), ("r", IDN),
    ]
    times = [t for t, _, _ in entries]
    assert times == sorted(times)


def test_session_sets_tcp_nodelay_and_shares_one_resource_manager(
    responder: Responder, session: ScpiSession
) -> None:
    sock = session._socket
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    with ScpiSession(responder.resource) as other:
        assert other.resource_handle.visalib is session.resource_handle.visalib
    assert resource_manager("@py") is resource_manager("@py")


ERROR_CASES = [
    # (commands written, after, expected code, expected command named)
    (["VAL 20"], None, -222, "VAL 20"),
    (["VAL 1", "VAL 20"], "VAL 20", -222, "VAL 20"),
    (["FREQ 3e9"], None, -113, "FREQ 3e9"),
    (["BOGUS?"], "BOGUS?", -113, "BOGUS?"),
]


@pytest.mark.parametrize(("writes", "after", "code", "named"), ERROR_CASES)
def test_check_errors_raises_naming_the_command(
    session: ScpiSession, writes: list[str], after: str | None, code: int, named: str
) -> None:
    session.check_errors()  # start clean
    for w in writes:
        session.write(w)
    with pytest.raises(InstrumentError) as info:
        session.check_errors(after=after)
    assert info.value.code == code
    assert named in info.value.command
    assert tuple(writes) == info.value.commands
    session.check_errors()  # the queue was drained


def test_check_errors_drains_every_error_in_fifo_order(session: ScpiSession) -> None:
    for w in ("VAL 11", "NOPE", "VAL -1"):
        session.write(w)
    with pytest.raises(InstrumentError) as info:
        session.check_errors()
    assert [c for c, _ in info.value.errors] == [-222, -113, -222]
    assert info.value.command == "VAL 11; NOPE; VAL -1"
    session.check_errors()


def test_rejected_query_raises_the_instruments_error_after_the_timeout(
    session: ScpiSession,
) -> None:
    """A query with an error gets no reply (the error goes to the queue): after the timeout the
    session resyncs, reads the queue and raises InstrumentError naming the query."""
    with pytest.raises(InstrumentError) as info:
        session.query("BOGUS?")
    assert info.value.code == -113 and info.value.command == "BOGUS?"
    assert "no reply" in info.value.message
    assert session.query("*IDN?") == IDN
    session.check_errors()


def test_check_errors_clean_is_silent(session: ScpiSession) -> None:
    session.write("VAL 3")
    session.check_errors(after="VAL 3")


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [('+0,"No error"', (0, "No error")), ('0,"No error"', (0, "No error")),
     ('-222,"Data out of range"', (-222, "Data out of range")),
     ('-113,"Undefined header;FOO"', (-113, "Undefined header;FOO"))],
)
def test_parse_error(reply: str, parsed: tuple[int, str]) -> None:
    assert parse_error(reply) == parsed


def test_unparseable_number_is_typed(session: ScpiSession) -> None:
    with pytest.raises(UnexpectedResponse):
        session.query_float("*IDN?")


def test_timeout_then_late_reply_is_never_read_as_next_answer(session: ScpiSession) -> None:
    t0 = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        session.query("SLOW? 1.0")
    assert info.value.command == "SLOW? 1.0" and info.value.timeout_s == 0.5
    assert info.value.resynchronised
    assert time.monotonic() - t0 < 3.0
    # the late "SLOW" was discarded by the resync: every answer is the right one
    assert session.query("*IDN?") == IDN
    session.write("VAL 4")
    assert session.query("VAL?") == "4.000000E+00"
    assert any(d == "x" and "timeout" in t for _, d, t in session.traffic)


def test_late_opc_reply_does_not_desynchronise(session: ScpiSession) -> None:
    """The timed-out query is *OPC? itself: its late "1" must not answer the next query."""
    session.write("VAL 7")
    session.write("BUSY 1.2")
    with pytest.raises(InstrumentTimeout):
        session.opc(timeout_s=0.2)
    # whatever state the resync reached, the next answers are right
    assert session.query("VAL?") == "7.000000E+00"
    assert session.query("*IDN?") == IDN
    session.opc()


def test_opc_with_a_long_per_call_timeout(session: ScpiSession) -> None:
    session.write("BUSY 0.8")  # longer than the 0.5 s session timeout
    session.opc(timeout_s=3.0)
    assert session.timeout_s == 0.5
    assert session.resource_handle.timeout == 500
    assert session.query("*IDN?") == IDN


GOOD_BLOCKS = [
    # (command, datatype, big_endian, points, expected)
    ("BLOCK? le 5", "f", False, None, np.arange(5.0)),
    ("BLOCK? be 5", "f", True, None, np.arange(5.0)),
    ("BLOCK? le64 4", "d", False, 4, np.arange(4.0)),
    ("BLOCK? le 0", "f", False, None, np.zeros(0)),
    ("BLOCK? le 20001", "f", False, 20001, np.arange(20001.0)),
    ("BLOCK? zero 6", "f", False, 6, np.arange(6.0)),
    ("BLOCK? nl 3000", "f", False, 3000,
     np.full(3000, np.frombuffer(b"\x0a\x0a\x20\x41", "<f4")[0])),
]


@pytest.mark.parametrize(("command", "datatype", "big_endian", "points", "expected"), GOOD_BLOCKS)
def test_binary_blocks(
    session: ScpiSession, command: str, datatype: str, big_endian: bool,
    points: int | None, expected: np.ndarray,
) -> None:
    values = session.query_binary(command, datatype, big_endian, points=points)  # type: ignore[arg-type]
    np.testing.assert_array_equal(values, expected)
    nbytes = expected.size * (4 if datatype == "f" else 8)
    assert session.traffic[-1][1:] == ("r", f"<binary {nbytes} bytes>")
    assert session.query("*IDN?") == IDN


BAD_BLOCKS = [
    # (command, points, error) — the session answers correctly afterwards in every case
    ("BLOCK? zero 6", None, BinaryBlockError),  # pyvisa would return [] silently
    ("BLOCK? long 0", None, BinaryBlockError),  # header shorter than the data
    ("BLOCK? odd 0", None, BinaryBlockError),   # 7 bytes of float32
    ("BLOCK? ascii 4", None, BinaryBlockError),  # FORM ASC reply
    ("BLOCK? le 5", 6, BinaryBlockError),       # not the expected count
    ("BLOCK? short 0", None, InstrumentTimeout),  # header longer than the data
]


@pytest.mark.parametrize(("command", "points", "error"), BAD_BLOCKS)
def test_bad_binary_blocks_raise_typed_and_resync(
    session: ScpiSession, command: str, points: int | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        session.query_binary(command, points=points)
    assert session.query("*IDN?") == IDN
    session.write("VAL 5")
    assert session.query("VAL?") == "5.000000E+00"


def test_connection_closed_by_instrument(session: ScpiSession) -> None:
    session.write("CLOSE")
    with pytest.raises(ConnectionLost):
        session.query("*IDN?")
    for call in (lambda: session.query("*IDN?"), lambda: session.write("VAL 1"),
                 session.check_errors, session.clear):
        with pytest.raises(ConnectionLost):
            call()


def test_closed_session_raises_connection_lost(responder: Responder) -> None:
    session = ScpiSession(responder.resource)
    session.close()
    with pytest.raises(ConnectionLost, match="closed"):
        session.query("*IDN?")
    session.close()  # idempotent


def test_open_refused_is_connection_lost() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(ConnectionLost):
            ScpiSession(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_s=1.0)


def test_threads_never_interleave_transactions(session: ScpiSession) -> None:
    session.write("VAL 9")
    failures: list[str] = []

    def worker(command: str, expected: str) -> None:
        for _ in range(150):
            reply = session.query(command)
            if reply != expected:
                failures.append(f"{command} -> {reply}")

    threads = [
        threading.Thread(target=worker, args=("*IDN?", IDN)),
        threading.Thread(target=worker, args=("VAL?", "9.000000E+00")),
        threading.Thread(target=worker, args=("*ESE?", "0")),
        threading.Thread(target=worker, args=("SLOW? 0", "SLOW")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_resource_manager_survives_another_managers_close() -> None:
    """pyvisa RMs share one library session: closing any closes ours (pyvisa/pyvisa#742)."""
    import pyvisa

    from instruments.transport import resource_manager

    first = resource_manager("@py")
    pyvisa.ResourceManager("@py").close()
    again = resource_manager("@py")
    assert again.session is not None  # a fresh, open manager, not the invalidated one
    assert again is not first
