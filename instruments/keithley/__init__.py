"""Keithley (Tektronix) source-measure units: 2450 (SCPI) and 2636B (TSP)."""
