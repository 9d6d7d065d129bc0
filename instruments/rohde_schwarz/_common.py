"""What the Rohde & Schwarz drivers share: the vendor-neutral SCPI plumbing of instruments.common.

R&S instruments answer `*IDN?` as ``Rohde&Schwarz,<model>-<part>,<part/serial>,<firmware>``
(e.g. ``Rohde&Schwarz,SMW200A,1412.0000K02/101234,5.30.047.32``, ``Rohde&Schwarz,FSW-26,...``):
a driver's `supported_models` lists the model field exactly as `*IDN?` gives it.
"""

from __future__ import annotations

from instruments.common import ScpiCommon, num, on_off, parse_bool, parse_float

__all__ = ["RohdeSchwarzCommon", "num", "on_off", "parse_bool", "parse_float"]


class RohdeSchwarzCommon(ScpiCommon):
    """Mixin for the Rohde & Schwarz drivers (`*RST;*CLS` preset, error queue drained)."""
