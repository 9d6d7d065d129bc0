"""Figures an RF engineer expects from a run record (matplotlib, Agg, 150 dpi PNG).

- `power_sweep` steps: gain and PAE vs Pout, Pout vs Pin with P1dB, AM-PM vs Pout, and the
  stored output spectrum with its harmonics;
- `modulated_power_sweep` steps: ACLR vs Pout and EVM vs Pout with their limits, and the stored
  spectrum with the SEM mask evaluated and the ACLR channels shaded;
- `s_parameters` steps: |S21|, |S11|/|S22|, |S12| and group delay with their limit masks, and
  K/μ stability; `network_paths` steps: insertion loss (or gain), isolation and return loss per
  control state.

Reads records only (`benchbot.results`) and calls pure analysis; never touches instruments.
"""

from benchbot.plots.data import RecordData, StepData, load_record
from benchbot.plots.render import default_out_dir, render_record, step_figures
from benchbot.plots.style import DPI

__all__ = ["DPI", "RecordData", "StepData", "default_out_dir", "load_record", "render_record",
           "step_figures"]
