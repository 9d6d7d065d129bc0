"""SCPI core over real sockets: raw exchanges and plain pyvisa (`@py`, SOCKET resources)."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa

from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    ScpiServer,
    parse_bool,
    parse_channel_list,
    parse_enum,
    parse_number,
)
from simulators.scpi_parse import CommandTrie, expand_pattern, find_message_end

TRACE = np.array([1.0, -2.5, 3.25e-3, 1e9, -0.0])


class Toy(ScpiDevice):
    """A small analyzer-like device exercising every core feature."""

    idn = ("Keysight Technologies", "TOY1000A", "MY00000001", "A.01.02")
    options = ("B25", "P08")

    def __init__(self) -> None:
        super().__init__()
        self.register_format_commands()
        self.center = 1e9
        self.span = 1e6
        self.marker = {1: 0.0, 2: 0.0}
        self.trace = TRACE.copy()
        c = self.command
        c("[:SENSe]:FREQuency:CENTer", set=self._set_center, query=lambda a, s: self.center)
        c("[:SENSe]:FREQuency:SPAN", set=self._set_span, query=lambda a, s: self.span)
        c(":CALCulate:MARKer<n>:X", set=self._set_marker,
          query=lambda a, s: self.marker[s[0]])
        c(":INITiate[:IMMediate]", set=lambda a, s: self.start_operation(0.25))
        c(":TRACe[:DATA]", query=lambda a, s: self.format_values(self.trace), waits=True)
        c(":SYSTem:ECHO", query=lambda a, s: "|".join(a))
        self.reset()

    def _set_center(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.center = parse_number(args[0], "HZ", minimum=10.0, maximum=26.5e9)

    def _set_span(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.span = parse_number(args[0], "HZ", minimum=0.0, maximum=26.5e9, default=1e6)

    def _set_marker(self, args: list[str], s: tuple[int, ...]) -> None:
        if s[0] not in self.marker:
            raise ScpiError(-113)
        self.marker[s[0]] = parse_number(args[0], "HZ")


@pytest.fixture
def server() -> Iterator[ScpiServer]:
    srv = ScpiServer(Toy())
    srv.start()
    yield srv
    srv.stop()


class Raw:
    """A raw socket client: send a line, read a line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3.0)
        self.file = self.sock.makefile("rb")

    def send(self, text: str | bytes) -> None:
        self.sock.sendall((text.encode() if isinstance(text, str) else text) + b"\n")

    def query(self, text: str) -> str:
        self.send(text)
        return self.file.readline().decode().rstrip("\n")

    def read_exact(self, n: int) -> bytes:
        return self.file.read(n)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw(server: ScpiServer) -> Iterator[Raw]:
    client = Raw(server.port)
    yield client
    client.close()


@pytest.fixture
def visa(server: ScpiServer) -> Iterator[pyvisa.resources.MessageBasedResource]:
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(server.resource, read_termination="\n", write_termination="\n")
    inst.timeout = 3000
    yield inst
    inst.close()


# --------------------------------------------------------------------------- parsing units
def test_pattern_expansion_and_suffix_slots() -> None:
    expansions, slots = expand_pattern("[:SOURce]:FREQuency[:CW|:FIXed]")
    assert slots == 0
    assert sorted(len(e) for e in expansions) == [1, 2, 2, 2, 3, 3]
    trie = CommandTrie()
    trie.insert("[SENSe<n>]:CORRection:GAIN2[:INPut][:MAGNitude]", "gain")
    assert trie.lookup(["SENS2", "CORR", "GAIN2"]) == ("gain", (2,))
    assert trie.lookup(["CORRECTION", "GAIN2", "INP", "MAGNITUDE"]) == ("gain", (1,))
    assert trie.lookup(["SENS", "CORR", "GAIN"]) is None
    assert trie.lookup(["SENSE", "CORRE", "GAIN2"]) is None  # neither short nor long form


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [("3.5 GHz", "HZ", 3.5e9), ("3.5e9", "HZ", 3.5e9), ("10DBM", "DBM", 10.0),
     ("-3.5 dbm", "DBM", -3.5), ("500mA", "A", 0.5), ("2 MHZ", "HZ", 2e6), ("2 MAHZ", "HZ", 2e6),
     ("250 mV", "V", 0.25), ("1.5KHZ", "HZ", 1500.0), (".5", "", 0.5), ("+1E-3 S", "S", 1e-3)],
)
def test_parse_number_units(text: str, unit: str, expected: float) -> None:
    assert parse_number(text, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "unit", "code"),
    [("3 V", "HZ", -131), ("abc", "HZ", -104), ('"3"', "HZ", -104), ("7 GHz", "HZ", -222)],
)
def test_parse_number_errors(text: str, unit: str, code: int) -> None:
    with pytest.raises(ScpiError) as err:
        parse_number(text, unit, maximum=6e9)
    assert err.value.code == code


def test_parameter_helpers() -> None:
    assert parse_number("MAX", "HZ", maximum=lambda: 6e9) == 6e9
    assert parse_number("def", "HZ", default=1e6) == 1e6
    assert parse_bool("ON") and not parse_bool("0") and parse_bool("1")
    assert parse_channel_list("(@1:3)") == [1, 2, 3]
    assert parse_channel_list("(@1,3)") == [1, 3]
    assert parse_enum("swapped", ["NORMal", "SWAPped"]) == "SWAP"
    with pytest.raises(ScpiError) as err:
        parse_bool("MAYBE")
    assert err.value.code == -224


def test_block_arguments_may_contain_terminators() -> None:
    block = b"#15a\nb;c"
    msg = b'MMEM:DATA "x",' + block + b"\nNEXT\n"
    assert find_message_end(msg) == len(msg) - 6


# --------------------------------------------------------------------------- raw socket
def test_idn_opt_and_case_forms(raw: Raw) -> None:
    assert raw.query("*IDN?").count(",") == 3
    assert raw.query("*opt?") == "B25,P08"
    raw.send(":SENSe:FREQuency:CENTer 2.5 GHz")
    assert float(raw.query("freq:cent?")) == 2.5e9
    raw.send("sens:freq:center 3GHZ")
    assert float(raw.query(":FREQUENCY:CENTER?")) == 3e9
    assert raw.query("SYST:ERR?") == '+0,"No error"'


def test_chained_commands_follow_the_header_path(raw: Raw) -> None:
    # SPAN continues at the FREQ level; ':CALC' restarts at the root; '*' keeps the path
    reply = raw.query("FREQ:CENT 1 GHz;SPAN 20 MHz;*OPC?;CENT?;:CALC:MARK2:X 5e6;X?")
    assert reply == "1;+1.00000000000E+09;+5.00000000000E+06"
    assert float(raw.query("FREQ:SPAN?")) == 20e6
    # without the leading ':' INIT would resolve under FREQ and is an undefined header
    raw.send("FREQ:CENT 1 GHz;INIT")
    assert raw.query("SYST:ERR?") == '-113,"Undefined header"'


def test_error_queue_fifo_codes_and_esr(raw: Raw) -> None:
    raw.send("*CLS")
    raw.send("FOO:BAR 1")  # -113
    raw.send("FREQ:CENT 99 GHz")  # -222
    raw.send("FREQ:CENT 1 V")  # -131
    raw.send("FREQ:CENT ON")  # -104
    raw.send("FREQ:CENT")  # -109 (handler indexes a missing argument)
    raw.send("FREQ:CENT 1,,2")  # -102
    assert raw.query("SYST:ERR:COUN?") == "+6"
    assert raw.query("SYST:ERR?") == '-113,"Undefined header"'
    assert raw.query("SYST:ERR:NEXT?") == '-222,"Data out of range"'
    assert raw.query("syst:err?") == '-131,"Invalid suffix"'
    assert raw.query("SYST:ERR?") == '-104,"Data type error"'
    assert raw.query("SYST:ERR?") == '-109,"Missing parameter"'
    assert raw.query("SYST:ERR?") == '-102,"Syntax error"'
    assert raw.query("SYST:ERR?") == '+0,"No error"'
    esr = int(raw.query("*ESR?"))
    assert esr & 0x20 and esr & 0x10  # command error and execution error bits
    assert int(raw.query("*ESR?")) == 0  # read clears


def test_error_queue_overflow_is_bounded(raw: Raw, server: ScpiServer) -> None:
    for _ in range(server.device.error_queue_size + 5):
        raw.send("NOPE")
    assert int(raw.query("SYST:ERR:COUN?")) == server.device.error_queue_size
    errors = raw.query("SYST:ERR:ALL?")
    assert errors.endswith('-350,"Queue overflow"')
    assert raw.query("SYST:ERR?") == '+0,"No error"'


def test_failed_query_sends_no_reply_and_stb_reports_it(raw: Raw) -> None:
    raw.send("CALC:MARK7:X?")  # marker 7 does not exist: no reply line at all
    raw.send("FOO?;*IDN?")  # a command error discards the rest of the message
    assert raw.query("*STB?") == "4"  # error queue not empty (bit 2)
    assert raw.query("SYST:ERR?") == '-300,"Device-specific error"'
    assert raw.query("SYST:ERR?") == '-113,"Undefined header"'
    assert raw.query("*OPC?") == "1"  # still in sync


def test_crlf_and_blank_lines_tolerated(raw: Raw) -> None:
    raw.sock.sendall(b"\n*IDN?\r\n")
    assert raw.file.readline().startswith(b"Keysight Technologies,TOY1000A")


def test_quoted_arguments_keep_commas_and_semicolons(raw: Raw) -> None:
    assert raw.query("SYST:ECHO? 'a;b',\"c,d\",(@1,2)") == "'a;b'|\"c,d\"|(@1,2)"


@pytest.mark.parametrize(("fmt", "border", "code"),
                         [("REAL,32", "NORM", ">f"), ("REAL,32", "SWAP", "<f"),
                          ("REAL,64", "NORM", ">d"), ("REAL,64", "SWAP", "<d")])
def test_binary_block_bytes(raw: Raw, fmt: str, border: str, code: str) -> None:
    raw.send(f"FORM {fmt};:FORM:BORD {border}")
    raw.send("TRAC?")
    size = struct.calcsize(code[1]) * len(TRACE)
    header = f"#{len(str(size))}{size}".encode()
    data = raw.read_exact(len(header) + size + 1)
    assert data[: len(header)] == header and data[-1:] == b"\n"
    expected = struct.pack(code[0] + code[1] * len(TRACE), *TRACE)
    assert data[len(header):-1] == expected
    assert raw.query("FORM:BORD?") == border


def test_ascii_format(raw: Raw) -> None:
    raw.send("FORM ASC")
    values = [float(v) for v in raw.query("TRAC?").split(",")]
    assert values == pytest.approx(TRACE.tolist())


def test_rst_restores_format_defaults(raw: Raw) -> None:
    raw.send("FORM REAL,64;:FORM:BORD SWAP;*RST")
    assert raw.query("FORM?;:FORM:BORD?") == "ASC,8;NORM"


def test_fault_injection(server: ScpiServer, raw: Raw) -> None:
    server.delay_replies(0.2, count=1)
    t0 = time.monotonic()
    assert raw.query("*OPC?") == "1"
    assert time.monotonic() - t0 >= 0.2
    t0 = time.monotonic()
    assert raw.query("*OPC?") == "1"
    assert time.monotonic() - t0 < 0.1
    server.push_error(-410)
    assert raw.query("SYST:ERR?") == '-410,"Query INTERRUPTED"'
    server.drop_next()
    raw.send("*IDN?")
    assert raw.file.readline() == b""  # connection closed, nothing answered
    again = Raw(server.port)  # the server keeps accepting
    assert again.query("*IDN?").startswith("Keysight")
    again.close()


def test_multiple_clients_share_one_device(server: ScpiServer) -> None:
    a, b = Raw(server.port), Raw(server.port)
    assert a.query("FREQ:CENT 4 GHz;*OPC?") == "1"  # each connection has its own thread
    assert float(b.query("FREQ:CENT?")) == 4e9
    a.close()
    b.close()


def test_query_during_sweep_waits_for_it(raw: Raw) -> None:
    raw.send("INIT")
    t0 = time.monotonic()
    assert raw.query("FREQ:CENT?")  # not a waiting query: immediate
    assert time.monotonic() - t0 < 0.15
    raw.send("FORM ASC")
    assert raw.query("TRAC?")  # data query: answered after the sweep
    assert time.monotonic() - t0 >= 0.24


# --------------------------------------------------------------------------- plain pyvisa
def test_pyvisa_query_and_binary_values(visa: pyvisa.resources.MessageBasedResource) -> None:
    assert visa.query("*IDN?").startswith("Keysight Technologies,TOY1000A")
    for fmt, datatype in (("REAL,32", "f"), ("REAL,64", "d")):
        for border, big in (("NORM", True), ("SWAP", False)):
            visa.write(f"FORM {fmt};:FORM:BORD {border}")
            values = visa.query_binary_values("TRAC?", datatype=datatype, is_big_endian=big,
                                              container=np.array)
            assert values == pytest.approx(TRACE.astype("f" if datatype == "f" else "d"))
    visa.write("FORM ASC")
    assert visa.query_ascii_values("TRAC?") == pytest.approx(TRACE.tolist())


def test_pyvisa_opc_blocks_for_the_operation(visa: pyvisa.resources.MessageBasedResource) -> None:
    t0 = time.monotonic()
    assert visa.query("INIT;*OPC?") == "1"
    assert 0.24 <= time.monotonic() - t0 < 1.0


def test_pyvisa_times_out_when_client_timeout_is_shorter(
    visa: pyvisa.resources.MessageBasedResource,
) -> None:
    visa.timeout = 100
    visa.write("INIT")
    with pytest.raises(pyvisa.errors.VisaIOError) as err:
        visa.query("*OPC?")
    assert err.value.error_code == pyvisa.constants.StatusCode.error_timeout
    # the late reply arrives later; clear() drains it and the session is usable again
    time.sleep(0.3)
    visa.clear()
    visa.timeout = 3000
    assert visa.query("*IDN?").startswith("Keysight")


def test_large_binary_trace(server: ScpiServer, visa: pyvisa.resources.MessageBasedResource
                            ) -> None:
    server.device.trace = np.linspace(-100.0, 0.0, 100_001)
    visa.write("FORM REAL,32;:FORM:BORD SWAP")
    values = visa.query_binary_values("TRAC?", datatype="f", is_big_endian=False,
                                      container=np.array)
    assert values.shape == (100_001,) and values[-1] == 0.0
