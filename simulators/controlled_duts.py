"""Controlled network DUTs: an SPnT switch and a front-end module (FEM) whose S-matrix follows the
control state decoded from their registers (MIPI RFFE, `simulators.rffe_slave`) or control pins
(GPIO) — nothing else. Both implement the `NetworkDut` protocol of `simulators.network_models`.

Switch (`model: switch`): port 1 = ANT (common), ports 2..n+1 = RF1..RFn (n ≤ 6 throws). Control
field `throw` (default register 0x00 bits 2:0): 0 = all off, k = ANT-RFk; a code above n is
reserved (all off, counted as `invalid_state`). The RF is a lumped circuit sized from datasheet
laws (`simulators.switch_circuit`): IL = IL0 + slope·f, isolation = ISO(f_ref) + slope·(f -
f_ref), return loss falling with f, off throws reflective or absorptive — reciprocal and
passive by construction (rf reference §1.8, §3.4).

    dut: {model: switch, throws: 4, insertion_loss_db: 0.3, insertion_loss_slope_db_per_ghz: 0.08,
          isolation_db: 40, isolation_reference_hz: 1e9, isolation_slope_db_per_ghz: -2.4,
          return_loss_db: 25, off_ports: reflective, hot_switch_power_dbm: -20,
          control: {interface: rffe, usid: 0x7, product_id: 0x9A, manufacturer_id: 0x1A5,
                    triggered_registers: []},        # or {interface: gpio, port: 2}
          fields: {throw: {register: 0x00, lsb: 0, width: 3}}, defaults: {0x00: 0}}

FEM (`model: fem`): ports ANT, TX, RX. Fields (default register 0x00): `path` bits 1:0
(0 = isolation, 1 = TX, 2 = RX; 3 reserved), `pa_enable` bit 4, `lna_enable` bit 5. States: tx
(TX→ANT through the PA small-signal gain), rx (ANT→RX through the LNA, NF as configured, noise
path (1, 3)), rx_bypass (ANT→RX passive), isolation. PA/LNA gain follow a 2nd-order Butterworth
band-pass shape around `center_frequency_hz` with `bandwidth_hz`; the RF is the antenna SP2T
circuit wired to a PA and an LNA/bypass two-port (`switch_circuit.interconnect`).

    dut: {model: fem, center_frequency_hz: 3.5e9, bandwidth_hz: 1.2e9, pa_gain_db: 28,
          lna_gain_db: 18, rx_noise_figure_db: 1.5, bypass_loss_db: 1.5,
          switch: {insertion_loss_db: 0.4, isolation_db: 35},
          control: {interface: rffe, usid: 0x7, product_id: 0x9B, manufacturer_id: 0x1A5},
          fields: {path: {register: 0, lsb: 0, width: 2}, pa_enable: {register: 0, lsb: 4},
                   lna_enable: {register: 0, lsb: 5}},
          path_codes: {isolation: 0, tx: 1, rx: 2}}

Checks recorded in `events` (text) and `counters` (per kind): `order_violation` (FEM: PA_EN set
while the antenna path is not TX), `hot_switch` (the decoded RF state changes while the VNA
source is on at `hot_switch_power_dbm` or more; an unknown VNA power counts as hot),
`invalid_state` (a reserved control code), `overdrive` (VNA power above `max_rf_input_dbm`:
the part is damaged). `counters["ignored_write"]` counts bus writes no slave took.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from simulators.rffe_slave import RffeSlave
from simulators.switch_circuit import (
    SwitchLaw,
    amplifier_gain,
    db_to_mag,
    interconnect,
    switch_s_matrix,
    two_port,
)

MAX_THROWS = 6


def _int(value: Any) -> int:
    """Config integers may be written 0x1F, 31 or "0x1F"."""
    return int(value, 0) if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class BitField:
    """A control field: `width` bits from bit `lsb` of `register` (or of the GPIO port)."""

    register: int = 0x00
    lsb: int = 0
    width: int = 1

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None, default: BitField) -> BitField:
        if not cfg:
            return default
        return cls(_int(cfg.get("register", default.register)), _int(cfg.get("lsb", default.lsb)),
                   _int(cfg.get("width", default.width)))

    def value(self, word: int) -> int:
        return (word >> self.lsb) & ((1 << self.width) - 1)


class ControlledDut:
    """What the switch and the FEM share: control interface, state tracking, checks, noise."""

    port_names: tuple[str, ...] = ()
    #: default register map of the model's control fields
    DEFAULT_FIELDS: dict[str, BitField] = {}

    def __init__(self, cfg: dict[str, Any]) -> None:
        control = dict(cfg.get("control") or {"interface": "rffe"})
        self.interface = str(control.get("interface", "rffe")).lower()
        defaults = {_int(r): _int(v) for r, v in (cfg.get("defaults") or {}).items()}
        self.slave: RffeSlave | None = None
        self.gpio_port: int | None = None
        self.gpio_word = 0
        if self.interface == "rffe":
            self.slave = RffeSlave.from_config(control, defaults)
        elif self.interface == "gpio":
            self.gpio_port = _int(control.get("port", 1))
            self.gpio_word = defaults.get(0x00, 0)
        else:
            raise ValueError(f"control interface must be rffe or gpio, not {self.interface!r}")
        fields_cfg = cfg.get("fields") or {}
        unknown = set(fields_cfg) - set(self.DEFAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown control fields {sorted(unknown)}; "
                             f"known: {sorted(self.DEFAULT_FIELDS)}")
        self.fields = {name: BitField.from_config(fields_cfg.get(name), default)
                       for name, default in self.DEFAULT_FIELDS.items()}
        self.hot_switch_power_dbm = float(cfg.get("hot_switch_power_dbm", -20.0))
        limit = cfg.get("max_rf_input_dbm")
        self.max_rf_input_dbm = None if limit is None else float(limit)
        self.events: list[str] = []
        self.counters: Counter[str] = Counter()
        self.damaged = False
        self.vna_rf_on = False
        self.vna_power_dbm: float | None = None
        self.state: Any = self._decode()

    # ------------------------------------------------------------------ control inputs
    def set_vio(self, on: bool, voltage_v: float = 1.8) -> None:
        """RFFE VIO from the controller; off (or out of range) = slave in reset, RF off."""
        if self.slave is not None:
            self.slave.set_vio(on, voltage_v)
            self._apply(f"VIO {'on' if on else 'off'} ({voltage_v:g} V)")

    def rffe_write(self, usid: int, address: int, value: int) -> None:
        if self.slave is None or not self.slave.write(usid, address, value):
            self.counters["ignored_write"] += 1
            return
        self._apply(f"write USID {usid:#x} register {address:#04x} = {value:#04x}")

    def rffe_read(self, usid: int, address: int) -> int | None:
        """The byte the slave drives, or None when no slave answers."""
        return None if self.slave is None else self.slave.read(usid, address)

    def set_gpio(self, port: int, value: int) -> None:
        if self.gpio_port is not None and port == self.gpio_port:
            self.gpio_word = int(value) & 0xFF
            self._apply(f"GPIO port {port} = {value:#04x}")

    def on_vna_rf(self, on: bool, power_dbm: float | None = None) -> None:
        """The VNA source switched on/off (power at the DUT if known); overdrive damages."""
        self.vna_rf_on = bool(on)
        self.vna_power_dbm = None if power_dbm is None else float(power_dbm)
        limit = self.max_rf_input_dbm
        if on and power_dbm is not None and limit is not None and power_dbm > limit:
            self._event("overdrive", f"VNA source {power_dbm:.1f} dBm > {limit:.1f} dBm rating")
            self.damaged = True

    # ------------------------------------------------------------------ state machine
    def _word(self, register: int) -> int | None:
        """The control word the RF decoder sees; None while the part's RF is off."""
        if self.slave is not None:
            return self.slave.register(register) if self.slave.rf_active else None
        return self.gpio_word

    def _field_values(self) -> dict[str, int] | None:
        values = {}
        for name, fld in self.fields.items():
            word = self._word(fld.register)
            if word is None:
                return None
            values[name] = fld.value(word)
        return values

    def _rf_hot(self) -> bool:
        p = self.vna_power_dbm
        return self.vna_rf_on and (p is None or p >= self.hot_switch_power_dbm)

    def _apply(self, cause: str) -> None:
        new = self._decode()
        if new == self.state:
            return
        old, self.state = self.state, new
        if self._rf_hot():
            power = "unknown power" if self.vna_power_dbm is None else f"{self.vna_power_dbm:g} dBm"
            self._event("hot_switch", f"{self.name_of(old)} -> {self.name_of(new)} with the VNA "
                        f"source on ({power}) after {cause}")
        if self._reserved(new):
            self._event("invalid_state", f"reserved control code after {cause}")
        self._check_order(old, new, cause)

    def _event(self, kind: str, text: str) -> None:
        self.counters[kind] += 1
        self.events.append(f"{kind}: {text}")

    @property
    def state_name(self) -> str:
        return self.name_of(self.state)

    # subclass hooks
    def _decode(self) -> Any:
        raise NotImplementedError

    def name_of(self, state: Any) -> str:
        raise NotImplementedError

    def _reserved(self, state: Any) -> bool:
        return False

    def _check_order(self, old: Any, new: Any, cause: str) -> None:
        """Switching-order rules of the part (none by default)."""

    # ------------------------------------------------------------------ NetworkDut
    def s_matrix(self, frequency_hz: np.ndarray) -> np.ndarray:
        f = np.atleast_1d(np.asarray(frequency_hz, dtype=float))
        s = self._s_for_state(self.state, f)
        if self.damaged:  # a burnt part: every transmission 20 dB down
            eye = np.eye(s.shape[1], dtype=bool)
            s = np.where(eye, s, 0.1 * s)
        return s

    def _s_for_state(self, state: Any, f: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def noise_path(self) -> tuple[int, int] | None:
        return None

    def available_gain(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Available gain of the noise path from a 50-ohm source: |S21|² / (1 - |S22|²)."""
        f = np.atleast_1d(np.asarray(frequency_hz, dtype=float))
        path = self.noise_path()
        if path is None:
            return np.full(f.shape, np.nan)
        i, o = path[0] - 1, path[1] - 1
        s = self.s_matrix(f)
        return np.abs(s[:, o, i]) ** 2 / (1.0 - np.abs(s[:, o, o]) ** 2)

    def noise_factor(self, frequency_hz: np.ndarray) -> np.ndarray:
        """Linear noise factor of the noise path at 290 K; a passive path: F = 1/G_av.
        NaN when the state has no noise path."""
        return 1.0 / self.available_gain(frequency_hz)


class SpntSwitch(ControlledDut):
    """SPnT switch: ANT + RF1..RFn; the `throw` field selects the on throw (0 = all off)."""

    DEFAULT_FIELDS = {"throw": BitField(0x00, 0, 3)}

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.throws = _int(cfg.get("throws", 4))
        if not 1 <= self.throws <= MAX_THROWS:
            raise ValueError(f"switch throws must be 1..{MAX_THROWS}, not {self.throws}")
        self.port_names = ("ANT", *(f"RF{k}" for k in range(1, self.throws + 1)))
        self.law = SwitchLaw.from_config(cfg)
        super().__init__(cfg)

    def _decode(self) -> int:
        values = self._field_values()
        return 0 if values is None else values["throw"]

    def _reserved(self, state: int) -> bool:
        return state > self.throws

    def name_of(self, state: int) -> str:
        if state == 0:
            return "all_off"
        return f"RF{state}" if state <= self.throws else f"reserved({state})"

    def _s_for_state(self, state: int, f: np.ndarray) -> np.ndarray:
        on = state if 1 <= state <= self.throws else 0
        return switch_s_matrix(self.law, self.throws, on, f)

    def noise_path(self) -> tuple[int, int] | None:
        """Receive direction ANT → the on throw; None when all off."""
        return (1, self.state + 1) if 1 <= self.state <= self.throws else None


class FemState(NamedTuple):
    path: str  # "isolation" | "tx" | "rx" | "reserved"
    pa_on: bool
    lna_on: bool


class FrontEndModule(ControlledDut):
    """FEM: antenna switch (ANT to TX or RX arm), PA on the TX arm, LNA with bypass on RX."""

    port_names = ("ANT", "TX", "RX")
    DEFAULT_FIELDS = {
        "path": BitField(0x00, 0, 2),
        "pa_enable": BitField(0x00, 4, 1),
        "lna_enable": BitField(0x00, 5, 1),
    }

    def __init__(self, cfg: dict[str, Any]) -> None:
        codes = cfg.get("path_codes") or {"isolation": 0, "tx": 1, "rx": 2}
        self.path_by_code = {_int(code): str(name) for name, code in codes.items()}
        if set(self.path_by_code.values()) != {"isolation", "tx", "rx"}:
            raise ValueError("path_codes must name isolation, tx and rx")
        g = lambda key, default: float(cfg.get(key, default))  # noqa: E731
        self.center_hz = g("center_frequency_hz", 3.5e9)
        self.bandwidth_hz = g("bandwidth_hz", 1.2e9)
        self.pa_gain_db = g("pa_gain_db", 28.0)
        self.pa_reverse_isolation_db = g("pa_reverse_isolation_db", 45.0)
        self.pa_off_isolation_db = g("pa_off_isolation_db", 35.0)
        self.pa_input_return_loss_db = g("pa_input_return_loss_db", 12.0)
        self.pa_output_return_loss_db = g("pa_output_return_loss_db", 10.0)
        self.tx_noise_figure_db = g("tx_noise_figure_db", 6.0)
        self.lna_gain_db = g("lna_gain_db", 18.0)
        self.lna_reverse_isolation_db = g("lna_reverse_isolation_db", 30.0)
        self.lna_input_return_loss_db = g("lna_input_return_loss_db", 12.0)
        self.lna_output_return_loss_db = g("lna_output_return_loss_db", 12.0)
        self.rx_noise_figure_db = g("rx_noise_figure_db", 1.5)
        self.rx_noise_figure_slope_db_per_ghz = g("rx_noise_figure_slope_db_per_ghz", 0.1)
        self.bypass_loss_db = g("bypass_loss_db", 1.5)
        self.amp_delay_s = g("amplifier_delay_s", 150e-12)
        switch_cfg = {"insertion_loss_db": 0.4, "isolation_db": 35.0, "return_loss_db": 20.0,
                      **(cfg.get("switch") or {})}
        self.law = SwitchLaw.from_config(switch_cfg)
        super().__init__(cfg)

    def _decode(self) -> FemState:
        v = self._field_values()
        if v is None:
            return FemState("isolation", False, False)
        path = self.path_by_code.get(v["path"], "reserved")
        return FemState(path, bool(v["pa_enable"]), bool(v["lna_enable"]))

    def _reserved(self, state: FemState) -> bool:
        return state.path == "reserved"

    def name_of(self, state: FemState) -> str:
        if state.path == "tx":
            base = "tx" if state.pa_on else "tx_pa_off"
        elif state.path == "rx":
            base = "rx" if state.lna_on else "rx_bypass"
        else:
            base = state.path
        extra = [flag for flag, on in (("pa_en", state.pa_on and state.path != "tx"),
                                       ("lna_en", state.lna_on and state.path != "rx")) if on]
        return "+".join([base, *extra])

    def _check_order(self, old: FemState, new: FemState, cause: str) -> None:
        def violates(st: FemState) -> bool:
            return st.pa_on and st.path != "tx"

        if violates(new) and not violates(old):
            self._event("order_violation", f"PA_EN set while the antenna path is {new.path} "
                        f"(after {cause}); clear PA_EN before leaving TX, set it after")

    def _pa(self, f: np.ndarray, on: bool) -> np.ndarray:
        """PA two-port (port 1 = TX input, port 2 = output to the switch): gain, reverse
        isolation and matches while enabled; off: a poorly matched, isolating block."""
        delay = np.exp(-2j * np.pi * f * self.amp_delay_s)
        if on:
            return two_port(db_to_mag(self.pa_input_return_loss_db) * self._match_phase(f),
                            db_to_mag(self.pa_reverse_isolation_db) * delay,
                            amplifier_gain(f, self.pa_gain_db, self.center_hz, self.bandwidth_hz,
                                           self.amp_delay_s),
                            db_to_mag(self.pa_output_return_loss_db) * self._match_phase(f))
        leak = db_to_mag(self.pa_off_isolation_db) * 1j * delay
        return two_port(0.6 * self._match_phase(f), leak, leak, 0.7 * self._match_phase(f))

    def _lna(self, f: np.ndarray, on: bool) -> np.ndarray:
        """RX arm two-port (port 1 = from the switch, port 2 = RX): the LNA, or its bypass (a
        matched attenuator)."""
        delay = np.exp(-2j * np.pi * f * self.amp_delay_s)
        if on:
            return two_port(db_to_mag(self.lna_input_return_loss_db) * self._match_phase(f),
                            db_to_mag(self.lna_reverse_isolation_db) * delay,
                            amplifier_gain(f, self.lna_gain_db, self.center_hz, self.bandwidth_hz,
                                           self.amp_delay_s),
                            db_to_mag(self.lna_output_return_loss_db) * self._match_phase(f))
        through = db_to_mag(self.bypass_loss_db) * delay
        return two_port(np.zeros(f.size), through, through, np.zeros(f.size))

    @staticmethod
    def _match_phase(f: np.ndarray) -> np.ndarray:
        return np.exp(1j * (np.pi / 4 - 4 * np.pi * f * 30e-12))

    def _s_for_state(self, state: FemState, f: np.ndarray) -> np.ndarray:
        """The antenna SP2T (throw 1 = TX arm, 2 = RX arm) wired to the PA output and the RX
        arm input; external ports ANT, TX (PA input), RX (RX arm output)."""
        on_throw = {"tx": 1, "rx": 2}.get(state.path, 0)
        switch = switch_s_matrix(self.law, 2, on_throw, f)
        return interconnect([switch, self._pa(f, state.pa_on), self._lna(f, state.lna_on)],
                            pairs=[((0, 1), (1, 1)), ((0, 2), (2, 0))],
                            external=[(0, 0), (1, 0), (2, 1)])

    def noise_path(self) -> tuple[int, int] | None:
        if self.state.path == "rx":
            return (1, 3)
        if self.state.path == "tx" and self.state.pa_on:
            return (2, 1)
        return None

    def noise_factor(self, frequency_hz: np.ndarray) -> np.ndarray:
        """RX with the LNA: the module's NF (ANT→RX, switch included) with its slope; TX with
        the PA: `tx_noise_figure_db`; passive paths (bypass): 1/G_av."""
        f = np.atleast_1d(np.asarray(frequency_hz, dtype=float))
        st = self.state
        if st.path == "rx" and st.lna_on and not self.damaged:
            nf_db = self.rx_noise_figure_db + self.rx_noise_figure_slope_db_per_ghz * (
                f - self.center_hz) / 1e9
            return 10.0 ** (np.maximum(nf_db, 0.05) / 10.0)
        if st.path == "tx" and st.pa_on and not self.damaged:
            return np.full(f.shape, 10.0 ** (self.tx_noise_figure_db / 10.0))
        return super().noise_factor(f)


def controlled_dut_from_config(cfg: dict[str, Any]) -> ControlledDut:
    """`cfg["model"]`: `switch` or `fem` (keys as in the module docstring)."""
    model = str(cfg.get("model", "")).lower()
    if model == "switch":
        return SpntSwitch(cfg)
    if model == "fem":
        return FrontEndModule(cfg)
    raise ValueError(f"controlled DUT model must be switch or fem, not {model!r}")
