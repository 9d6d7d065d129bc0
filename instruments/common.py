"""What every SCPI driver shares, whatever the vendor: identity, reset, configuration and reply
parsing (IEEE 488.2 common commands and SCPI data formats)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from instruments.errors import IdentityMismatch, UnexpectedResponse
from instruments.interfaces import Identity
from instruments.scpi import ScpiSession


def num(value: float) -> str:
    """A number as SCPI <NRf>: 12 significant digits, no unit (base units: Hz, dBm, dB, s, V, A)."""
    return f"{float(value):.12g}"


def on_off(on: bool) -> str:
    return "ON" if on else "OFF"


def parse_bool(reply: str, command: str) -> bool:
    """SCPI <Boolean> reply: ``1``/``0`` (also ``+1``, ``ON``/``OFF``)."""
    text = reply.strip().upper()
    if text in ("1", "+1", "ON"):
        return True
    if text in ("0", "+0", "OFF"):
        return False
    raise UnexpectedResponse(reply, command, "a boolean 1|0")


def parse_float(reply: str, command: str) -> float:
    try:
        return float(reply)
    except ValueError:
        raise UnexpectedResponse(reply, command, "a number") from None


def read_identity(session: ScpiSession, supported_models: tuple[str, ...]) -> Identity:
    """``*IDN?`` → manufacturer,model,serial,firmware (IEEE 488.2 §10.14), checked against
    `supported_models` before anything else is sent; then ``*OPT?`` (``0`` means no options)."""
    idn = session.query("*IDN?").strip()
    fields = [f.strip() for f in idn.split(",")]
    if len(fields) != 4 or fields[1].upper() not in {m.upper() for m in supported_models}:
        raise IdentityMismatch(supported_models, idn)
    opt = session.query("*OPT?").strip().strip('"').strip()
    options = () if opt in ("", "0") else tuple(o.strip() for o in opt.split(",") if o.strip())
    return Identity(fields[0], fields[1], fields[2], fields[3], options)


class ScpiCommon:
    """Mixin for SCPI drivers (needs `self.session` and `supported_models`)."""

    session: ScpiSession
    supported_models: tuple[str, ...]

    def _read_identity(self) -> Identity:
        return read_identity(self.session, self.supported_models)

    def _configure(self, *commands: str) -> None:
        """Send each command, then drain the error queue once; an error names these commands."""
        for command in commands:
            self.session.write(command)
        self.session.check_errors(after="; ".join(commands))

    def _reset(self, timeout_s: float = 30.0) -> None:
        """``*RST;*CLS`` then ``*OPC?`` (a preset can take seconds on an X-series analyzer)."""
        self.session.write("*RST;*CLS")
        self.session.opc(timeout_s)
        self.session.check_errors(after="*RST;*CLS")


@lru_cache(maxsize=16)
def sweep_axis(start_hz: float, stop_hz: float, points: int) -> np.ndarray:
    """A swept analyzer's frequency axis: `points` equally spaced from start to stop inclusive.
    Built once per configuration and shared read-only (a 100k-point trace fetch stays cheap)."""
    axis = np.linspace(float(start_hz), float(stop_hz), int(points))
    axis.setflags(write=False)
    return axis


#: most points per channel of the PNA and ZNA families
MAX_VNA_POINTS = 100_001


def check_vna_sweep(model: str, frequency_range_hz: tuple[float, float], start_hz: float,
                    stop_hz: float, points: int, if_bandwidth_hz: float, average_count: int
                    ) -> None:
    """Refuse, before anything is sent, a linear sweep the instrument cannot make."""
    lo, hi = frequency_range_hz
    if not lo <= start_hz < stop_hz <= hi:
        raise ValueError(f"sweep {start_hz:.6g}..{stop_hz:.6g} Hz is not an upward sweep inside "
                         f"the {model}'s {lo:.6g}..{hi:.6g} Hz")
    if not 2 <= int(points) <= MAX_VNA_POINTS:
        raise ValueError(f"points must be 2..{MAX_VNA_POINTS}, not {points}")
    if if_bandwidth_hz <= 0 or int(average_count) < 1:
        raise ValueError("the IF bandwidth must be > 0 Hz and average_count >= 1")
