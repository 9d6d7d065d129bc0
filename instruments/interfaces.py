"""Vendor-neutral instrument interfaces: what measurements may ask of an instrument.

Every quantity is in SI units or dB-based units named in the method (Hz, s, V, A, dBm, dB).
Measurements import only this module; they never see SCPI or a vendor's name.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from instruments.scpi import ScpiSession

Detector = Literal["rms", "peak", "sample", "negative_peak", "normal"]


@dataclass(frozen=True)
class Identity:
    """What the instrument says it is (`*IDN?` and `*OPT?`)."""

    manufacturer: str
    model: str
    serial: str
    firmware: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trace:
    """One spectrum-analyzer trace: power per display point against frequency."""

    frequency_hz: np.ndarray
    power_dbm: np.ndarray
    settings: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class IQCapture:
    """Complex baseband samples (volts into 50 ohm, sqrt(W·50)) around a centre frequency."""

    center_frequency_hz: float
    sample_rate_hz: float
    iq: np.ndarray


@dataclass(frozen=True)
class AclrOffset:
    """One adjacent-channel pair: centre-to-centre offset from the carrier and the (square)
    measurement bandwidth of the adjacent channel (38.104 §6.6.3, 38.101-1 §6.5.2.4)."""

    offset_hz: float
    bandwidth_hz: float


@dataclass(frozen=True)
class AclrResult:
    """An analyzer's adjacent-channel-power result, one entry per offset, in offset order.

    Relative values are adjacent-channel power minus carrier power (dBc, negative for a clean
    signal, as analyzers display them); `aclr_db` gives the 3GPP ratio (positive dB).
    """

    carrier_power_dbm: float
    offsets: tuple[AclrOffset, ...]
    lower_dbc: tuple[float, ...]
    upper_dbc: tuple[float, ...]
    lower_dbm: tuple[float, ...]
    upper_dbm: tuple[float, ...]
    settings: dict[str, float | str] = field(default_factory=dict)

    def aclr_db(self, index: int) -> float:
        """3GPP ACLR of offset `index`: carrier over the worse of the two adjacent channels."""
        return -max(self.lower_dbc[index], self.upper_dbc[index])


@dataclass(frozen=True)
class ObwResult:
    """Occupied bandwidth: the band holding `power_percent` of the total power (38.104 §6.6.2)."""

    occupied_bandwidth_hz: float
    power_percent: float
    total_power_dbm: float
    centroid_hz: float
    settings: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class HarmonicsResult:
    """The analyzer's harmonic-distortion result: the fundamental and H2..Hn relative to it."""

    fundamental_hz: float
    fundamental_dbm: float
    harmonics_dbc: tuple[float, ...]  # H2, H3, ... (dBc, negative for a clean signal)
    settings: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToiResult:
    """The analyzer's third-order-intercept result for two tones around the centre."""

    lower_tone_dbm: float
    upper_tone_dbm: float
    lower_im3_dbm: float  # at 2·f_lower - f_upper
    upper_im3_dbm: float  # at 2·f_upper - f_lower
    lower_toi_dbm: float  # intercept from the lower side: P_tone + (P_tone - P_IM3)/2
    upper_toi_dbm: float
    settings: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class SemSegment:
    """One spectrum-emission-mask row, applied on both sides of the channel: the measurement
    filter's centre runs from `start_offset_hz` to `stop_offset_hz` away from the channel edge,
    the limit (dBm in `measurement_bandwidth_hz`) goes linearly from `start_limit_dbm` to
    `stop_limit_dbm` (38.104 §6.6.4 / 38.101-1 §6.5.2.2 tables)."""

    start_offset_hz: float
    stop_offset_hz: float
    start_limit_dbm: float
    stop_limit_dbm: float
    measurement_bandwidth_hz: float


@dataclass(frozen=True)
class SemResult:
    """The analyzer's spectrum-emission-mask result: per segment (in the order given) and side,
    the worst margin (dB, positive = below the limit) and its absolute frequency."""

    carrier_power_dbm: float
    lower_margin_db: tuple[float, ...]
    upper_margin_db: tuple[float, ...]
    lower_frequency_hz: tuple[float, ...]
    upper_frequency_hz: tuple[float, ...]
    settings: dict[str, float | str] = field(default_factory=dict)

    @property
    def worst_margin_db(self) -> float:
        return min(min(self.lower_margin_db), min(self.upper_margin_db))


class Instrument(ABC):
    """Base of every driver: owns one SCPI session; knows its identity."""

    #: models this driver speaks for, as `*IDN?` reports them (e.g. ("N9030B", "N9020B"))
    supported_models: tuple[str, ...] = ()

    def __init__(self, session: ScpiSession) -> None:
        self.session = session
        self.identity = self._read_identity()

    @abstractmethod
    def _read_identity(self) -> Identity:
        """Query `*IDN?`/`*OPT?` and refuse a model this driver does not speak for."""

    @abstractmethod
    def reset(self) -> None:
        """Return to a known state (`*RST;*CLS`), with the output off."""

    @abstractmethod
    def make_safe(self) -> None:
        """Put the instrument in its safe state (outputs off). Never raises on a healthy link."""

    def close(self) -> None:
        self.session.close()


class SignalGenerator(Instrument):
    @abstractmethod
    def set_frequency_hz(self, frequency_hz: float) -> None: ...

    @abstractmethod
    def set_power_dbm(self, power_dbm: float) -> None:
        """Output level; with an ARB waveform playing, its RMS (average) power."""

    @abstractmethod
    def set_power_limit_dbm(self, power_dbm: float) -> None:
        """Instrument-side ceiling on the output level (protects the DUT input)."""

    @abstractmethod
    def set_rf_output(self, on: bool) -> None: ...

    @abstractmethod
    def rf_output_is_on(self) -> bool: ...

    @abstractmethod
    def set_modulation(self, on: bool) -> None: ...

    @abstractmethod
    def load_arb_waveform(self, name: str, iq: np.ndarray, sample_rate_hz: float) -> None:
        """Download complex baseband `iq` to the ARB memory as `name`, scaled by the driver to
        the instrument's format; an empty, odd-length or too-short waveform raises ValueError
        (naming the reason) before anything is sent."""

    @abstractmethod
    def play_arb_waveform(self, name: str, sample_rate_hz: float) -> None:
        """Select waveform `name`, set the ARB sample clock, turn the ARB and modulation on."""


class SignalAnalyzer(Instrument):
    @abstractmethod
    def configure_sweep(
        self,
        center_hz: float,
        span_hz: float,
        rbw_hz: float,
        points: int = 1001,
        detector: Detector = "rms",
        reference_level_dbm: float = 10.0,
        attenuation_db: float = 10.0,
        vbw_hz: float | None = None,
        average_count: int = 1,
    ) -> None:
        """Swept spectrum in single-sweep mode; `average_count` > 1 averages that many sweeps
        into the trace in the detector's domain (power for rms)."""

    @abstractmethod
    def single_sweep(self) -> None:
        """Run one sweep and return when it has completed (`INIT:IMM;*OPC?`)."""

    @abstractmethod
    def fetch_trace(self) -> Trace:
        """The last completed trace, transferred as a binary block."""

    @abstractmethod
    def peak_marker(self) -> tuple[float, float]:
        """(frequency_hz, power_dbm) of the highest point of the last trace."""

    @abstractmethod
    def measure_channel_power(
        self, center_hz: float, bandwidth_hz: float, span_hz: float,
        reference_level_dbm: float, average_count: int = 1,
    ) -> float:
        """Power (dBm) in `bandwidth_hz` (square filter) around `center_hz`, by the
        analyzer's own channel-power measurement (integration-bandwidth method, RMS detector)."""

    @abstractmethod
    def measure_aclr(
        self, center_hz: float, carrier_bandwidth_hz: float, offsets: tuple[AclrOffset, ...],
        reference_level_dbm: float, average_count: int = 1, noise_correction: bool = False,
    ) -> AclrResult:
        """Adjacent-channel power ratios by the analyzer's own ACP/ACLR measurement
        (integration-bandwidth method, RMS detector, square filters)."""

    @abstractmethod
    def measure_obw(
        self, center_hz: float, span_hz: float, reference_level_dbm: float,
        power_percent: float = 99.0, average_count: int = 1,
    ) -> ObwResult:
        """Occupied bandwidth by the analyzer's own OBW measurement."""

    def measure_harmonics(
        self, fundamental_hz: float, harmonics: int, reference_level_dbm: float,
    ) -> HarmonicsResult:
        """H2..H`harmonics` by the analyzer's own harmonic-distortion measurement (each
        harmonic measured in its own zero-span or narrow sweep, RMS power). Optional: an
        analyzer without it raises NotImplementedError (measurements then use swept traces)."""
        raise NotImplementedError(f"{type(self).__name__} has no harmonics measurement")

    def measure_toi(
        self, center_hz: float, tone_spacing_hz: float, reference_level_dbm: float,
    ) -> ToiResult:
        """Two equal tones at center ± spacing/2 and their IM3 products by the analyzer's own
        TOI measurement. Optional, as `measure_harmonics`."""
        raise NotImplementedError(f"{type(self).__name__} has no TOI measurement")

    def measure_sem(
        self, center_hz: float, channel_bandwidth_hz: float,
        segments: tuple[SemSegment, ...], reference_level_dbm: float,
    ) -> SemResult:
        """Spectrum emission mask by the analyzer's own SEM measurement (absolute limits,
        integration over each measurement bandwidth, RMS detector). Optional, as
        `measure_harmonics`."""
        raise NotImplementedError(f"{type(self).__name__} has no SEM measurement")

    def supports_iq_capture(self) -> bool:
        return False

    def capture_iq(
        self, center_hz: float, sample_rate_hz: float, duration_s: float,
        reference_level_dbm: float | None = None,
    ) -> IQCapture:
        """Phase-coherent IQ capture (shared 10 MHz reference); optional capability. With
        `reference_level_dbm` the input range is set for the capture (attenuation coupled to
        it); without, the front end stays as the last sweep left it."""
        raise NotImplementedError(f"{type(self).__name__} has no IQ capture")

    def set_noise_source(self, on: bool) -> None:
        """Switch the analyzer's +28 V noise-source drive (the NOISE SOURCE connector that
        powers a 346-type source) for Y-factor noise figure. Optional capability."""
        raise NotImplementedError(f"{type(self).__name__} cannot drive a noise source")

    def measure_noise_power(
        self, center_hz: float, bandwidth_hz: float, average_count: int = 10,
        preamplifier: bool = True,
    ) -> float:
        """Noise power (dBm) in `bandwidth_hz` around `center_hz` for a Y-factor measurement:
        the channel-power measurement with RMS detector, 0 dB input attenuation, the internal
        preamplifier as asked and the reference level at the bottom of the range, averaged
        `average_count` times in power. Optional capability."""
        raise NotImplementedError(f"{type(self).__name__} has no noise-power measurement")


class PowerMeter(Instrument):
    @abstractmethod
    def set_frequency_hz(self, frequency_hz: float) -> None:
        """Frequency for the sensor's cal-factor correction."""

    @abstractmethod
    def zero(self) -> None:
        """Zero the sensor (no RF applied)."""

    @abstractmethod
    def set_averaging(self, count: int) -> None: ...

    @abstractmethod
    def measure_power_dbm(self) -> float:
        """One settled average-power reading in dBm."""

    def load_cal_factor_table(self, name: str, frequency_hz: Sequence[float],
                              cal_factor_pct: Sequence[float], reference_cal_factor_pct: float
                              ) -> None:
        """Store a sensor's cal-factor table (its calibration certificate: cal factor in %
        against frequency, and the reference cal factor at the 50 MHz power reference) in the
        meter under ``name`` and apply it to this channel, so that each reading is corrected
        by the cal factor the meter interpolates at the frequency of :meth:`set_frequency_hz`.
        For sensors without EEPROM (8480 series); a sensor with EEPROM needs none. Optional
        capability."""
        raise NotImplementedError(f"{type(self).__name__} cannot load a cal-factor table")


class DCSupply(Instrument):
    #: channel numbers this model has (1-based, as printed on the front panel)
    channels: tuple[int, ...] = (1,)

    def rating(self, channel: int) -> tuple[float, float]:
        """(max voltage V, max current A) of ``channel``; (inf, inf): the driver does not say."""
        return math.inf, math.inf

    @abstractmethod
    def set_voltage_v(self, channel: int, voltage_v: float) -> None: ...

    @abstractmethod
    def set_current_limit_a(self, channel: int, current_a: float) -> None: ...

    @abstractmethod
    def set_output(self, channel: int, on: bool) -> None: ...

    @abstractmethod
    def output_is_on(self, channel: int) -> bool: ...

    @abstractmethod
    def measure_voltage_v(self, channel: int) -> float: ...

    @abstractmethod
    def measure_current_a(self, channel: int) -> float: ...

    @abstractmethod
    def in_current_limit(self, channel: int) -> bool:
        """Whether ``channel`` is in constant-current mode: the load would draw more than the
        current limit, so the supply holds the limit and its voltage sags below the set point
        (the supply's compliance). False with the output off."""

    def make_safe(self) -> None:
        for channel in self.channels:
            self.set_output(channel, False)


@dataclass(frozen=True)
class SParameterData:
    """A corrected S-parameter matrix against frequency, as the VNA returned it (SDATA).

    ``s[:, i, j]`` is S(ports[i], ports[j]): the wave out of test port ``ports[i]`` over the
    wave into test port ``ports[j]`` (the other ports terminated by the VNA's loads).
    """

    frequency_hz: np.ndarray
    s: np.ndarray
    ports: tuple[int, ...]
    z0_ohm: float = 50.0
    settings: dict[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True)
class VnaCalibration:
    """The error correction a VNA channel applies, as the instrument reports it."""

    corrected: bool
    cal_set: str = ""
    cal_type: str = ""
    ports: tuple[int, ...] = ()

    def covers(self, ports: tuple[int, ...] | list[int]) -> bool:
        """Whether correction is on and calibrated for every one of ``ports``."""
        return self.corrected and set(ports) <= set(self.ports)


class VectorNetworkAnalyzer(Instrument):
    """A VNA channel (channel 1 unless the driver's ``channel`` option says otherwise)."""

    @property
    @abstractmethod
    def port_count(self) -> int:
        """Test ports the instrument has."""

    @abstractmethod
    def frequency_range_hz(self) -> tuple[float, float]:
        """(lowest, highest) stimulus frequency the instrument accepts."""

    @abstractmethod
    def configure_sweep(
        self,
        start_hz: float,
        stop_hz: float,
        points: int,
        if_bandwidth_hz: float,
        power_dbm: float,
        average_count: int = 1,
    ) -> None:
        """Linear frequency sweep, source power at the test ports, IF bandwidth, sweep
        averaging (1 = off); single-sweep (hold) mode so that nothing sweeps until asked."""

    @abstractmethod
    def sweep_time_s(self) -> float:
        """The instrument's own estimate of one sweep's duration with the current settings."""

    @abstractmethod
    def calibration(self, ports: tuple[int, ...] | None = None) -> VnaCalibration:
        """The active error correction of the channel (cal set, type, calibrated ports)."""

    @abstractmethod
    def measure_s_parameters(
        self, ports: tuple[int, ...], timeout_s: float | None = None,
    ) -> SParameterData:
        """Run one synchronised sweep (all averages) and return the full S-matrix of
        ``ports`` as corrected complex data (SDATA, REAL,64 binary blocks)."""

    @abstractmethod
    def set_rf_output(self, on: bool) -> None:
        """Source power on/off at the test ports (off while a DUT changes state)."""

    @abstractmethod
    def rf_output_is_on(self) -> bool: ...

    def make_safe(self) -> None:
        self.set_rf_output(False)


class RffeController(Instrument):
    """A MIPI RFFE bus master (MIPI RFFE v2.1): VIO supply and register access to the slaves.

    Register addresses 0x00-0x1F use Register Write/Read; 0x20-0xFF Extended Register
    Write/Read (the controller picks the command sequence)."""

    @abstractmethod
    def set_vio(self, on: bool, voltage_v: float = 1.8) -> None:
        """VIO (interface supply and reset: slaves power up with default registers)."""

    @abstractmethod
    def vio_is_on(self) -> bool: ...

    @abstractmethod
    def write_register(self, usid: int, address: int, value: int) -> None: ...

    @abstractmethod
    def read_register(self, usid: int, address: int) -> int: ...

    def make_safe(self) -> None:
        self.set_vio(False)


class GpioController(Instrument):
    """Digital output lines (8-bit ports) that drive a DUT's control pins or a test set."""

    @abstractmethod
    def write_port(self, port: int, value: int) -> None:
        """Drive the 8 lines of ``port`` to ``value`` (bit n = line n, 1 = high)."""

    @abstractmethod
    def read_port(self, port: int) -> int: ...

    def make_safe(self) -> None:
        """GPIO lines keep their state: a DUT control pin has no unsafe level by itself."""


@dataclass(frozen=True)
class SmuReading:
    """One spot measurement of a source-measure channel: what it forces and what it reads."""

    voltage_v: float
    current_a: float
    #: the output is clamped at its limit (a current-limited voltage source or vice versa)
    in_compliance: bool


@dataclass(frozen=True)
class SmuSweepResult:
    """A list sweep of one channel (DC or pulsed): per point the programmed source value, the
    measured voltage and current, the time stamp and whether the point hit the limit."""

    source_values: np.ndarray
    voltage_v: np.ndarray
    current_a: np.ndarray
    time_s: np.ndarray
    in_compliance: np.ndarray


class SourceMeter(Instrument):
    """A source-measure unit with one or more channels (1-based, as on the front panel).

    The limit (compliance) is always given together with the level: a channel is never
    programmed without one. Outputs are switched only by ``set_output``; which order channels
    go on and off in is the safety kernel's business (a D-mode GaN HEMT conducts at Vgs = 0,
    reference §2.6), not the driver's."""

    #: channel numbers this model has
    channels: tuple[int, ...] = (1,)

    @abstractmethod
    def set_voltage_source(self, channel: int, voltage_v: float, current_limit_a: float
                           ) -> None:
        """Force ``voltage_v`` with the current clamped at ±``current_limit_a``."""

    @abstractmethod
    def set_current_source(self, channel: int, current_a: float, voltage_limit_v: float
                           ) -> None:
        """Force ``current_a`` with the voltage clamped at ±``voltage_limit_v``."""

    @abstractmethod
    def set_output(self, channel: int, on: bool) -> None: ...

    @abstractmethod
    def output_is_on(self, channel: int) -> bool: ...

    @abstractmethod
    def measure(self, channel: int) -> SmuReading:
        """Spot measurement of voltage and current, with the compliance status."""

    @abstractmethod
    def voltage_list_sweep(
        self, channel: int, voltages_v: np.ndarray, current_limit_a: float,
        aperture_s: float = 1e-3, pulse_width_s: float | None = None,
        pulse_period_s: float | None = None, pulse_base_v: float = 0.0,
    ) -> SmuSweepResult:
        """Step ``channel`` through ``voltages_v`` (list sweep, one trigger per point) and
        measure V and I at each; with ``pulse_width_s`` each point is a pulse from
        ``pulse_base_v`` sampled inside the pulse. The other channels hold their levels."""

    #: DC source ranges as (max |V|, max current limit A) pairs, lowest voltage first: a
    #: channel sourcing |V| accepts a limit up to the first pair whose voltage covers it
    dc_ranges: tuple[tuple[float, float], ...] = ()

    def max_current_limit_a(self, channel: int, voltage_v: float) -> float:
        """The largest DC current limit ``channel`` accepts while sourcing ``voltage_v`` (0
        beyond its voltage range; inf when the model's ranges are not known). Checked for
        every planned bias point before any output goes on."""
        if not self.dc_ranges:
            return math.inf
        for v_max, i_max in self.dc_ranges:
            if abs(voltage_v) <= v_max:
                return i_max
        return 0.0

    def pulsed_iv_sweep(
        self, gate_channel: int, drain_channel: int, gate_pulse_v: np.ndarray,
        drain_pulse_v: np.ndarray, *, gate_base_v: float, drain_base_v: float,
        gate_current_limit_a: float, drain_current_limit_a: float, pulse_width_s: float,
        pulse_period_s: float, aperture_s: float | None = None,
    ) -> tuple[SmuSweepResult, SmuSweepResult]:
        """Pulsed I-V (reference §2.3): both channels pulse *in step* from their bases (the
        quiescent point, where the outputs already sit) to the k-th listed levels, one pulse per
        point every ``pulse_period_s``, sampled over the last ``aperture_s`` of the pulse
        (default: the last half); returns the (gate, drain) results. Both outputs must already
        be on; afterwards both are back at their bases. Models that cannot pulse two channels
        in step raise NotImplementedError."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot pulse two channels in step (pulsed I-V)")

    def make_safe(self) -> None:
        """Outputs off, highest channel first (a bench's drain is wired above its gate);
        the safety kernel sequences a biased device itself before this is ever needed."""
        for channel in sorted(self.channels, reverse=True):
            self.set_output(channel, False)
