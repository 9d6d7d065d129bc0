"""Keysight N5182B MXG X-Series RF vector signal generator (CW subset) on the virtual bench.

Command forms follow the MXG SCPI reference as used by public drivers (QCoDeS
`Keysight/N51x1.py`: `SOUR:FREQ`, `SOUR:POW`, `OUTP:STAT`; pyVirtualLab `AgilentN5183B`:
`SOUR:POW:LEV:IMM:AMPL`, `SOUR:FREQ:FIX`, `OUTP:MOD:STAT`, `SOUR:POW:USER:MAX/ENAB`).
Ranges: option 506 → 9 kHz..6 GHz; power -144 dBm..+19 dBm, +24 dBm with option 1EA (high power).
ARB (pyarbtools ``VSG``; rf reference §4.4): ``:MMEM:DATA "WFM1:<name>",#<block>`` stores
int16 big-endian interleaved I/Q in volatile waveform memory, ``:MEM:CAT? "WFM1"`` lists it,
``:RAD:ARB:WAV``/``:RAD:ARB:SCL:RATE``/``:RAD:ARB[:STAT]`` select and play it.
Items marked [verify] could not be confirmed against the Keysight manual text.
"""

from __future__ import annotations

import numpy as np

from simulators.bench import GeneratorState, VirtualBench
from simulators.scpi_core import (
    ScpiDevice,
    ScpiError,
    format_float,
    parse_block,
    parse_bool,
    parse_number,
    parse_string,
)

FREQ_OPTIONS = {"501": 1e9, "503": 3e9, "506": 6e9}  # frequency options (QCoDeS N51x1 table)
MIN_FREQUENCY_HZ = 9e3
MIN_POWER_DBM = -144.0
#: settling after a frequency or level change (s, scaled by time_scale); *OPC? waits for it
SETTLE_S = 0.005
#: ARB sample clock range (Hz) and *RST value [verify against the N5182B BBG data sheet]
ARB_MIN_RATE_HZ = 1e3
ARB_MAX_RATE_HZ = 200e6
ARB_DEFAULT_RATE_HZ = 100e6
ARB_MIN_SAMPLES = 60  # pyarbtools VSG: granularity 2, minimum 60 samples
WFM1_BYTES = 1 << 30  # volatile waveform memory size reported by :MEM:CAT? [verify]


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
        self.wfm1: dict[str, np.ndarray] = {}  # volatile ARB memory: name → int16 I,Q pairs
        self.arb_selected: str | None = None
        self.arb_rate_hz = ARB_DEFAULT_RATE_HZ
        c(":MMEMory:DATA", set=self._set_mmem_data, query=self._query_mmem_data)
        c(":MEMory:CATalog[:ALL]", query=self._query_catalog)
        c("[:SOURce]:RADio:ARB:WAVeform", set=self._set_arb_wave,
          query=lambda a, s: f'"WFM1:{self.arb_selected}"' if self.arb_selected else '""')
        c("[:SOURce]:RADio:ARB:SCLock:RATE", set=self._set_arb_rate,
          query=lambda a, s: format_float(self.arb_rate_hz))
        c("[:SOURce]:RADio:ARB[:STATe]", set=self._set_arb_state,
          query=lambda a, s: _b(self.state.arb_on))
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
        # *RST: ARB off and default clock; waveform memory and the selection survive [verify]
        if getattr(self, "wfm1", None) is not None:
            self.arb_rate_hz = ARB_DEFAULT_RATE_HZ
            if st.arb_on:
                self._log("ARB OFF (*RST)")
        st.arb_on = False
        st.arb_iq = None
        st.arb_sample_rate_hz = None
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

    # ------------------------------------------------------------------ ARB
    @staticmethod
    def _wfm1_name(arg: str) -> str:
        """``"WFM1:<name>"`` → name; another volume or a bad name → -256 [verify code]."""
        text = parse_string(arg)
        volume, sep, name = text.partition(":")
        if not sep or volume.upper() != "WFM1" or not name:
            raise ScpiError(-256, f"File name not found;{text}")
        return name

    def _set_mmem_data(self, args: list[str], _s: tuple[int, ...]) -> None:
        if len(args) != 2:
            raise ScpiError(-109)
        name = self._wfm1_name(args[0])
        data = parse_block(args[1])
        if len(data) % 4:
            raise ScpiError(-161, "Invalid block data;not whole int16 I,Q pairs")
        samples = len(data) // 4
        if samples < ARB_MIN_SAMPLES or samples % 2:
            raise ScpiError(-224, f"Illegal parameter value;{samples} samples (need an even "
                                  f"count >= {ARB_MIN_SAMPLES})")  # [verify code and text]
        self.wfm1[name] = np.frombuffer(data, dtype=">i2").astype(np.int16)
        self._log(f"ARB waveform WFM1:{name} stored ({samples} samples)")
        if self.arb_selected == name and self.state.arb_on:
            self._apply_arb()

    def _query_mmem_data(self, args: list[str], _s: tuple[int, ...]) -> bytes:
        name = self._wfm1_name(args[0])
        if name not in self.wfm1:
            raise ScpiError(-256, f"File name not found;WFM1:{name}")
        payload = self.wfm1[name].astype(">i2").tobytes()
        length = str(len(payload)).encode("ascii")
        return b"#%d%s" % (len(length), length) + payload

    def _query_catalog(self, args: list[str], _s: tuple[int, ...]) -> str:
        """SCPI MMEMory:CATalog form ``<used>,<free>{,"<name>,<type>,<size>"}`` [verify]."""
        if args and parse_string(args[0]).upper().rstrip(":") != "WFM1":
            return f"0,{WFM1_BYTES}"
        sizes = {name: iq.nbytes for name, iq in sorted(self.wfm1.items())}
        used = sum(sizes.values())
        entries = "".join(f',"{name},WFM1,{size}"' for name, size in sizes.items())
        return f"{used},{WFM1_BYTES - used}{entries}"

    def _set_arb_wave(self, args: list[str], _s: tuple[int, ...]) -> None:
        name = self._wfm1_name(args[0])
        if name not in self.wfm1:
            raise ScpiError(-256, f"File name not found;WFM1:{name}")
        self.arb_selected = name
        self.start_operation(SETTLE_S)  # loading into playback memory; *OPC? waits for it
        self._log(f"ARB waveform WFM1:{name} selected")
        if self.state.arb_on:
            self._apply_arb()

    def _set_arb_rate(self, args: list[str], _s: tuple[int, ...]) -> None:
        self.arb_rate_hz = parse_number(args[0], "HZ", minimum=ARB_MIN_RATE_HZ,
                                        maximum=ARB_MAX_RATE_HZ, default=ARB_DEFAULT_RATE_HZ)
        if self.state.arb_on:
            self._apply_arb()

    def _set_arb_state(self, args: list[str], _s: tuple[int, ...]) -> None:
        on = parse_bool(args[0])
        if on and self.arb_selected is None:
            raise ScpiError(-221, "Settings conflict;no ARB waveform selected")  # [verify]
        st = self.state
        if on != st.arb_on:
            self._log("ARB ON" if on else "ARB OFF")
        st.arb_on = on
        if on:
            self._apply_arb()
        else:
            st.arb_iq = None
            st.arb_sample_rate_hz = None
            self._changed()

    def _apply_arb(self) -> None:
        """Publish the playing waveform on the bench: complex, normalised to its peak code."""
        assert self.arb_selected is not None
        codes = self.wfm1[self.arb_selected].astype(np.float64)
        peak = float(np.max(np.abs(codes))) or 1.0
        self.state.arb_iq = (codes[0::2] + 1j * codes[1::2]) / peak
        self.state.arb_sample_rate_hz = self.arb_rate_hz
        self._changed()


def _b(value: bool) -> str:
    return "1" if value else "0"
