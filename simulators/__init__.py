"""SCPI instrument simulators on a shared virtual bench (see docs/design.md "Simulators").

`SimulatedBench(config)` builds a `VirtualBench` and serves one `ScpiServer` per role:

    with SimulatedBench(config) as sim:           # config: VirtualBench config (plain dict)
        resources = sim.resources                 # {"signal_generator": "TCPIP::...", ...}
        sim.bench.generator.rf_on                 # physical state for assertions

Nothing here imports benchbot or instruments.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simulators.bench import VirtualBench, config_from_bench_file
from simulators.scpi_core import ScpiDevice, ScpiError, ScpiServer

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "MODELS",
    "ScpiDevice",
    "ScpiError",
    "ScpiServer",
    "SimulatedBench",
    "VirtualBench",
    "config_from_bench_file",
    "device_class",
]

#: simulator model key → "module:Class" (imported lazily); constructor `(bench, role, model)`
MODELS: dict[str, str] = {
    "keysight_n5182b": "simulators.keysight_mxg:KeysightMXG",
    "keysight_e36312a": "simulators.keysight_e36312a:KeysightE36312A",
    "keysight_n1912a": "simulators.keysight_n1912a:KeysightN1912A",
    "keysight_n9030b": "simulators.keysight_xseries:KeysightXSeriesAnalyzer",
    "keysight_n9020b": "simulators.keysight_xseries:KeysightXSeriesAnalyzer",
    "rs_smw200a": "simulators.rs_smw:RohdeSchwarzSMW",
    "rs_smbv100b": "simulators.rs_smw:RohdeSchwarzSMW",
    "rs_fsw26": "simulators.rs_fsw:RohdeSchwarzFSW",
    "rs_fsw43": "simulators.rs_fsw:RohdeSchwarzFSW",
    "keysight_daq970a": "simulators.keysight_daq970a:KeysightDAQ970A",
    "benchbot_rffe1": "simulators.rffe_adapter:BenchbotRffeAdapter",
    "keysight_n5247b": "simulators.keysight_pna:KeysightPNA",
    "keysight_n5227b": "simulators.keysight_pna:KeysightPNA",
    "keysight_e5080b": "simulators.keysight_pna:KeysightPNA",
    "keysight_n5291a": "simulators.keysight_pna:KeysightPNA",
    "rs_znb20": "simulators.rs_znb:RohdeSchwarzZNB",
    "rs_zna26": "simulators.rs_znb:RohdeSchwarzZNB",
    "rs_zna67": "simulators.rs_znb:RohdeSchwarzZNB",
    "keysight_b2902a": "simulators.keysight_b2900:KeysightB2900",
    "keysight_b2912a": "simulators.keysight_b2900:KeysightB2900",
    "keithley_2450": "simulators.keithley_2450:Keithley2450",
    "keithley_2636b": "simulators.keithley_2636b:Keithley2636B",
}


def device_class(model: str) -> type[ScpiDevice]:
    """The simulator class for a model key such as `keysight_n5182b`."""
    try:
        module_name, class_name = MODELS[model].split(":")
    except KeyError:
        raise KeyError(f"unknown simulator model {model!r}; known: {sorted(MODELS)}") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls  # type: ignore[no-any-return]


class SimulatedBench:
    """A VirtualBench with one SCPI server per role on loopback ephemeral ports."""

    def __init__(self, config: dict[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        self.bench = VirtualBench(config)
        self.host = host
        self.devices: dict[str, ScpiDevice] = {}
        self.servers: dict[str, ScpiServer] = {}
        for role, model in self.bench.instruments.items():
            self.devices[role] = device_class(model)(self.bench, role, model)

    def start(self) -> dict[str, str]:
        """Start every server; returns {role: VISA resource string}."""
        try:
            for role, device in self.devices.items():
                if role not in self.servers:
                    server = ScpiServer(device, host=self.host)
                    server.start()
                    self.servers[role] = server
        except BaseException:
            self.stop()
            raise
        return self.resources

    @property
    def resources(self) -> dict[str, str]:
        return {role: server.resource for role, server in self.servers.items()}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()

    def __enter__(self) -> SimulatedBench:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
