"""The modulated signal chain of the virtual bench: ARB waveform → generator → PA → receivers.

An ARB waveform (complex, peak |I|/|Q| = 1, at the ARB sample clock) becomes an RF signal whose
RMS power is the generator's level setting (MXG and SMW both set the RMS level of a playing
waveform). The simulation represents "analog" signals as periodic complex baseband at a rate high
enough for the PA's spectral regrowth to ±2.5 channel bandwidths without aliasing: the ARB period
is interpolated by an exact band-limited (FFT zero-padding) factor to at least
`SIMULATION_RATE_HZ` (MathWorks' hACLRParametersNR oversamples 100 MHz NR ×5 → 614.4 MS/s; rf
reference §3.3 step 1). The generator adds its own broadband noise floor (its ACLR limit), the PA
applies linear memory then AM-AM/AM-PM sample by sample (reference §3.2 Wiener model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulators.pa_model import PowerAmplifier

#: minimum sample rate of simulated modulated signals (covers ±2.5·100 MHz of regrowth)
SIMULATION_RATE_HZ = 600e6
#: generator wideband noise relative to its RMS carrier: -150 dBc/Hz gives ≈ -70 dBc ACLR for
#: 100 MHz NR, the order of an MXG's specified 5G NR ACLR (typ. -68 dBc) [typ]
GENERATOR_NOISE_DBC_HZ = -150.0
#: quantiles of the envelope power used for the supply-current average (fast, exact enough)
ENVELOPE_QUANTILES = 512


@dataclass(frozen=True)
class GeneratorWaveform:
    """One period of the generator's RF output at unit RMS (mean |x|^2 = 1), oversampled, noise
    floor included; the bench scales it to the level setting. Computed once per waveform."""

    sample_rate_hz: float
    unit_iq: np.ndarray  # mean |x|^2 = 1, band-limited, generator noise included
    envelope_power_quantiles: np.ndarray  # of |unit_iq|^2, ascending (mean 1)
    #: `unit_iq` through the PA's linear memory (memory is linear and precedes the
    #: nonlinearity, so it commutes with the level scaling: computed once per waveform)
    through_memory: np.ndarray | None = None


def interpolation_factor(arb_rate_hz: float, target_hz: float = SIMULATION_RATE_HZ) -> int:
    """Smallest integer L with L·arb_rate ≥ target (1 when the ARB already runs that fast)."""
    return max(1, math.ceil(target_hz / arb_rate_hz - 1e-9))


def band_limited_interpolate(x: np.ndarray, factor: int) -> np.ndarray:
    """Exact band-limited interpolation of one period of a periodic signal by zero-padding its
    spectrum (the DAC's reconstruction filter cuts at the ARB Nyquist frequency)."""
    if factor == 1:
        return x.astype(np.complex128, copy=True)
    n = x.size
    spectrum = np.fft.fft(x)
    padded = np.zeros(n * factor, dtype=np.complex128)
    half = n // 2
    padded[:half] = spectrum[:half]
    padded[-(n - half):] = spectrum[half:]
    return np.fft.ifft(padded) * factor


def generator_waveform(arb_iq: np.ndarray, arb_rate_hz: float, rng: np.random.Generator,
                       noise_dbc_hz: float = GENERATOR_NOISE_DBC_HZ) -> GeneratorWaveform:
    """The generator's output period at unit RMS power, with its noise floor, oversampled."""
    factor = interpolation_factor(arb_rate_hz)
    fs = arb_rate_hz * factor
    x = band_limited_interpolate(np.asarray(arb_iq, dtype=np.complex128), factor)
    x /= math.sqrt(float(np.mean(np.abs(x) ** 2)))
    sigma = math.sqrt(10.0 ** (noise_dbc_hz / 10.0) * fs / 2.0)
    x += sigma * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    x /= math.sqrt(float(np.mean(np.abs(x) ** 2)))
    probabilities = (np.arange(ENVELOPE_QUANTILES) + 0.5) / ENVELOPE_QUANTILES
    quantiles = np.quantile(np.abs(x) ** 2, probabilities)
    return GeneratorWaveform(fs, x, quantiles / np.mean(quantiles))


def with_memory(pa: PowerAmplifier, wave: GeneratorWaveform) -> GeneratorWaveform:
    """`wave` with its period passed through the PA's linear memory (frequency domain, exact
    for a periodic signal); unchanged without memory."""
    if not pa.memory_echo_ratio:
        return replace(wave, through_memory=wave.unit_iq)
    offsets = np.fft.fftfreq(wave.unit_iq.size, 1.0 / wave.sample_rate_hz)
    filtered = np.fft.ifft(np.fft.fft(wave.unit_iq) * pa.memory_response(offsets))
    return replace(wave, through_memory=filtered)


def amplify(pa: PowerAmplifier, x_w: np.ndarray, f_hz: float, supply_v: float | None
            ) -> np.ndarray:
    """PA nonlinearity for input power waves `x_w` (sqrt(W) units, after the linear memory):
    AM-AM/AM-PM sample by sample."""
    return x_w * pa.envelope_gain(np.abs(x_w), f_hz, supply_v)
