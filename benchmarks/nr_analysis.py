"""(d) NR analysis cost: EVM of one 100 MHz / 30 kHz slot and ACLR from 1 ms of IQ.

Issue 3 asks for each to take ≤ 50 ms on this 2-core machine. The baseline column is one
`numpy.fft.fft` over the same samples, measured in the same run, for scale.
"""

from __future__ import annotations

from statistics import median

import numpy as np

from benchmarks._harness import Row, interleaved

TARGET_MS = 50.0


def _cases() -> dict[str, tuple[object, object]]:
    from benchbot.analysis.evm import measure_evm
    from benchbot.analysis.nr_bands import bs_nr_aclr
    from benchbot.analysis.spectrum import aclr_from_psd, psd_welch
    from benchbot.waveforms import generate_nr

    rng = np.random.default_rng(1)
    slot = generate_nr(100, 30, "NR-FR1-TM3.1", n_slots=1, seed=1)
    noise = (rng.standard_normal(slot.iq.size) + 1j * rng.standard_normal(slot.iq.size)) * 0.01
    rx = slot.iq * np.exp(0.3j) + noise
    # 100 MHz ACLR2 reaches ±(2·BW + BW_Config/2): 5× oversampling, 614.4 MS/s (§3.3 step 1)
    wide = generate_nr(100, 30, "NR-FR1-TM1.1", n_slots=2, seed=2, oversampling=5)
    params = bs_nr_aclr(100, 30)
    return {
        "evm": (lambda: measure_evm(rx, slot.sample_rate_hz, slot),
                lambda: np.fft.fft(rx)),
        "aclr": (lambda: aclr_from_psd(psd_welch(wide.iq, wide.sample_rate_hz, rbw_hz=100e3),
                                       params),
                 lambda: np.fft.fft(wide.iq)),
    }


def measure(quick: bool = False) -> dict[str, float]:
    """Median ms per call of each analysis and of its FFT baseline."""
    calls, repeats = (1, 3) if quick else (3, 10)
    result: dict[str, float] = {}
    for name, (analysis, baseline) in _cases().items():
        times = interleaved({"analysis": analysis, "fft": baseline}, calls, repeats)
        result[f"{name}_ms"] = median(times["analysis"]) * 1e3
        result[f"{name}_fft_ms"] = median(times["fft"]) * 1e3
    return result


def rows(result: dict[str, float]) -> list[Row]:
    labels = {"evm": "(d) EVM, one 100 MHz/30 kHz slot (61 440 samples)",
              "aclr": "(d) ACLR1/2, 1 ms of 100 MHz NR at 614.4 MS/s"}
    return [
        Row(label, f"{result[f'{k}_ms']:.1f} ms", f"{result[f'{k}_fft_ms']:.2f} ms (one FFT)",
            result[f"{k}_ms"] / result[f"{k}_fft_ms"], f"≤ {TARGET_MS:.0f} ms",
            result[f"{k}_ms"] <= TARGET_MS)
        for k, label in labels.items()
    ]
