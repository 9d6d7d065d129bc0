"""Keysight N5182B MXG X-Series RF vector signal generator (CW subset) on the virtual bench.

Command forms follow the MXG SCPI reference as used by public drivers (QCoDeS
`Keysight/N51x1.py`: `SOUR:FREQ`, `SOUR:POW`, `OUTP:STAT`; pyVirtualLab `AgilentN5183B`:
`SOUR:POW:LEV:IMM:AMPL`, `SOUR:FREQ:FIX`, `OUTP:MOD:STAT`, `SOUR:POW:USER:MAX/ENAB`).
Ranges: option 506 → 9 kHz..6 GHz; power -144 dBm..+19 dBm, +24 dBm with option 1EA (high power).
Items marked [verify] could not be confirmed against the Keysight manual text.
"""

from __future__ import annotations

from simulators.bench import GeneratorState, VirtualBench
from simulators.scpi_core import ScpiDevice, ScpiError, format_float, parse_bool, parse_number

FREQ_OPTIONS = {"501": 1e9, "503": 3e9, "506": 6e9}  # frequency options (QCoDeS N51x1 table)
MIN_FREQUENCY_HZ = 9e3
MIN_POWER_DBM = -144.0
#: settling after a frequency or level change (s, scaled by time_scale); *OPC? waits for it
SETTLE_S = 0.005


class KeysightMXG(ScpiDevice):
    """N5182B: CW frequency, level, RF and modulation switches, ALC, user power limit."""

    idn = ("Keysight Technologies", "N5182B", "MY59100123", "B.01.86")  # firmware [verify]
    options = ("506", "1EA", "UNT", "UNW")

    def __init__(self, bench: VirtualBench | None = None, role: str = "signal_generator",
                 model: str = "keysight_n5182b") -> None:
        super().__init__(bench if bench is not None else VirtualBench(), role, model)
        self.bench: VirtualBench
        self.max_frequency_hz = max(
            (f for o, f in FREQ_OPTIONS.items() if o in self.options), default=6e9)
        self.max_power_dbm = 24.0 if "1EA" in self.options else 19.0
        self.user_max_dbm = self.max_power_dbm  # not changed by *RST (persistent) [verify]
        self.user_max_enabled = False
        c = self.command
        c("[:SOURce]:FREQuency[:CW|:FIXed]", set=self._set_freq, query=self._query_freq)
        c("[:SOURce]:FREQuency:MODE", set=self._set_freq_mode, query=lambda a, s: "CW")
        c("[:SOURce]:POWer[:LEVel][:IMMediate][:AMPLitude]", set=self._set_power,
          query=self._query_power)
        c("[:SOURce]:POWer:MODE", set=self._set_power_mode, query=lambda a, s: "FIX")
        c("[:SOURce]:POWer:ALC[:STATe]", set=self._set_alc, query=lambda a, s: _b(self.alc))
        c("[:SOURce]:POWer:USER:MAX", set=self._set_user_max,
          query=lambda a, s: format_float(self.user_max_dbm))
        c("[:SOURce]:POWer:USER:ENABle", set=self._set_user_enable,
          query=lambda a, s: _b(self.user_max_enabled))
        c(":OUTPut[:STATe]", set=self._set_rf, query=lambda a, s: _b(self.state.rf_on))
        c(":OUTPut:MODulation[:STATe]", set=self._set_mod,
          query=lambda a, s: _b(self.state.modulation_on))
        c("[:SOURce]:ROSCillator:SOURce", query=lambda a, s: "INT")
        c(":UNIT:POWer", set=self._set_unit, query=lambda a, s: "DBM")
        self.reset()

    @property
    def state(self) -> GeneratorState:
        """The generator's physical state lives on the bench (tests may poke it)."""
        return self.bench.generator

    def reset(self) -> None:
        """*RST: RF off, modulation on, ALC on, CW at the maximum frequency, minimum level.

        Preset frequency/level follow the Keysight source convention (max frequency, min
        power) [verify against the N5182B preset table].
        """
        super().reset()
        st = self.state
        st.frequency_hz = self.max_frequency_hz
        st.level_dbm = MIN_POWER_DBM
        st.modulation_on = True
        self.alc = True
        if st.rf_on:
            self._log("RF OFF (*RST)")
        st.rf_on = False
        self._changed()

    # ------------------------------------------------------------------ helpers
    def _log(self, text: str) -> None:
        self.bench.log_event(self.role, text)

    def _changed(self) -> None:
        self.bench.update()

    # ------------------------------------------------------------------ frequency / level
    def _set_freq(self, args: list[str], _s: tuple[int, ...]) -> None:
        f = parse_number(args[0], "HZ", minimum=MIN_FREQUENCY_HZ, maximum=self.max_frequency_hz,
                         default=self.max_frequency_hz)
        self.state.frequency_hz = f
        self.start_operation(SETTLE_S)
        self._log(f"frequency {f:.6g} Hz")
        self._changed()

    def _query_freq(self, args: list[str], _s: tuple[int, ...]) -> str:
        if args:
            return format_float(parse_number(args[0], "HZ", minimum=MIN_FREQUENCY_HZ,
                                             maximum=self.max_frequency_hz,
                                             default=self.max_frequency_hz))
        return format_float(self.state.frequency_hz)

    def _set_freq_mode(self, args: list[str], _s: tuple[int, ...]) -> None:
        if self.parse_enum(args[0], ["CW", "FIXed", "LIST"]) == "LIST":
            raise ScpiError(-221, "Settings conflict;list sweep not simulated")

    def _power_limits(self) -> tuple[float, float]:
        return MIN_POWER_DBM, self.max_power_dbm

    def _set_power(self, args: list[str], _s: tuple[int, ...]) -> None:
        lo, hi = self._power_limits()
        top = min(hi, self.user_max_dbm) if self.user_max_enabled else hi
        p = parse_number(args[0], "DBM", minimum=lo, maximum=hi, default=lo,
                         keywords={"MAX": top, "MAXIMUM": top})
        if self.user_max_enabled and p > self.user_max_dbm + 1e-9:
            # the level is refused, not clipped [verify error code against the MXG guide]
            raise ScpiError(-221, "Settings conflict;power exceeds user max power")
        self.state.level_dbm = round(p, 2)  # 0.01 dB resolution
        self.start_operation(SETTLE_S)
        self._log(f"level {self.state.level_dbm:.2f} dBm")
        self._changed()

    def _query_power(self, args: list[str], _s: tuple[int, ...]) -> str:
        if args:
            lo, hi = self._power_limits()
            return format_float(parse_number(args[0], "DBM", minimum=lo, maximum=hi, default=lo))
        return format_float(self.state.level_dbm)

    def _set_power_mode(self, args: list[str], _s: tuple[int, ...]) -> None:
        if self.parse_enum(args[0], ["FIXed", "LIST"]) == "LIST":
            raise ScpiError(-221, "Settings conflict;list sweep not simulated")

    def _set_alc(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.alc = parse_bool(args[0])

    def _set_unit(self, args: list[str], _s: tuple[int, ...]) -> None:
        if self.parse_enum(args[0], ["DBM", "DBUV", "V"]) != "DBM":
            raise ScpiError(-221, "Settings conflict;only DBM simulated")

    # ------------------------------------------------------------------ user power limit
    def _set_user_max(self, args: list[str], _s: tuple[int, ...]) -> None:
        lo, hi = self._power_limits()
        self.user_max_dbm = parse_number(args[0], "DBM", minimum=lo, maximum=hi, default=hi)
        self._apply_user_max()

    def _set_user_enable(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.user_max_enabled = parse_bool(args[0])
        self._apply_user_max()

    def _apply_user_max(self) -> None:
        """Enabling a limit below the present level pulls the level down to it [verify]."""
        if self.user_max_enabled and self.state.level_dbm > self.user_max_dbm:
            self.state.level_dbm = self.user_max_dbm
            self._log(f"level limited to user max {self.user_max_dbm:.2f} dBm")
            self._changed()

    # ------------------------------------------------------------------ switches
    def _set_rf(self, args: list[str], _s: tuple[int, ...]) -> None:
        on = parse_bool(args[0])
        if on != self.state.rf_on:
            self._log("RF ON" if on else "RF OFF")
        self.state.rf_on = on
        self.start_operation(SETTLE_S)
        self._changed()

    def _set_mod(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.state.modulation_on = parse_bool(args[0])


def _b(value: bool) -> str:
    return "1" if value else "0"
