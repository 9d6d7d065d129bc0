"""Modulated power sweep of an amplifier with an NR FR1 test model: ACLR, EVM, OBW and PAE
against RMS output power, per frequency.

Acquisition (per step, then per frequency and level):

- the waveform is generated once per step (:mod:`benchbot.waveforms.nr`), downloaded to the
  generator's ARB once and played; its RMS level is what the generator sets, so the planned
  levels are RMS (average) powers at the reference plane;
- per level: output power (analyzer channel power over the channel bandwidth, or a thermal power
  meter), the analyzer's ACLR with the 3GPP BS or UE offsets and measurement bandwidths
  (:mod:`benchbot.analysis.nr_bands`), an IQ capture of one waveform period for EVM
  (:mod:`benchbot.analysis.evm`) and for ACLR from the IQ's PSD where the capture bandwidth
  covers the adjacent channels, the analyzer's 99 % OBW, and the DUT supplies;
- RF off after each frequency (committed row by row), modulation off at the end.

Resume unit (``benchbot run --resume``): one frequency — its whole drive ramp, the spectrum
kept at the rated point and the SEM margin. A frequency committed before an interruption is
kept as recorded and its metrics are computed from the record; any other is measured again
from its lowest level (never restarted mid-ramp: the DUT's drive history would differ). The
waveform is downloaded and played again before the first frequency either way.

Conventions: ``aclr_*_dbc`` datasets are adjacent minus carrier power (negative, as analyzers
show them); the ``aclr*_db`` metrics are the 3GPP ratio (positive) of the worse side. Powers are
referred to the DUT planes with the path loss at the carrier; ACLR and EVM are ratios and need
no correction (the loss slope across ±2 channel bandwidths is neglected).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from benchbot.analysis.capture import align_periodic, crest_factor_db, decimate_periodic
from benchbot.analysis.evm import measure_evm
from benchbot.analysis.nr_bands import AclrParams, bs_nr_aclr, ue_nr_aclr
from benchbot.analysis.spectrum import aclr_from_psd, psd_welch
from benchbot.analysis.sweep_points import highest_x_meeting, mean_of_lowest, value_at
from benchbot.limits import MetricResult
from benchbot.measurements import emission_mask
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import (
    DIMS,
    judge,
    pae_pct,
    read_supplies,
    resumable_row,
    supply_datasets,
    sweep_axes,
    sweep_levels,
    tune_generator,
)
from benchbot.plan import (
    IQ_USABLE_FRACTION,
    ROLE_ANALYZER,
    ROLE_POWER_METER,
    ModulatedPowerSweepStep,
    NrWaveformSpec,
)
from benchbot.waveforms.nr import NRWaveform, generate_nr
from instruments.interfaces import AclrOffset, PowerMeter, SignalAnalyzer, Trace

#: resolution of the PSD the IQ ACLR integrates (Welch, Hann window), at least
IQ_PSD_RBW_HZ = 100e3
#: ACLR/OBW reference level = channel-power reading + waveform PAPR + this (no ADC overload)
REFERENCE_HEADROOM_DB = 3.0
#: channel power: integration bandwidth = channel bandwidth, span = this x it
CHANNEL_POWER_SPAN_FACTOR = 1.5
#: OBW span = this x the channel bandwidth (the 1 % outside must be inside the span)
OBW_SPAN_FACTOR = 2.0
OBW_PERCENT = 99.0  # TS 38.104 §6.6.2
#: spectrum kept at the rated point: ±(outermost offset + MBW/2) x this, RBW = channel BW / 250
SPECTRUM_SPAN_MARGIN = 1.1
#: stored spectrum: RBW no wider than the narrowest SEM measurement bandwidth (100 kHz,
#: 38.104 Table 6.6.4.2.1-2) and display points closer than the RBW, so the trace can be
#: integrated over any MBW (integration-bandwidth method)
SPECTRUM_RBW_HZ = 100e3
SPECTRUM_POINTS = 10001
SPECTRUM_AVERAGES = 20  # RMS trace averaging: ±0.2 dB on a noise-like signal
AXES_ACLR = (*DIMS, "aclr_offset_hz")
AXES_SYMBOL = (*DIMS, "evm_symbol")
AXES_SUBCARRIER = (*DIMS, "evm_subcarrier")


@functools.lru_cache(maxsize=2)
def build_waveform(spec: NrWaveformSpec) -> NRWaveform:
    """The step's waveform (deterministic for its seed); cached, declare and run share it."""
    return generate_nr(bandwidth_mhz=spec.bandwidth_mhz, scs_khz=spec.scs_khz,
                       test_model=spec.test_model_name, n_slots=spec.slots, seed=spec.seed,
                       duplex=spec.duplex, tdd=spec.tdd_pattern, oversampling=spec.oversampling)


@functools.lru_cache(maxsize=2)
def native_reference(spec: NrWaveformSpec) -> NRWaveform:
    """The step's waveform at its native rate (N_FFT x SCS): the EVM reference."""
    return build_waveform(spec).native_reference()


def aclr_params(step: ModulatedPowerSweepStep) -> AclrParams:
    """The 3GPP ACLR parameter set of the step (BS: TS 38.104, UE: TS 38.101-1)."""
    w = step.waveform
    if step.aclr.requirement == "bs":
        return bs_nr_aclr(w.bandwidth_mhz, w.scs_khz)
    return ue_nr_aclr(w.bandwidth_mhz, w.scs_khz, step.aclr.power_class)


@dataclass(frozen=True)
class _Setup:
    """Everything derived from the step once: waveform (as played, and at its native rate for
    EVM), ACLR set, capture plan."""

    waveform: NRWaveform
    reference: NRWaveform  # the waveform at its native rate N_FFT x SCS (EVM reference)
    params: AclrParams
    offsets: tuple[AclrOffset, ...]
    crest_db: float  # peak over whole-period RMS (the generator's and analyzer's RMS)
    period_s: float
    capture_rate_hz: float
    iq_offsets: tuple[bool, ...]  # which offsets the IQ capture bandwidth covers
    arb_name: str

    @property
    def channel_bw_hz(self) -> float:
        return self.params.channel_bw_hz


def setup(step: ModulatedPowerSweepStep) -> _Setup:
    """Waveform, ACLR parameter set and IQ capture plan of the step (waveforms cached)."""
    wf = build_waveform(step.waveform)
    params = aclr_params(step)
    rate = wf.native_sample_rate_hz * step.iq_oversampling
    usable_half = IQ_USABLE_FRACTION * rate / 2
    half_mbw = params.adjacent_mbw_hz / 2
    return _Setup(
        waveform=wf, reference=native_reference(step.waveform), params=params,
        offsets=tuple(AclrOffset(o, params.adjacent_mbw_hz) for o in params.offsets_hz),
        crest_db=crest_factor_db(wf.iq), period_s=wf.iq.size / wf.sample_rate_hz,
        capture_rate_hz=rate,
        iq_offsets=tuple(o + half_mbw <= usable_half for o in params.offsets_hz),
        arb_name="bb_" + step.name.replace("-", "_"),
    )


def declare(step: ModulatedPowerSweepStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    s = setup(step)
    axes = sweep_axes(step)
    axes["aclr_offset_hz"] = (np.asarray(s.params.offsets_hz, dtype=float), "Hz")
    datasets: dict[str, tuple[tuple[str, ...], str, str]] = {
        "generator_power_dbm": (DIMS, "dBm", "generator RMS level setting"),
        "input_power_dbm": (DIMS, "dBm", "RMS power at the DUT input plane"),
        "output_reading_dbm": (DIMS, "dBm", "RMS output power as read at the instrument port"),
        "output_power_dbm": (DIMS, "dBm", _output_long_name(step)),
    }
    if step.aclr.uses_analyzer:
        for side in ("lower", "upper"):
            datasets[f"aclr_{side}_dbc"] = (AXES_ACLR, "dBc", f"{side} adjacent channel minus "
                                            f"carrier power, analyzer ACP ({s.params.name})")
    if step.aclr.uses_iq:
        for side in ("lower", "upper"):
            datasets[f"aclr_iq_{side}_dbc"] = (AXES_ACLR, "dBc", f"{side} adjacent channel "
                                               f"minus carrier power from the IQ capture's PSD "
                                               f"(NaN outside the capture bandwidth)")
    if step.measure_evm:
        axes["evm_symbol"] = (np.arange(s.waveform.n_symbols, dtype=float), "")
        axes["evm_subcarrier"] = (np.arange(s.waveform.n_subcarriers, dtype=float), "")
        datasets["evm_pct"] = (DIMS, "%", "RMS EVM over the PDSCH data REs (38.104 Annex B, "
                               "simplified)")
        mod = step.waveform.modulation
        datasets[_evm_mod_name(mod)] = (DIMS, "%", f"RMS EVM of the {mod} REs")
        datasets["evm_per_symbol_pct"] = (AXES_SYMBOL, "%", "RMS EVM per OFDM symbol")
        datasets["evm_per_subcarrier_pct"] = (AXES_SUBCARRIER, "%", "RMS EVM per subcarrier")
    if step.measure_obw:
        datasets["obw_hz"] = (DIMS, "Hz", f"{OBW_PERCENT:g} % occupied bandwidth (analyzer)")
    datasets.update(emission_mask.datasets(step))
    datasets.update(supply_datasets(bench.supply_names))
    datasets["pae_pct"] = (DIMS, "%", "PAE = (Pout - Pin) / P_DC")
    return axes, datasets


def run(step: ModulatedPowerSweepStep, bench: BenchView, ctx: StepContext
        ) -> list[MetricResult]:
    """Play the waveform, sweep every frequency (one committed row each; a row committed
    before an interruption is read back instead), then analyse."""
    s = setup(step)
    if step.captures_iq and not bench.analyzer.supports_iq_capture():
        raise RuntimeError(f"step {step.name!r} needs an IQ capture (EVM or ACLR from IQ) and "
                           f"the analyzer ({type(bench.analyzer).__name__}) has none")
    gen = bench.generator
    gen.set_rf_output(False)
    gen.load_arb_waveform(s.arb_name, s.waveform.iq, s.waveform.sample_rate_hz)
    gen.play_arb_waveform(s.arb_name, s.waveform.sample_rate_hz)
    meta = s.waveform.metadata()
    if step.aclr.uses_iq and not all(s.iq_offsets):
        outside = [o for o, ok in zip(s.params.offsets_hz, s.iq_offsets, strict=True) if not ok]
        ctx.log("warning", f"step {step.name}: ACLR from IQ is NaN at offsets "
                f"{', '.join(f'{o / 1e6:g} MHz' for o in outside)}: outside "
                f"{IQ_USABLE_FRACTION:.0%} of the {s.capture_rate_hz / 1e6:g} MS/s capture "
                "(raise iq_oversampling)")
    ctx.log("info", f"step {step.name}: ARB {s.arb_name} = {meta['name']}, "
            f"{meta['n_samples']} samples at {s.waveform.sample_rate_hz / 1e6:g} MS/s "
            f"({meta['duration_note']}), PAPR {meta['papr_db']:.2f} dB at 0.01 % CCDF, crest "
            f"factor {s.crest_db:.2f} dB over the period RMS, DL duty cycle "
            f"{meta['dl_duty_cycle']:.3f}; shaping: {meta['shaping']}; levels and Pout are "
            f"whole-period RMS (not gated); the SOA is judged on the RMS input level")
    results: list[MetricResult] = []
    try:
        for fi, frequency_hz in enumerate(step.frequencies_hz):
            row = resumable_row(ctx, fi, functools.partial(
                _sweep_frequency, step, s, bench, ctx, fi, float(frequency_hz)))
            results.extend(evaluate_row(step, s, float(frequency_hz), row,
                                        has_supplies=bool(bench.supplies)))
    finally:
        gen.set_rf_output(False)
        gen.set_modulation(False)
    return results


def _sweep_frequency(step: ModulatedPowerSweepStep, s: _Setup, bench: BenchView,
                     ctx: StepContext, fi: int, frequency_hz: float) -> dict[str, np.ndarray]:
    gen = bench.generator
    generator_dbm, input_dbm = tune_generator(step, bench, frequency_hz)
    meter = bench.optional(ROLE_POWER_METER, PowerMeter)
    if step.output_power_from == ROLE_POWER_METER and meter is not None:
        meter.set_frequency_hz(frequency_hz)

    def measure(pi: int) -> dict[str, float | np.ndarray]:
        point = measure_point(step, s, bench, frequency_hz)
        point["pae_pct"] = float(pae_pct(input_dbm[pi], point["output_power_dbm"],
                                         point["dc_power_w"]))
        return point

    return sweep_levels(
        gen, generator_dbm, input_dbm, step.settle_s, ctx, fi, measure,
        at_top=lambda row: _at_rated_point(step, s, bench, ctx, fi, frequency_hz, generator_dbm,
                                           row),
    )


def measure_point(step: ModulatedPowerSweepStep, s: _Setup, bench: BenchView,
                  frequency_hz: float) -> dict[str, float | np.ndarray]:
    """Everything measured at one drive level (RF on, waveform playing)."""
    analyzer = bench.analyzer
    point: dict[str, float | np.ndarray] = _output_power(step, s, bench, frequency_hz)
    analyzer_in_dbm = float(point["output_power_dbm"]) - float(
        bench.loss(ROLE_ANALYZER).loss_db_at(frequency_hz))
    reference_dbm = math.ceil(analyzer_in_dbm + s.crest_db + REFERENCE_HEADROOM_DB)
    if step.aclr.uses_analyzer:
        acp = analyzer.measure_aclr(
            center_hz=frequency_hz, carrier_bandwidth_hz=s.params.main_mbw_hz,
            offsets=s.offsets, reference_level_dbm=reference_dbm,
            average_count=step.average_count, noise_correction=step.aclr.noise_correction)
        point["aclr_lower_dbc"] = np.asarray(acp.lower_dbc, dtype=float)
        point["aclr_upper_dbc"] = np.asarray(acp.upper_dbc, dtype=float)
    if step.captures_iq:
        point.update(_iq_point(step, s, analyzer, frequency_hz))
    if step.measure_obw:
        obw = analyzer.measure_obw(
            center_hz=frequency_hz, span_hz=OBW_SPAN_FACTOR * s.channel_bw_hz,
            reference_level_dbm=reference_dbm, power_percent=OBW_PERCENT,
            average_count=step.average_count)
        point["obw_hz"] = obw.occupied_bandwidth_hz
    point.update(read_supplies(bench.supplies))
    return point


def _output_power(step: ModulatedPowerSweepStep, s: _Setup, bench: BenchView,
                  frequency_hz: float) -> dict[str, float | np.ndarray]:
    """RMS output power: analyzer channel power over the channel bandwidth, or thermal total
    power from a power meter; read at the instrument port and referred to the DUT output."""
    role = step.output_power_from
    if role == ROLE_POWER_METER:
        reading = bench.role(ROLE_POWER_METER, PowerMeter).measure_power_dbm()
    else:
        reading = bench.analyzer.measure_channel_power(
            center_hz=frequency_hz, bandwidth_hz=s.channel_bw_hz,
            span_hz=CHANNEL_POWER_SPAN_FACTOR * s.channel_bw_hz,
            reference_level_dbm=step.analyzer_reference_level_dbm,
            average_count=step.average_count)
    loss = float(bench.loss(role).loss_db_at(frequency_hz))
    return {"output_reading_dbm": reading, "output_power_dbm": reading + loss}


def _iq_point(step: ModulatedPowerSweepStep, s: _Setup, analyzer: SignalAnalyzer,
              frequency_hz: float) -> dict[str, float | np.ndarray]:
    """One period of IQ: EVM at the waveform's rate, ACLR from the PSD where it is covered."""
    capture = analyzer.capture_iq(frequency_hz, s.capture_rate_hz, s.period_s)
    if not math.isclose(capture.sample_rate_hz, s.capture_rate_hz, rel_tol=1e-9):
        raise RuntimeError(f"analyzer captured at {capture.sample_rate_hz:g} Sa/s instead of "
                           f"{s.capture_rate_hz:g} Sa/s (EVM needs a whole multiple of the "
                           f"waveform's native {s.reference.sample_rate_hz:g} Sa/s)")
    n = s.reference.iq.size * step.iq_oversampling
    if capture.iq.size < n:
        raise RuntimeError(f"IQ capture returned {capture.iq.size} samples, one waveform "
                           f"period is {n}")
    iq = np.asarray(capture.iq[:n], dtype=np.complex128)
    point: dict[str, float | np.ndarray] = {}
    if step.aclr.uses_iq:
        lower, upper = iq_aclr_dbc(iq, s.capture_rate_hz, s.params, s.iq_offsets)
        point["aclr_iq_lower_dbc"], point["aclr_iq_upper_dbc"] = lower, upper
    if step.measure_evm:
        point.update(evm_point(iq, step.iq_oversampling, s.reference, step.waveform.modulation))
    return point


def iq_aclr_dbc(iq: np.ndarray, sample_rate_hz: float, params: AclrParams,
                covered: tuple[bool, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) adjacent minus carrier power in dB per offset from the capture's Welch
    PSD (square filters, TS 38.104 §6.6.3); NaN for offsets outside the capture bandwidth."""
    lower = np.full(len(params.offsets_hz), np.nan)
    upper = np.full(len(params.offsets_hz), np.nan)
    inside = tuple(o for o, ok in zip(params.offsets_hz, covered, strict=True) if ok)
    if not inside:
        return lower, upper
    rbw = max(IQ_PSD_RBW_HZ, 16.0 * sample_rate_hz / iq.size)  # >= ~16 Welch segments
    psd = psd_welch(iq, sample_rate_hz, rbw_hz=rbw, center_hz=0.0)
    result = aclr_from_psd(psd, dataclasses.replace(params, offsets_hz=inside), center_hz=0.0)
    for k in range(len(inside)):
        lower[k], upper[k] = -result.lower_db[k], -result.upper_db[k]
    return lower, upper


def evm_point(iq: np.ndarray, oversampling: int, waveform: NRWaveform, modulation: str
              ) -> dict[str, float | np.ndarray]:
    """EVM of one captured period at ``oversampling`` x the rate of ``waveform`` (the
    reference): decimate to its rate, align circularly, demodulate (38.104 Annex B)."""
    rx = decimate_periodic(iq, oversampling)
    rx, _ = align_periodic(rx, waveform.iq)
    evm = measure_evm(rx, waveform.sample_rate_hz, waveform,
                      max_timing_offset=int(waveform.cp_lengths.min()))
    return {
        "evm_pct": evm.evm_pct,
        _evm_mod_name(modulation): evm.evm_by_modulation_pct.get(modulation, math.nan),
        "evm_per_symbol_pct": evm.evm_per_symbol_pct,
        "evm_per_subcarrier_pct": evm.evm_per_subcarrier_pct,
    }


def rated_index(step: ModulatedPowerSweepStep, pout_dbm: np.ndarray) -> int:
    """The sweep point nearest the rated output power (the highest level if none is given)."""
    if step.rated_output_power_dbm is None or not np.any(np.isfinite(pout_dbm)):
        return len(pout_dbm) - 1
    return int(np.nanargmin(np.abs(pout_dbm - step.rated_output_power_dbm)))


def _at_rated_point(step: ModulatedPowerSweepStep, s: _Setup, bench: BenchView,
                    ctx: StepContext, fi: int, frequency_hz: float, generator_dbm: np.ndarray,
                    row: dict[str, np.ndarray]) -> None:
    """Back at the level nearest the rated Pout: the stored spectrum (carrier and adjacent
    channels, RMS detector, averaged) and, with `sem`, the emission-mask margin, put in `row`."""
    k = rated_index(step, row["output_power_dbm"])
    bench.generator.set_power_dbm(float(generator_dbm[k]))
    loss = bench.loss(ROLE_ANALYZER)
    reference_dbm = math.ceil(float(row["output_power_dbm"][k]) - loss.loss_db_at(frequency_hz)
                              + s.crest_db + REFERENCE_HEADROOM_DB)
    trace = _store_spectrum(step, s, bench, ctx, frequency_hz, float(generator_dbm[k]),
                            float(row["output_power_dbm"][k]), reference_dbm)
    if step.sem is None:
        return
    if step.sem.method == "trace":
        margin, where, note = emission_mask.from_trace(step, trace, loss, frequency_hz)
    else:
        margin, where, note = emission_mask.from_analyzer(step, bench.analyzer, loss,
                                                          frequency_hz, reference_dbm)
    ctx.write("sem_margin_db", (fi,), margin)
    ctx.write("sem_worst_frequency_hz", (fi,), where)
    row["sem_margin_db"] = np.asarray(margin, dtype=float)  # as the record reads it back
    ctx.log("info", f"SEM at {frequency_hz / 1e6:g} MHz: worst margin {margin:.2f} dB at "
                    f"{where / 1e6:.3f} MHz; {note}")


def _store_spectrum(step: ModulatedPowerSweepStep, s: _Setup, bench: BenchView,
                    ctx: StepContext, frequency_hz: float, generator_dbm: float,
                    output_dbm: float, reference_dbm: float) -> Trace:
    """Sweep the carrier and its adjacent channels (RMS detector, averaged) and keep it."""
    loss_db = float(bench.loss(ROLE_ANALYZER).loss_db_at(frequency_hz))
    span_hz = SPECTRUM_SPAN_MARGIN * 2 * (max(s.params.offsets_hz) + s.params.adjacent_mbw_hz / 2)
    analyzer = bench.analyzer
    analyzer.configure_sweep(
        center_hz=frequency_hz, span_hz=span_hz, rbw_hz=min(SPECTRUM_RBW_HZ, s.channel_bw_hz / 50),
        points=SPECTRUM_POINTS, detector="rms", average_count=SPECTRUM_AVERAGES,
        reference_level_dbm=reference_dbm)
    analyzer.single_sweep()
    trace = analyzer.fetch_trace()
    attrs = dict(trace.settings)
    attrs.update(carrier_frequency_hz=frequency_hz, generator_power_dbm=generator_dbm,
                 output_power_dbm=output_dbm, output_path_loss_db=loss_db,
                 aclr_parameter_set=s.params.name,
                 reference_plane="analyzer input (add output_path_loss_db for the DUT output)")
    name = f"spectrum_rated_{frequency_hz / 1e6:.0f}MHz"
    ctx.add_trace(name, trace.frequency_hz, trace.power_dbm, "Hz", "dBm", attrs)
    return trace


# -- analysis of one frequency row ------------------------------------------------------


def worst_aclr_db(lower_dbc: np.ndarray, upper_dbc: np.ndarray) -> np.ndarray:
    """3GPP ACLR (positive dB) of the worse side, per point and offset: ``-max(lower, upper)``."""
    with np.errstate(invalid="ignore"):
        return -np.fmax(np.asarray(lower_dbc, dtype=float), np.asarray(upper_dbc, dtype=float))


def evaluate_row(step: ModulatedPowerSweepStep, s: _Setup, frequency_hz: float,
                 row: dict[str, np.ndarray], has_supplies: bool) -> list[MetricResult]:
    """The step's metrics at one frequency from its measured row (pure: no instrument)."""
    condition: dict[str, float | str] = {"frequency_hz": frequency_hz}
    pout, pin = row["output_power_dbm"], row["input_power_dbm"]
    out = []
    gain = mean_of_lowest(pout - pin, step.small_signal_points)
    out.append(judge(step, "modulated_gain_db", gain.value,
                     f"G = Pout - Pin (RMS); {gain.note}", condition))
    prefix = "aclr" if step.aclr.uses_analyzer else "aclr_iq"
    how = ("analyzer ACP" if step.aclr.uses_analyzer else "IQ-capture PSD") + \
        f", {s.params.name} ({s.params.source})"
    if not step.aclr.uses_analyzer and not all(s.iq_offsets):
        how += "; offsets outside the IQ capture bandwidth are NaN"
    lower = np.atleast_2d(row[f"{prefix}_lower_dbc"].reshape(len(pout), -1))
    upper = np.atleast_2d(row[f"{prefix}_upper_dbc"].reshape(len(pout), -1))
    aclr = worst_aclr_db(lower, upper)
    rated = step.rated_output_power_dbm
    at_rated = {"aclr1_db_at_rated_pout": (aclr[:, 0], f"ACLR1 by {how}")}
    if len(s.params.offsets_hz) > 1:
        at_rated["aclr2_db_at_rated_pout"] = (aclr[:, 1], f"ACLR2 by {how}")
    if step.measure_evm:
        at_rated["evm_pct_at_rated_pout"] = (row["evm_pct"], "EVM (38.104 Annex B, simplified)")
    if step.measure_obw:
        at_rated["obw_hz_at_rated_pout"] = (row["obw_hz"], f"{OBW_PERCENT:g} % OBW by analyzer")
    if has_supplies:
        at_rated["pae_at_rated_pout_pct"] = (row["pae_pct"], "PAE = (Pout - Pin)/P_DC")
    if rated is not None:
        for metric, (values, what) in at_rated.items():
            r = value_at(pout, values, rated, what)
            out.append(judge(step, metric, r.value, f"{r.note} (Pout {rated:g} dBm)", condition))
    if step.aclr_threshold_db is not None:
        r = highest_x_meeting(pout, aclr[:, 0], step.aclr_threshold_db, "at_least",
                              f"worst ACLR1 ({how})")
        out.append(judge(step, "pout_at_aclr_limit_dbm", r.value, r.note, condition))
    if step.evm_threshold_pct is not None and step.measure_evm:
        r = highest_x_meeting(pout, row["evm_pct"], step.evm_threshold_pct, "at_most", "EVM %")
        out.append(judge(step, "pout_at_evm_limit_dbm", r.value, r.note, condition))
    if step.sem is not None and "sem_margin_db" in row:
        k = rated_index(step, pout)
        margin = float(np.ravel(row["sem_margin_db"])[0])
        out.append(judge(step, "sem_margin_db_at_rated_pout", margin,
                         f"{emission_mask.mask_for(step).name}, {step.sem.method} method, at "
                         f"Pout {pout[k]:.2f} dBm (the level nearest {rated:g} dBm)", condition))
    return out


def _evm_mod_name(modulation: str) -> str:
    """Dataset name of one modulation's EVM, e.g. ``evm_256qam_pct``."""
    return f"evm_{modulation.lower()}_pct"


def _output_long_name(step: ModulatedPowerSweepStep) -> str:
    if step.output_power_from == ROLE_POWER_METER:
        return "RMS output power at the DUT output plane (thermal sensor, total power)"
    return "RMS output power at the DUT output plane (channel power over the channel bandwidth)"
