"""SCPI instrument core: `ScpiDevice` (command tree, IEEE 488.2 status, timing) and `ScpiServer`.

Contract: docs/design.md "SCPI core". Protocol facts: IEEE 488.2-1992 §11 (status byte, standard
event status register), §12 (*OPC/*WAI synchronisation), §6.1.6 (a command error discards the
rest of the program message); SCPI-1999 Vol. 1 §6.2 (header path), Vol. 2 §21.8 (error queue,
-350 replaces the newest entry on overflow). Keysight reports an empty queue as `+0,"No error"`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simulators.scpi_params import (
    format_float,
    parse_block,
    parse_bool,
    parse_channel_list,
    parse_enum,
    parse_int,
    parse_number,
    parse_string,
)
from simulators.scpi_parse import (
    STANDARD_ERRORS,
    CommandTrie,
    ScpiError,
    Unit,
    block_end,
    parse_unit,
    split_top,
)

if TYPE_CHECKING:
    from simulators.bench import VirtualBench

__all__ = [
    "Command",
    "ScpiDevice",
    "ScpiError",
    "ScpiServer",
    "format_float",
    "parse_block",
    "parse_bool",
    "parse_channel_list",
    "parse_enum",
    "parse_int",
    "parse_number",
    "parse_string",
]

log = logging.getLogger(__name__)

SetHandler = Callable[[list[str], tuple[int, ...]], None]
QueryHandler = Callable[[list[str], tuple[int, ...]], "str | bytes | float | int"]

# IEEE 488.2 §11.5.1 standard event status register bits
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 0x01, 0x04, 0x08, 0x10, 0x20, 0x80
# status byte bits (SCPI: bit 2 error/event queue, bit 3 QUES, bit 5 ESB, bit 6 MSS, bit 7 OPER)
STB_EAV, STB_QUES, STB_MAV, STB_ESB, STB_MSS, STB_OPER = 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


@dataclass
class Command:
    """A registered header: its set/query handlers and whether it waits for operations."""

    pattern: str
    set: SetHandler | None = None
    query: QueryHandler | None = None
    waits: bool = False


def _esr_bit_for(code: int) -> int:
    if -199 <= code <= -100:
        return ESR_CME
    if -299 <= code <= -200:
        return ESR_EXE
    if -499 <= code <= -400:
        return ESR_QYE
    return ESR_DDE


class ScpiDevice:
    """One simulated instrument: command tree, common commands, error queue, status, timing.

    Subclasses set `idn`/`options`, register headers with `self.command(...)` in `__init__`
    (after `super().__init__`), extend `reset()` and call `self.reset()` at the end of their
    `__init__`. Handlers run with `self.lock` (the bench lock) held.
    """

    idn: tuple[str, str, str, str] = ("benchbot", "SIM", "0", "0.1")
    options: tuple[str, ...] = ()
    error_queue_size: int = 30
    #: response delay added to every reply (s, wall clock, not scaled); LAN instruments: 1-5 ms
    latency_s: float = 0.0
    #: the instrument's data link (bit/s, e.g. 1e9 for gigabit LAN): replies leave no faster;
    #: 0 = as fast as loopback goes
    link_rate_bit_per_s: float = 0.0

    # parameter helpers, also available as methods (see simulators.scpi_parse)
    parse_number = staticmethod(parse_number)
    parse_int = staticmethod(parse_int)
    parse_bool = staticmethod(parse_bool)
    parse_enum = staticmethod(parse_enum)
    parse_string = staticmethod(parse_string)
    parse_channel_list = staticmethod(parse_channel_list)
    parse_block = staticmethod(parse_block)
    format_float = staticmethod(format_float)

    def __init__(self, bench: VirtualBench | None = None, role: str = "", model: str = "") -> None:
        self.bench = bench
        self.role = role
        self.model = model
        self.lock: threading.RLock = bench.lock if bench is not None else threading.RLock()
        self.rng: np.random.Generator = (
            bench.rng_for(role) if bench is not None else np.random.default_rng(0)
        )
        #: draws that describe the instrument unit itself (serial number, its amplitude
        #: offset): the same in a resumed session, as the same instrument is on the bench
        self.unit_rng: np.random.Generator = (
            bench.unit_rng_for(role) if bench is not None and bench.session else self.rng)
        if bench is not None:
            self.latency_s = float(bench.config.get("latency_s", self.latency_s))
            self.link_rate_bit_per_s = float(bench.config.get("link_rate_bit_per_s",
                                                              self.link_rate_bit_per_s))
        self._trie = CommandTrie()
        self._common: dict[str, Command] = {}
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self.ese = 0
        self.sre = 0
        self.busy_until = 0.0
        self._opc_pending = False
        self.data_format = "ASC"
        self.byte_order = "NORM"
        self._register_common()

    # ------------------------------------------------------------------ registration
    def command(
        self,
        pattern: str,
        set: SetHandler | None = None,  # noqa: A002 - name fixed by docs/design.md
        query: QueryHandler | None = None,
        *,
        waits: bool = False,
    ) -> Command:
        """Register a header in the manual's notation (`[:SENSe]:FREQuency:CENTer`, `MARKer<n>`).

        Handlers get `(args, suffixes)`; a query returns str/bytes (a number is formatted NR3).
        `waits=True`: the handler runs only after a pending operation (sweep) has completed, and
        a waiting query whose handler starts an operation (READ?) replies when it completes.
        """
        cmd = Command(pattern, set, query, waits)
        if pattern.startswith("*"):
            self._common[pattern.rstrip("?").upper()] = cmd
        else:
            self._trie.insert(pattern, cmd)
        return cmd

    def _register_common(self) -> None:
        c = self.command
        c("*IDN", query=lambda a, s: ",".join(self.idn))
        c("*OPT", query=lambda a, s: ",".join(self.options) if self.options else "0")
        c("*RST", set=lambda a, s: self._do_reset())
        c("*CLS", set=lambda a, s: self.clear_status())
        c("*OPC", set=lambda a, s: self._set_opc(), query=lambda a, s: "1", waits=True)
        c("*WAI", set=lambda a, s: None, waits=True)
        c("*ESR", query=lambda a, s: str(self._read_esr()))
        c("*ESE", set=self._set_ese, query=lambda a, s: str(self.ese))
        c("*SRE", set=self._set_sre, query=lambda a, s: str(self.sre))
        c("*STB", query=lambda a, s: str(self.status_byte()))
        c("*TST", query=lambda a, s: "0")
        c("SYSTem:ERRor[:NEXT]", query=lambda a, s: self._next_error())
        c("SYSTem:ERRor:COUNt", query=lambda a, s: f"{len(self.errors):+d}")
        c("SYSTem:ERRor:ALL", query=lambda a, s: self._all_errors())
        c("SYSTem:VERSion", query=lambda a, s: "1999.0")
        c("STATus:PRESet", set=lambda a, s: None)
        c("STATus:OPERation[:EVENt]", query=lambda a, s: str(self.operation_status()))
        c("STATus:OPERation:CONDition", query=lambda a, s: str(self.operation_status()))
        c("STATus:QUEStionable[:EVENt]", query=lambda a, s: str(self.questionable_status()))
        c("STATus:QUEStionable:CONDition", query=lambda a, s: str(self.questionable_status()))

    def register_format_commands(self) -> None:
        """`FORMat[:DATA] ASCii|REAL,32|REAL,64` and `FORMat:BORDer NORMal|SWAPped`."""

        def set_format(args: list[str], _s: tuple[int, ...]) -> None:
            kind = parse_enum(args[0], ["ASCii", "REAL"])
            if kind == "ASC":
                if len(args) > 1:
                    parse_int(args[1], minimum=0, maximum=64)
                self.data_format = "ASC"
                return
            bits = parse_int(args[1]) if len(args) > 1 else 32
            if bits not in (32, 64):
                raise ScpiError(-224)
            self.data_format = f"REAL,{bits}"

        def set_border(args: list[str], _s: tuple[int, ...]) -> None:
            self.byte_order = parse_enum(args[0], ["NORMal", "SWAPped"])

        self.command("FORMat[:TRACe][:DATA]", set=set_format,
                     query=lambda a, s: "ASC,8" if self.data_format == "ASC" else self.data_format)
        self.command("FORMat:BORDer", set=set_border, query=lambda a, s: self.byte_order)

    # ------------------------------------------------------------------ state hooks
    def reset(self) -> None:
        """*RST defaults; subclasses extend (call super().reset())."""
        self.data_format = "ASC"
        self.byte_order = "NORM"
        self.busy_until = 0.0

    def _do_reset(self) -> None:
        self.reset()

    def clear_status(self) -> None:
        """*CLS: empty the error queue and the event registers (IEEE 488.2 §10.3)."""
        self.errors.clear()
        self.esr = 0
        self._opc_pending = False

    def operation_status(self) -> int:
        """STAT:OPER condition; bit 3 (8) = sweeping (SCPI-1999 §20.3)."""
        return 8 if time.monotonic() < self.busy_until else 0

    def questionable_status(self) -> int:
        """STAT:QUES condition summary; subclasses override."""
        return 0

    @property
    def time_scale(self) -> float:
        return float(self.bench.time_scale) if self.bench is not None else 1.0

    # ------------------------------------------------------------------ errors and status
    def push_error(self, code: int, message: str | None = None) -> None:
        """Queue an error (FIFO); when full the newest entry becomes -350 Queue overflow."""
        text = message if message is not None else STANDARD_ERRORS.get(code, "Error")
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = (-350, STANDARD_ERRORS[-350])
            self.esr |= ESR_DDE
            return
        self.errors.append((code, text))
        self.esr |= _esr_bit_for(code)

    @staticmethod
    def _format_error(code: int, message: str) -> str:
        return f'{code:+d},"{message}"'

    def _next_error(self) -> str:
        if not self.errors:
            return self._format_error(0, "No error")
        return self._format_error(*self.errors.popleft())

    def _all_errors(self) -> str:
        if not self.errors:
            return self._format_error(0, "No error")
        out = ",".join(self._format_error(*e) for e in self.errors)
        self.errors.clear()
        return out

    def _update_opc(self) -> None:
        if self._opc_pending and time.monotonic() >= self.busy_until:
            self._opc_pending = False
            self.esr |= ESR_OPC

    def _set_opc(self) -> None:
        self._opc_pending = True
        self._update_opc()

    def _read_esr(self) -> int:
        self._update_opc()
        value, self.esr = self.esr, 0
        return value

    def _set_ese(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.ese = parse_int(args[0], minimum=0, maximum=255)

    def _set_sre(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.sre = parse_int(args[0], minimum=0, maximum=255) & ~STB_MSS

    def status_byte(self) -> int:
        """*STB? (IEEE 488.2 §11.2): EAV, QUES, ESB, OPER summaries, MSS."""
        self._update_opc()
        stb = 0
        if self.errors:
            stb |= STB_EAV
        if self.questionable_status():
            stb |= STB_QUES
        if self.esr & self.ese:
            stb |= STB_ESB
        if self.operation_status():
            stb |= STB_OPER
        if stb & self.sre:
            stb |= STB_MSS
        return stb

    # ------------------------------------------------------------------ timing
    def start_operation(self, duration_s: float) -> float:
        """Mark an overlapped operation (sweep) lasting `duration_s` × bench time_scale.

        Returns the monotonic completion time (also `self.busy_until`).
        """
        self.busy_until = time.monotonic() + max(0.0, duration_s) * self.time_scale
        return self.busy_until

    @property
    def busy(self) -> bool:
        return time.monotonic() < self.busy_until

    def _wait_idle(self, cancel: threading.Event | None) -> bool:
        """Block (without the lock) until no operation is pending; False if cancelled."""
        while True:
            remaining = self.busy_until - time.monotonic()
            if remaining <= 0:
                return True
            if cancel is not None:
                if cancel.wait(min(remaining, 0.5)):
                    return False
            else:
                time.sleep(min(remaining, 0.5))

    # ------------------------------------------------------------------ data formatting
    def format_values(self, values: Sequence[float] | np.ndarray) -> bytes:
        """Render values per FORMat/BORDer: CSV (`%.9E`) or an IEEE 488.2 definite block.

        Returned bytes end with `\\n` (the core does not add a second terminator).
        """
        arr = np.asarray(values, dtype=np.float64).ravel()
        if self.data_format == "ASC":
            if arr.size == 0:
                return b"\n"
            return (",".join(map("{:.9E}".format, arr.tolist())) + "\n").encode("ascii")
        kind = "f4" if self.data_format == "REAL,32" else "f8"
        payload = arr.astype((">" if self.byte_order == "NORM" else "<") + kind)
        length = str(payload.nbytes).encode("ascii")
        return b"".join((b"#%d" % len(length), length, payload, b"\n"))

    # ------------------------------------------------------------------ execution
    def process(self, message: bytes, cancel: threading.Event | None = None) -> bytes:
        """Execute one program message; returns the response message (b"" if none)."""
        text = message.decode("latin-1")
        if text.endswith("\r") and block_end(text) < len(text):
            text = text[:-1]  # CR LF tolerated, unless the CR is a block's last data byte
        replies: list[bytes | memoryview] = []
        path: tuple[str, ...] = ()
        for raw in split_top(text, ";"):
            try:
                unit = parse_unit(raw)
                if unit is None:
                    continue  # empty unit (blank line, trailing ';')
                path = self._execute(unit, path, replies, cancel)
            except ScpiError as err:
                with self.lock:
                    self.push_error(err.code, err.message)
                if -199 <= err.code <= -100:
                    break  # IEEE 488.2 §6.1.6.1: discard the rest of the message
            except _Cancelled:
                return b""
        if not replies:
            return b""
        if len(replies) == 1 and isinstance(replies[0], memoryview):
            whole = replies[0].obj
            if isinstance(whole, bytes) and len(whole) == len(replies[0]) + 1 and whole[-1] == 10:
                return whole  # a terminated block from format_values: send it without a copy
        parts: list[bytes | memoryview] = []
        for reply in replies:
            parts += (reply, b";")
        parts[-1] = b"\n"
        return b"".join(parts)  # the one copy of a large block

    def _execute(
        self,
        unit: Unit,
        path: tuple[str, ...],
        replies: list[bytes | memoryview],
        cancel: threading.Event | None,
    ) -> tuple[str, ...]:
        if unit.common:
            cmd = self._common.get(unit.words[0])
            suffixes: tuple[int, ...] = ()
            new_path = path
        else:
            words = unit.words if unit.absolute else path + unit.words
            found = self._trie.lookup(list(words))
            if found is None:
                raise ScpiError(-113)
            cmd, suffixes = found  # type: ignore[assignment]
            new_path = words[:-1]
        if cmd is None:
            raise ScpiError(-113)
        handler = cmd.query if unit.query else cmd.set
        if handler is None:
            raise ScpiError(-113)
        if cmd.waits and not self._wait_idle(cancel):
            raise _Cancelled
        with self.lock:
            started = self.busy_until
            try:
                result = handler(unit.args, suffixes)
            except ScpiError:
                raise
            except IndexError:
                raise ScpiError(-109) from None
            except Exception:
                log.exception("%s handler for %r failed", type(self).__name__, cmd.pattern)
                raise ScpiError(-300) from None
            finished = self.busy_until
        if unit.query:
            # a `waits` query that itself started an operation (READ?, MEASure?) answers when
            # that operation completes
            if cmd.waits and finished > started and not self._wait_idle(cancel):
                raise _Cancelled
            replies.append(_to_bytes(result))
        return new_path


class _Cancelled(Exception):
    """The server is stopping while a handler waited for an operation."""


def _to_bytes(result: Any) -> bytes | memoryview:
    """A handler's query result as response bytes without the final terminator (no copy)."""
    if isinstance(result, bytes | bytearray | memoryview):
        data = memoryview(result).cast("B")
        if len(data) > 2 and data[0] == 0x23 and 0x31 <= data[1] <= 0x39:  # '#1'..'#9'
            nd = data[1] - 0x30
            expected = 2 + nd + int(bytes(data[2 : 2 + nd]) or b"0")
            return data[:expected]
        return data[:-1] if len(data) and data[-1] == 0x0A else data
    if isinstance(result, bool):
        return b"1" if result else b"0"
    if isinstance(result, int):
        return str(result).encode("ascii")
    if isinstance(result, float):
        return format_float(result).encode("ascii")
    text = str(result)
    if text.endswith("\n"):
        text = text[:-1]
    return text.encode("latin-1")


# The server lives in its own module; re-exported here as docs/design.md names it.
from simulators.scpi_server import ScpiServer  # noqa: E402
