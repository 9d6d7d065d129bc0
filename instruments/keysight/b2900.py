"""Keysight B2902A / B2912A precision source-measure units (two channels).

Command forms (Agilent/Keysight B2900 SCPI Command Reference; QCoDeS ``Keysight_B2962A.py``
shares the tree): ``:SOUR<n>:FUNC:MODE VOLT|CURR``, ``:SOUR<n>:VOLT <V>`` (in pulse mode the
pulse base), ``:SENS<n>:CURR:PROT <A>`` (compliance of a voltage source; ``:SENS<n>:VOLT:PROT``
of a current source), ``:OUTP<n> ON|OFF``, ``:OUTP<n>:ON:AUTO OFF`` (otherwise INIT/MEAS switch
an output on by themselves), ``:MEAS? (@n)`` with ``:FORM:ELEM:SENS VOLT,CURR,STAT``; list sweeps
``:SOUR<n>:VOLT:MODE LIST``, ``:SOUR<n>:LIST:VOLT v1,v2,...`` (≤ 2500 values), ``:TRIG<n>:COUN``,
``:TRIG<n>:ACQ:DEL``, ``:INIT (@n)``, ``:FETC:ARR:VOLT|CURR|TIME|STAT|SOUR? (@n)``; pulses
``:SOUR<n>:FUNC:SHAP PULS``, ``:SOUR<n>:PULS:WIDT``, ``:SOUR<n>:PULS:DEL``, period from the
transient timer ``:TRIG<n>:TRAN:SOUR TIM``, ``:TRIG<n>:TRAN:TIM``. Status data bits 1-2 mean
compliance (Table 1-2 of the reference).

Pulsed I-V (`pulsed_iv_sweep`): both channels programmed as pulsed list sweeps with the same
width, ``:PULS:DEL 0`` and timer period, then ``:INIT (@1,2)``, which starts the listed channels
together (channel lists are for "commands which require synchronization of channels", command
reference §1; that their timers stay aligned [verify]).

Ratings checked before anything is sent: ±210 V, ±3.03 A DC (data sheet); pulse width from
50 µs (B2902A) / 10 µs (B2912A) [verify]; pulses above the DC current rating are not offered.
"""

from __future__ import annotations

import numpy as np

from instruments.errors import UnexpectedResponse
from instruments.interfaces import SmuReading, SmuSweepResult, SourceMeter
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool
from instruments.scpi import ScpiSession

V_MAX = 210.0
I_MAX_DC = 3.03
MAX_LIST_POINTS = 2500  # [verify] newer firmware takes 100000
MIN_PULSE_WIDTH_S = {"B2902A": 50e-6, "B2912A": 10e-6}  # [verify]
MIN_PULSE_OFF_S = 10e-6  # base time the instrument needs between pulses [verify]
APERTURE_RANGE_S = (8e-6, 2.0)  # [verify]
SETTLING_S = 100e-6  # automatic source wait per DC point, for the timeout estimate [verify]
COMPLIANCE_BITS = 0b110  # status data bits 1 and 2
#: how far a read-back may differ from what was sent (the instrument rounds to its resolution)
_REL_TOLERANCE = 1e-6
#: how far a channel may sit from the pulse base it is given (pulsed I-V) [verify resolution]
BASE_TOLERANCE_V = 1e-3


class KeysightB2900(KeysightCommon, SourceMeter):
    """One B2902A or B2912A; channels 1 and 2 as on the front panel."""

    supported_models = ("B2902A", "B2912A")
    channels = (1, 2)

    def __init__(self, session: ScpiSession, *, sweep_timeout_margin_s: float = 10.0) -> None:
        self.sweep_timeout_margin_s = sweep_timeout_margin_s
        super().__init__(session)
        self._prepare()

    def _prepare(self) -> None:
        """Settings every method relies on: no automatic output-on (an INIT or MEAS? must never
        switch a D-mode device's bias on), spot data as V, I, status; ASCII data."""
        commands = [":FORM:DATA ASC", ":FORM:ELEM:SENS VOLT,CURR,STAT"]
        commands += [f":OUTP{n}:ON:AUTO OFF" for n in self.channels]
        self._configure(*commands)
        for n in self.channels:
            self._expect_bool(f":OUTP{n}:ON:AUTO?", False)
        elements = self.session.query(":FORM:ELEM:SENS?").strip().upper().replace('"', "")
        if elements.split(",") != ["VOLT", "CURR", "STAT"]:
            raise UnexpectedResponse(elements, ":FORM:ELEM:SENS?", "VOLT,CURR,STAT")

    # -- Instrument ------------------------------------------------------------------------

    def reset(self) -> None:
        """``*RST;*CLS`` (outputs off), the settings of `_prepare`, outputs checked off."""
        self._reset()
        self._prepare()
        self.make_safe()

    #: DC ranges (B2900 data sheet: ±6 V/±3.03 A, ±21 V/±1.515 A, ±210 V/±0.105 A) [verify]
    dc_ranges = ((6.0, 3.03), (21.0, 1.515), (210.0, 0.105))

    def _check_channel(self, channel: int) -> None:
        if channel not in self.channels:
            raise ValueError(f"{self.identity.model} has channels 1 and 2, not {channel!r}")

    @staticmethod
    def _check_voltage(voltage_v: float) -> None:
        if not abs(voltage_v) <= V_MAX:
            raise ValueError(f"{voltage_v} V is outside the ±{V_MAX:g} V range")

    @staticmethod
    def _check_current(current_a: float) -> None:
        if not abs(current_a) <= I_MAX_DC:
            raise ValueError(f"{current_a} A is outside the ±{I_MAX_DC:g} A DC range")

    def _expect_bool(self, command: str, expected: bool) -> None:
        if parse_bool(self.session.query(command), command) != expected:
            raise UnexpectedResponse(self.session.query(command), command, str(int(expected)))

    def _expect_number(self, command: str, expected: float) -> None:
        value = self.session.query_float(command)
        if abs(value - expected) > _REL_TOLERANCE * max(abs(expected), 1e-9) + 1e-12:
            raise UnexpectedResponse(str(value), command, num(expected))

    def _expect_word(self, command: str, expected: str) -> None:
        reply = self.session.query(command).strip().upper()
        if reply != expected:
            raise UnexpectedResponse(reply, command, expected)

    # -- SourceMeter -----------------------------------------------------------------------

    def set_voltage_source(self, channel: int, voltage_v: float, current_limit_a: float
                           ) -> None:
        """Compliance first, then the level, then the mode: while the channel still sources
        current the new voltage level is not applied, so no instant runs without the limit."""
        self._set_source(channel, "VOLT", voltage_v, current_limit_a)

    def set_current_source(self, channel: int, current_a: float, voltage_limit_v: float
                           ) -> None:
        self._set_source(channel, "CURR", current_a, voltage_limit_v)

    def _set_source(self, channel: int, mode: str, level: float, limit: float) -> None:
        self._check_channel(channel)
        limit_kind = "CURR" if mode == "VOLT" else "VOLT"
        if mode == "VOLT":
            self._check_voltage(level)
            self._check_current(limit)
            in_range = self.max_current_limit_a(channel, level)
            if abs(limit) > in_range:
                raise ValueError(f"channel {channel}: a {limit:g} A limit at {level:g} V is "
                                 f"beyond the DC range there ({in_range:g} A)")
        else:
            self._check_current(level)
            self._check_voltage(limit)
        if not limit > 0:
            raise ValueError(f"the compliance must be > 0, not {limit!r}")
        n = channel
        self._configure(f":SENS{n}:{limit_kind}:PROT {num(limit)}",
                        f":SOUR{n}:{mode} {num(level)}",
                        f":SOUR{n}:FUNC:MODE {mode}")
        self._expect_word(f":SOUR{n}:FUNC:MODE?", mode)
        self._expect_number(f":SENS{n}:{limit_kind}:PROT?", limit)
        self._expect_number(f":SOUR{n}:{mode}?", level)

    def set_output(self, channel: int, on: bool) -> None:
        self._check_channel(channel)
        self._configure(f":OUTP{channel} {on_off(on)}")
        self._expect_bool(f":OUTP{channel}?", on)

    def output_is_on(self, channel: int) -> bool:
        self._check_channel(channel)
        command = f":OUTP{channel}?"
        return parse_bool(self.session.query(command), command)

    def measure(self, channel: int) -> SmuReading:
        """``:MEAS? (@n)`` → V, I, status. An output that is off carries nothing: 0 V, 0 A
        (with automatic output-on disabled the instrument refuses to measure it)."""
        if not self.output_is_on(channel):
            return SmuReading(0.0, 0.0, False)
        command = f":MEAS? (@{channel})"
        values = self._floats(command, 3)
        self.session.check_errors(after=command)
        return SmuReading(float(values[0]), float(values[1]),
                          bool(int(values[2]) & COMPLIANCE_BITS))

    def _floats(self, command: str, count: int | None = None) -> np.ndarray:
        reply = self.session.query(command)
        try:
            values = np.array([float(x) for x in reply.split(",")], dtype=float)
        except ValueError:
            raise UnexpectedResponse(reply, command, "comma-separated numbers") from None
        if count is not None and values.size != count:
            raise UnexpectedResponse(reply, command, f"{count} values")
        return values

    def voltage_list_sweep(
        self, channel: int, voltages_v: np.ndarray, current_limit_a: float,
        aperture_s: float = 1e-3, pulse_width_s: float | None = None,
        pulse_period_s: float | None = None, pulse_base_v: float = 0.0,
    ) -> SmuSweepResult:
        """A list sweep on `channel` (its output must already be on: the driver never switches
        a bias on). Pulsed: each point is a pulse from `pulse_base_v`, sampled over the last
        `aperture_s` of the pulse. Afterwards the channel is back to its programme before the
        sweep (mode, level, compliance, DC, fixed). Times are from the first point's sample."""
        self._check_channel(channel)
        voltages = self._check_list(voltages_v, current_limit_a, pulse_base_v)
        self._check_aperture(aperture_s)
        pulse: tuple[float, float] | None = None
        if pulse_width_s is not None:
            pulse = (pulse_width_s, self._check_pulse(aperture_s, pulse_width_s, pulse_period_s))
        elif pulse_period_s is not None:
            raise ValueError("pulse_period_s without pulse_width_s")
        self._require_on(channel)
        n = channel
        previous = self._programme(n)
        # the level between points: the pulse base, else the present voltage (or the first
        # point if the channel was a current source: switching mode applies this level)
        base_v = pulse_base_v if pulse is not None else (
            previous[1] if previous[0] == "VOLT" else float(voltages[0]))
        try:
            self._configure(*self._sweep_setup(n, voltages, current_limit_a, base_v,
                                               aperture_s, pulse))
            self._verify_sweep(n, voltages.size, pulse)
            return self._run((n,), voltages.size, aperture_s, pulse)[0]
        finally:
            self._restore(n, previous)

    def pulsed_iv_sweep(
        self, gate_channel: int, drain_channel: int, gate_pulse_v: np.ndarray,
        drain_pulse_v: np.ndarray, *, gate_base_v: float, drain_base_v: float,
        gate_current_limit_a: float, drain_current_limit_a: float, pulse_width_s: float,
        pulse_period_s: float, aperture_s: float | None = None,
    ) -> tuple[SmuSweepResult, SmuSweepResult]:
        """Both channels in pulse mode from their bases (``:SOUR<n>:VOLT`` = the quiescent
        point, where each output must already sit as a voltage source) with list sweeps of the
        same length, the same ``:PULS:WIDT``/``:PULS:DEL 0`` and transient timer period, the
        acquisition delayed to end the aperture at the pulse end, started together by
        ``:INIT (@g,d)``. Everything is checked before anything is sent; afterwards both
        channels are back at their programme (base, DC compliance, DC, fixed)."""
        plan = ((gate_channel, gate_pulse_v, gate_current_limit_a, gate_base_v),
                (drain_channel, drain_pulse_v, drain_current_limit_a, drain_base_v))
        for n, *_ in plan:
            self._check_channel(n)
        if gate_channel == drain_channel:
            raise ValueError(f"gate and drain are both on channel {gate_channel}")
        levels = {n: self._check_list(v, limit, base) for n, v, limit, base in plan}
        points = levels[gate_channel].size
        if levels[drain_channel].size != points:
            raise ValueError(f"{points} gate levels but {levels[drain_channel].size} drain "
                             "levels: the channels pulse in step, one pair per pulse")
        aperture = pulse_width_s / 2.0 if aperture_s is None else aperture_s
        self._check_aperture(aperture)
        pulse = (pulse_width_s, self._check_pulse(aperture, pulse_width_s, pulse_period_s))
        previous = {}
        for n, _, _, base in plan:
            self._require_on(n)
            previous[n] = self._programme(n)
            if previous[n][0] != "VOLT" or not _close(previous[n][1], base):
                raise RuntimeError(
                    f"channel {n} is at {previous[n][0]} {previous[n][1]:g}, not a voltage "
                    f"source at its {base:g} V base: bias the quiescent point first")
        try:
            for n, _, limit, base in plan:
                self._configure(*self._sweep_setup(n, levels[n], limit, base, aperture, pulse))
            for n, *_ in plan:
                self._verify_sweep(n, points, pulse)
            gate, drain = self._run((gate_channel, drain_channel), points, aperture, pulse)
        finally:
            self._restore_all([(drain_channel, previous[drain_channel]),
                               (gate_channel, previous[gate_channel])])
        return gate, drain

    # -- sweep plumbing --------------------------------------------------------------------

    def _check_list(self, voltages_v: np.ndarray, current_limit_a: float, base_v: float
                    ) -> np.ndarray:
        """The levels as a flat array, checked with the base against the ratings."""
        voltages = np.asarray(voltages_v, dtype=float).ravel()
        if not 1 <= voltages.size <= MAX_LIST_POINTS:
            raise ValueError(f"a list sweep takes 1..{MAX_LIST_POINTS} points, "
                             f"not {voltages.size}")
        for v in (*voltages, base_v):
            self._check_voltage(float(v))
        self._check_current(current_limit_a)
        if not current_limit_a > 0:
            raise ValueError(f"the compliance must be > 0, not {current_limit_a!r}")
        return voltages

    @staticmethod
    def _check_aperture(aperture_s: float) -> None:
        lo, hi = APERTURE_RANGE_S
        if not lo <= aperture_s <= hi:
            raise ValueError(f"aperture {aperture_s} s is outside {lo:g}..{hi:g} s")

    def _require_on(self, channel: int) -> None:
        if not self.output_is_on(channel):
            raise RuntimeError(f"channel {channel} output is off; the sweep does not switch it on")

    @staticmethod
    def _sweep_setup(n: int, voltages: np.ndarray, current_limit_a: float, base_v: float,
                     aperture_s: float, pulse: tuple[float, float] | None) -> list[str]:
        """Commands that programme channel `n`'s list sweep (compliance before any level).
        Pulsed: one pulse per transient-timer period, no pulse delay, the acquisition
        delayed so the aperture ends at the pulse end; the base is ``:SOUR<n>:VOLT``."""
        setup = [f":SENS{n}:CURR:PROT {num(current_limit_a)}", f":SOUR{n}:VOLT {num(base_v)}",
                 f":SOUR{n}:FUNC:MODE VOLT",
                 f":SENS{n}:CURR:APER {num(aperture_s)}",
                 f":SOUR{n}:LIST:VOLT {','.join(num(v) for v in voltages)}",
                 f":SOUR{n}:VOLT:MODE LIST",
                 f":TRIG{n}:COUN {voltages.size}"]
        if pulse is not None:
            width_s, period_s = pulse
            return setup + [
                f":SOUR{n}:PULS:DEL 0", f":SOUR{n}:PULS:WIDT {num(width_s)}",
                f":TRIG{n}:TRAN:SOUR TIM", f":TRIG{n}:TRAN:TIM {num(period_s)}",
                f":TRIG{n}:TRAN:DEL 0", f":TRIG{n}:ACQ:SOUR AINT",
                f":TRIG{n}:ACQ:DEL {num(width_s - aperture_s)}",
                f":SOUR{n}:FUNC:SHAP PULS"]
        return setup + [f":SOUR{n}:FUNC:SHAP DC", f":TRIG{n}:SOUR AINT", f":TRIG{n}:DEL 0"]

    def _run(self, channels: tuple[int, ...], points: int, aperture_s: float,
             pulse: tuple[float, float] | None) -> list[SmuSweepResult]:
        """``:INIT`` the channels together, wait for the sweep, fetch each channel's arrays
        (V, I, time from the first sample, status → compliance, source values)."""
        expected_s = points * (pulse[1] if pulse is not None else aperture_s + SETTLING_S)
        listed = ",".join(str(n) for n in sorted(channels))
        self._configure(f":INIT (@{listed})")
        self.session.opc(expected_s * 1.5 + self.sweep_timeout_margin_s)
        results = []
        for n in channels:
            data = {e: self._floats(f":FETC:ARR:{e}? (@{n})", points)
                    for e in ("VOLT", "CURR", "TIME", "STAT", "SOUR")}
            status = data["STAT"].astype(np.int64)
            results.append(SmuSweepResult(
                source_values=data["SOUR"], voltage_v=data["VOLT"], current_a=data["CURR"],
                time_s=data["TIME"] - data["TIME"][0],
                in_compliance=(status & COMPLIANCE_BITS) != 0))
        self.session.check_errors(after=f":FETC:ARR? (@{listed})")
        return results

    def _check_pulse(self, aperture_s: float, width_s: float | None,
                     period_s: float | None) -> float:
        min_width = MIN_PULSE_WIDTH_S[self.identity.model.upper()]
        if width_s is None or period_s is None:
            raise ValueError("a pulsed sweep needs both pulse_width_s and pulse_period_s")
        if not min_width <= width_s <= 100_000.0:
            raise ValueError(f"pulse width {width_s} s is below the {self.identity.model}'s "
                             f"{min_width * 1e6:g} µs minimum (or above 100000 s)")
        if period_s < width_s + MIN_PULSE_OFF_S:
            raise ValueError(f"pulse period {period_s} s leaves no base time after a "
                             f"{width_s} s pulse")
        if aperture_s > width_s:
            raise ValueError(f"aperture {aperture_s} s does not fit in a {width_s} s pulse")
        return period_s

    def _verify_sweep(self, n: int, points: int, pulse: tuple[float, float] | None) -> None:
        """Read back what the sweep depends on before it runs (for pulses also the width
        and the period both channels must share)."""
        self._expect_word(f":SOUR{n}:FUNC:MODE?", "VOLT")
        self._expect_word(f":SOUR{n}:VOLT:MODE?", "LIST")
        self._expect_number(f":SOUR{n}:LIST:VOLT:POIN?", points)
        self._expect_number(f":TRIG{n}:ACQ:COUN?", points)
        self._expect_number(f":TRIG{n}:TRAN:COUN?", points)
        self._expect_word(f":SOUR{n}:FUNC:SHAP?", "PULS" if pulse is not None else "DC")
        if pulse is not None:
            self._expect_number(f":SOUR{n}:PULS:WIDT?", pulse[0])
            self._expect_number(f":TRIG{n}:TRAN:TIM?", pulse[1])

    def _programme(self, n: int) -> tuple[str, float, float]:
        """(mode, level, compliance) of channel `n` now."""
        mode = self.session.query(f":SOUR{n}:FUNC:MODE?").strip().upper()
        if mode not in ("VOLT", "CURR"):
            raise UnexpectedResponse(mode, f":SOUR{n}:FUNC:MODE?", "VOLT|CURR")
        limit_kind = "CURR" if mode == "VOLT" else "VOLT"
        return (mode, self.session.query_float(f":SOUR{n}:{mode}?"),
                self.session.query_float(f":SENS{n}:{limit_kind}:PROT?"))

    def _restore(self, n: int, previous: tuple[str, float, float]) -> None:
        """Back to DC, fixed level, one trigger and the programme before the sweep."""
        mode, level, limit = previous
        self._configure(f":SOUR{n}:FUNC:SHAP DC", f":SOUR{n}:VOLT:MODE FIX",
                        f":TRIG{n}:COUN 1", f":TRIG{n}:SOUR AINT", f":TRIG{n}:DEL 0")
        self._set_source(n, mode, level, limit)

    def _restore_all(self, channels: list[tuple[int, tuple[str, float, float]]]) -> None:
        """`_restore` every channel in order, each tried even if one before it failed."""
        failure: Exception | None = None
        for n, previous in channels:
            try:
                self._restore(n, previous)
            except Exception as exc:  # noqa: BLE001 - the others must still be restored
                failure = failure or exc
        if failure is not None:
            raise failure


def _close(level_v: float, base_v: float) -> bool:
    """The channel sits at the base (within the programming resolution: no step worth
    a ramp happens when the sweep sets the base exactly)."""
    return abs(level_v - base_v) <= BASE_TOLERANCE_V
