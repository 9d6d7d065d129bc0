"""Driver names (as bench files spell them) → driver classes, imported lazily."""

from __future__ import annotations

import importlib
from typing import Any

from instruments.interfaces import Instrument
from instruments.scpi import ScpiSession

#: driver name → "module:Class"
DRIVERS: dict[str, str] = {
    "keysight.n5182b": "instruments.keysight.n5182b:KeysightN5182B",
    "keysight.n9030b": "instruments.keysight.x_series:KeysightXSeriesAnalyzer",
    "keysight.n9020b": "instruments.keysight.x_series:KeysightXSeriesAnalyzer",
    "keysight.n1912a": "instruments.keysight.n1912a:KeysightN1912A",
    "keysight.e36312a": "instruments.keysight.e36312a:KeysightE36312A",
    "rs.smw200a": "instruments.rohde_schwarz.smw:RohdeSchwarzSMW",
    "rs.smbv100b": "instruments.rohde_schwarz.smw:RohdeSchwarzSMW",
    "rs.fsw": "instruments.rohde_schwarz.fsw:RohdeSchwarzFSW",
    "keysight.daq970a": "instruments.keysight.daq970a:KeysightDAQ970A",
    "benchbot.rffe1": "instruments.benchbot_hw.rffe1:BenchbotRffe1",
    "rs.znb": "instruments.rohde_schwarz.znb:RohdeSchwarzZNB",
    "rs.zna": "instruments.rohde_schwarz.znb:RohdeSchwarzZNB",
    "keysight.n5247b": "instruments.keysight.pna:KeysightPNA",
    "keysight.n5227b": "instruments.keysight.pna:KeysightPNA",
    "keysight.e5080b": "instruments.keysight.pna:KeysightPNA",
    "keysight.n5291a": "instruments.keysight.pna:KeysightPNA",
    "keysight.b2902a": "instruments.keysight.b2900:KeysightB2900",
    "keysight.b2912a": "instruments.keysight.b2900:KeysightB2900",
    "keithley.2450": "instruments.keithley.k2450:Keithley2450",
    "keithley.2636b": "instruments.keithley.k2636b:Keithley2636B",
}


def driver_class(name: str) -> type[Instrument]:
    """The class registered as `name` (KeyError naming the known drivers otherwise)."""
    try:
        target = DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Instrument)):
        raise TypeError(f"{target} is not an Instrument")
    return cls


def connect(
    name: str,
    resource: str,
    visa_library: str = "@py",
    timeout_s: float = 5.0,
    **options: Any,
) -> Instrument:
    """Open a session to `resource` and construct driver `name` on it (identity checked, no reset).

    The session is closed again if the driver refuses the instrument.
    """
    cls = driver_class(name)
    session = ScpiSession.open(resource, visa_library, timeout_s)
    try:
        return cls(session, **options)  # type: ignore[call-arg]
    except BaseException:
        session.close()
        raise
