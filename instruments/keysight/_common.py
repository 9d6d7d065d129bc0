"""What the Keysight drivers share: the vendor-neutral SCPI plumbing of instruments.common."""

from __future__ import annotations

from instruments.common import ScpiCommon, num, on_off, parse_bool, parse_float

__all__ = ["KeysightCommon", "num", "on_off", "parse_bool", "parse_float"]


class KeysightCommon(ScpiCommon):
    """Mixin for the Keysight drivers (`*RST;*CLS` preset, error queue drained after setups)."""
