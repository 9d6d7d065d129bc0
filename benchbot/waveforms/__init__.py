"""Waveform generators (pure numpy, no I/O)."""

from benchbot.waveforms.nr import (
    MODULATIONS,
    N_RB_TABLE,
    TEST_MODELS,
    NRWaveform,
    Numerology,
    bw_config_hz,
    constellation,
    fft_size_for,
    generate_nr,
    n_rb,
    qam_map,
)

__all__ = [
    "MODULATIONS",
    "N_RB_TABLE",
    "TEST_MODELS",
    "NRWaveform",
    "Numerology",
    "bw_config_hz",
    "constellation",
    "fft_size_for",
    "generate_nr",
    "n_rb",
    "qam_map",
]
