"""The virtual bench: one shared physical world that every simulated instrument reads and writes.

Signal chain (docs/design.md "Virtual bench"):
generator port → input path loss (table `paths.signal_generator`) → DUT (`pa_model`) → output path
loss per receiving role (`paths.signal_analyzer`, `paths.power_meter`) → `tones_at(role)` for CW,
`modulated_at(role)` while the generator plays an ARB waveform (`simulators.modulated`).
The DUT's drain supply is a channel of the DC supply; a load above the current limit puts the
channel in constant-current mode and the voltage sags until the PA draws exactly the limit.
A GaN HEMT (`dut.model: gan_hemt`) is biased by SMU channels instead (`simulators.hemt_bench`);
with a `dut.rf` block it is also the amplifier of the RF chain at that bias (`simulators.gan_pa`).

Everything derived (tones, supply operating point) is computed on demand from the state, so a test
may poke `bench.generator.rf_on`, `bench.supply.outputs[1]` or `bench.dut.damaged` directly.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.modulated import GeneratorWaveform, amplify, generator_waveform, with_memory
from simulators.pa_model import PowerAmplifier, dbm_to_w
from simulators.signals import ModulatedSignal, Tone

#: roles whose instrument receives the DUT output
RECEIVING_ROLES = ("signal_analyzer", "power_meter")


@dataclass
class GeneratorState:
    """What the signal generator puts on its RF output port."""

    frequency_hz: float = 1.0e9
    level_dbm: float = -144.0
    rf_on: bool = False
    modulation_on: bool = False
    #: ARB playback: the selected waveform (complex, peak |I|/|Q| = 1) while `arb_on`
    arb_iq: np.ndarray | None = None
    arb_sample_rate_hz: float | None = None
    arb_on: bool = False


@dataclass
class SupplyState:
    """Programmed state of the DC supply channels (actual V/I come from `VirtualBench.channel`).

    `tripped[ch]` is "OV" or "OC" after a protection trip (the output is then off until cleared).
    """

    voltage_set: dict[int, float] = field(default_factory=lambda: {1: 0.0, 2: 0.0, 3: 0.0})
    current_limit: dict[int, float] = field(default_factory=lambda: {1: 5.0, 2: 1.0, 3: 1.0})
    outputs: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False, 3: False})
    ovp_level: dict[int, float] = field(default_factory=lambda: {1: 6.6, 2: 27.5, 3: 27.5})
    ocp_enabled: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False, 3: False})
    tripped: dict[int, str] = field(default_factory=dict)


@dataclass
class SmuChannelState:
    """What one SMU channel is programmed to do (its simulator writes it; the device model
    reads it through `simulators.hemt_bench.solve`). `mode` "VOLT" forces `level` volts with the
    current clamped at ±`limit` amperes, "CURR" forces `level` amperes with the voltage clamped
    at ±`limit` volts."""

    mode: str = "VOLT"
    level: float = 0.0
    limit: float = 1e-4
    output_on: bool = False


@dataclass(frozen=True)
class ChannelReading:
    """Operating point of one supply channel: `mode` is "CV", "CC" or "OFF"."""

    voltage_v: float
    current_a: float
    mode: str


@dataclass
class PathTable:
    """Loss vs frequency, linearly interpolated (flat beyond the table ends)."""

    frequency_hz: np.ndarray
    loss_db: np.ndarray

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> PathTable:
        f = np.asarray(cfg["frequency_hz"], dtype=float)
        loss = np.asarray(cfg["loss_db"], dtype=float)
        order = np.argsort(f)
        return cls(f[order], loss[order])

    def loss_at(self, f_hz: float) -> float:
        return float(np.interp(f_hz, self.frequency_hz, self.loss_db))


def _wrap(phase: float) -> float:
    return (phase + math.pi) % (2.0 * math.pi) - math.pi


class VirtualBench:
    """One shared world: generator → path → PA → paths → receivers, plus the DC supply.

    `config` keys: `seed`, `session`, `time_scale`, `latency_s`, `dut`, `paths` (role → table),
    `instruments` (role → simulator model key), `cable_delay_in_s`, `cable_delay_out_s`.
    """

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.lock = threading.RLock()
        self.seed = int(float(self.config.get("seed", 0)))
        #: 0 for a run's first session; k for its k-th resumed session (fresh noise streams, as
        #: real instruments would not repeat the noise of the interrupted session)
        self.session = int(self.config.get("session", 0))
        self.time_scale = float(self.config.get("time_scale", 1.0))
        self.instruments: dict[str, str] = dict(self.config.get("instruments") or {})
        self.paths: dict[str, PathTable] = {
            role: PathTable.from_config(t) for role, t in (self.config.get("paths") or {}).items()
        }
        dut_cfg = self.config.get("dut")
        is_pa = dut_cfg is not None and dut_cfg.get("model", "power_amplifier") == "power_amplifier"
        self.dut: PowerAmplifier | None = PowerAmplifier.from_config(dut_cfg) if is_pa else None
        #: a DUT seen through its S-parameters (LNA, filter, switch, FEM, Touchstone file...):
        #: what a VNA measures and what the noise-figure chain passes (simulators.network_models)
        self.network: Any = None
        if dut_cfg is not None and not is_pa and dut_cfg.get("model") != "gan_hemt":
            from simulators.network_models import network_dut_from_config

            self.network = network_dut_from_config(dut_cfg)
        #: VNA source power on per VNA role (a controlled DUT checks for hot switching)
        self.vna_rf_on: dict[str, bool] = {}
        #: GPIO controller output ports: port number -> 8-bit value (DUT pins, test-set relays)
        self.gpio: dict[int, int] = {}
        #: the analyzer's +28 V noise-source drive (simulators.noise)
        self.noise_source_on = False
        #: SMU channels by (role, channel) and the device terminal each drives (`wiring`:
        #: terminal -> {role, channel}, e.g. gate/drain of a GaN HEMT; simulators.hemt_bench)
        self.smu: dict[tuple[str, int], SmuChannelState] = {}
        self.wiring: dict[str, tuple[str, int]] = {
            terminal: (str(w["role"]), int(w["channel"]))
            for terminal, w in (self.config.get("wiring") or {}).items()}
        #: a transistor on the SMUs (`dut.model: gan_hemt`, simulators.gan_hemt)
        self.hemt: Any = None
        if dut_cfg is not None and dut_cfg.get("model") == "gan_hemt":
            from simulators.gan_hemt import GanHemt

            self.hemt = GanHemt.from_config(dut_cfg)
        #: the HEMT as the RF amplifier at its bias (`dut.rf`; None: no RF coupling)
        self.gan_pa: Any = None
        if self.hemt is not None and dut_cfg is not None and dut_cfg.get("rf") is not None:
            from simulators.gan_pa import GanPowerAmplifier

            self.gan_pa = GanPowerAmplifier.from_config(dut_cfg, self.hemt)
        # fixed electrical length of the input and output cables (phase = -2π·f·τ)
        self.tau_in_s = float(self.config.get("cable_delay_in_s", 5e-9))
        self.tau_out_s = float(self.config.get("cable_delay_out_s", 8e-9))
        self.generator = GeneratorState()
        self.supply = SupplyState()
        self.events: deque[tuple[float, str, str]] = deque(maxlen=500)
        self._t0 = time.monotonic()
        # modulated-signal caches: the generator period per ARB waveform, the DUT output per state
        self._waveform_cache: tuple[tuple[int, float], GeneratorWaveform] | None = None
        self._output_cache: tuple[tuple[Any, ...], ModulatedSignal] | None = None
        self._role_cache: dict[str, tuple[tuple[Any, ...], ModulatedSignal]] = {}

    # ------------------------------------------------------------------ infrastructure
    def rng_for(self, role: str) -> np.random.Generator:
        """A deterministic generator per instrument role, derived from the bench seed (and the
        session number of a resumed run)."""
        key = zlib.crc32(role.encode("utf-8"))
        spawn = (key, self.session) if self.session else (key,)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=spawn))

    def unit_rng_for(self, role: str) -> np.random.Generator:
        """The first session's generator of ``role``: what an instrument draws for itself
        (serial, offsets) first from it is the same in every session of a run."""
        key = zlib.crc32(role.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))

    def log_event(self, source: str, text: str) -> None:
        """Append to the short event log (monotonic seconds since bench start, source, text)."""
        self.events.append((time.monotonic() - self._t0, source, text))

    def event_texts(self) -> list[str]:
        return [f"{src}: {text}" for _, src, text in self.events]

    def path_loss_db(self, role: str, f_hz: float) -> float:
        table = self.paths.get(role)
        return table.loss_at(f_hz) if table is not None else 0.0

    def update(self) -> None:
        """Re-evaluate consequences of a state change (DUT damage). Devices call it after sets.
        With an RF-coupled HEMT a generator change moves the drain current and the dissipation:
        the bias is re-solved (time charged) as an SMU change would."""
        with self.lock:
            self._check_damage()
            drain = self.wiring.get("drain")
            if self.gan_pa is not None and drain is not None and drain in self.smu:
                from simulators import hemt_bench

                hemt_bench.solve(self)

    # ------------------------------------------------------------------ the DUT and its supply
    def dut_input_dbm(self) -> float | None:
        """Power arriving at the DUT input, or None with the generator RF off."""
        g = self.generator
        if not g.rf_on:
            return None
        return g.level_dbm - self.path_loss_db("signal_generator", g.frequency_hz)

    def _check_damage(self) -> None:
        pin = self.dut_input_dbm()
        if (self.dut is not None and not self.dut.damaged and pin is not None
                and pin > self.dut.max_rf_input_dbm):
            self.dut.damaged = True
            self.log_event("dut", f"DAMAGED: input {pin:.2f} dBm > max "
                                  f"{self.dut.max_rf_input_dbm:.2f} dBm")
        gan = self.gan_pa
        if (gan is not None and not self.hemt.damaged and pin is not None
                and pin > gan.max_rf_input_dbm):
            from simulators.gan_pa import overdrive

            self.log_event("dut", f"DAMAGED: {overdrive(self.hemt, pin, gan.max_rf_input_dbm)}")

    def _amplifier(self) -> tuple[PowerAmplifier | None, float | None, float]:
        """The amplifier in the chain now, the drain voltage to evaluate it at, and the loss
        (dB) of the straight path used when the amplifier is None: 0 without a DUT, the
        HEMT's feed-through isolation while it does not amplify (drain off, below the knee,
        pinched off, broken)."""
        if self.gan_pa is not None:
            from simulators import hemt_bench

            vg, vd, drain_on = hemt_bench.rf_bias(self)
            amp = self.gan_pa.amplifier_at(vg, vd, self.generator.frequency_hz,
                                           drain_on=drain_on)
            return amp, vd, self.gan_pa.isolation_db
        if self.dut is None:
            return None, None, 0.0
        return self.dut, self.drain_voltage_v(), 0.0

    def _load_current(self, channel: int, voltage_v: float) -> float:
        if self.dut is None or channel != self.dut.supply_channel:
            return 0.0
        f = self.generator.frequency_hz
        wave = self.generator_waveform()
        pin = self.dut_input_dbm()
        if wave is not None and pin is not None:
            pin_w = dbm_to_w(pin) * wave.envelope_power_quantiles
            return self.dut.mean_supply_current_a(pin_w, f, voltage_v)
        return self.dut.supply_current_a(pin, f, voltage_v)

    def channel(self, channel: int) -> ChannelReading:
        """Actual output of a supply channel: CV at the set voltage, or CC with the voltage
        sagged to where the load draws exactly the current limit (bisection; the PA load is
        monotonic in voltage)."""
        with self.lock:
            self._check_damage()
            s = self.supply
            if not s.outputs.get(channel, False):
                return ChannelReading(0.0, 0.0, "OFF")
            v_set = s.voltage_set.get(channel, 0.0)
            i_lim = s.current_limit.get(channel, 0.0)
            i_cv = self._load_current(channel, v_set)
            if i_cv <= i_lim:
                return ChannelReading(v_set, i_cv, "CV")
            if s.ocp_enabled.get(channel, False):
                s.outputs[channel] = False
                s.tripped[channel] = "OC"
                self.log_event("dc_supply", f"CH{channel} over-current protection tripped "
                                            f"({i_cv:.3f} A > {i_lim:.3f} A)")
                return ChannelReading(0.0, 0.0, "OFF")
            lo, hi = 0.0, v_set
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if self._load_current(channel, mid) > i_lim:
                    hi = mid
                else:
                    lo = mid
            return ChannelReading(lo, i_lim, "CC")

    def drain_voltage_v(self) -> float:
        """Voltage actually on the PA drain (0 if its supply output is off)."""
        if self.dut is None:
            return 0.0
        return self.channel(self.dut.supply_channel).voltage_v

    # ------------------------------------------------------------------ signals
    def arb_playing(self) -> bool:
        """True while the RF output carries the ARB waveform (RF, ARB and modulation all on)."""
        g = self.generator
        return g.rf_on and g.arb_on and g.modulation_on and g.arb_iq is not None

    def generator_waveform(self) -> GeneratorWaveform | None:
        """The playing waveform at unit RMS, oversampled for simulation (None with CW)."""
        g = self.generator
        if not self.arb_playing() or g.arb_iq is None or not g.arb_sample_rate_hz:
            return None
        key = (id(g.arb_iq), float(g.arb_sample_rate_hz))
        if self._waveform_cache is None or self._waveform_cache[0] != key:
            wave = generator_waveform(g.arb_iq, g.arb_sample_rate_hz,
                                      self.rng_for("signal_generator"))
            memory = self.dut if self.dut is not None else (
                self.gan_pa.template if self.gan_pa is not None else None)
            if memory is not None:
                wave = with_memory(memory, wave)
            self._waveform_cache = (key, wave)
        return self._waveform_cache[1]

    def modulated_output(self) -> ModulatedSignal | None:
        """The modulated signal at the DUT output plane (None with CW or RF off)."""
        with self.lock:
            self._check_damage()
            wave = self.generator_waveform()
            pin = self.dut_input_dbm()
            if wave is None or pin is None:
                return None
            f = self.generator.frequency_hz
            amp, v, straight_db = self._amplifier()
            key = (id(wave), pin, f, v, straight_db,
                   None if amp is None else (amp.g0_db, amp.damaged))
            if self._output_cache is None or self._output_cache[0] != key:
                phase_in = -2.0 * math.pi * f * self.tau_in_s
                scale = math.sqrt(dbm_to_w(pin)) * np.exp(1j * phase_in)
                if amp is None:
                    y_w = scale * wave.unit_iq * 10.0 ** (-straight_db / 20.0)
                else:
                    assert wave.through_memory is not None
                    y_w = amplify(amp, scale * wave.through_memory, f, v)
                signal = ModulatedSignal(f, wave.sample_rate_hz, y_w * math.sqrt(50.0))
                self._output_cache = (key, signal)
            return self._output_cache[1]

    def modulated_at(self, role: str) -> list[ModulatedSignal]:
        """Modulated signals at the input of the instrument in `role` (after the DUT and the path
        loss at the carrier; the output cable's electrical length rotates the carrier phase)."""
        out = self.modulated_output()
        if out is None:
            return []
        f = out.center_frequency_hz
        loss_db = self.path_loss_db(role, f)
        key = (id(out), loss_db, self.tau_out_s)
        cached = self._role_cache.get(role)
        if cached is None or cached[0] != key:  # same object while nothing changes: caches hit
            gain = 10.0 ** (-loss_db / 20.0) * np.exp(-2j * math.pi * f * self.tau_out_s)
            cached = (key, ModulatedSignal(f, out.sample_rate_hz, out.iq * gain))
            self._role_cache[role] = cached
        return [cached[1]]

    def dut_output(self) -> list[Tone]:
        """CW tones at the DUT output plane (fundamental first, then H2, H3...); none while a
        modulated waveform plays (see `modulated_output`)."""
        with self.lock:
            self._check_damage()
            pin = self.dut_input_dbm()
            if pin is None or self.arb_playing():
                return []
            f = self.generator.frequency_hz
            phase_in = -2.0 * math.pi * f * self.tau_in_s
            amp, v, straight_db = self._amplifier()
            if amp is None:
                return [Tone(f, pin - straight_db, _wrap(phase_in))]
            pout = amp.output_power_dbm(pin, f, v)
            phase = phase_in + amp.am_pm_rad(pin, f, v)
            tones = [Tone(f, pout, _wrap(phase))]
            for n, dbc in enumerate(amp.harmonics_dbc(pin, f, v), start=2):
                tones.append(Tone(n * f, pout + dbc, _wrap(n * phase)))
            return tones

    def tones_at(self, role: str) -> list[Tone]:
        """CW tones at the input of the instrument in `role`, after the DUT and the path loss;
        the phase includes the output cable's electrical length."""
        return [
            Tone(t.frequency_hz, t.power_dbm - self.path_loss_db(role, t.frequency_hz),
                 _wrap(t.phase_rad - 2.0 * math.pi * t.frequency_hz * self.tau_out_s))
            for t in self.dut_output()
        ]

    def total_power_dbm(self, role: str) -> float:
        """Total power of all tones and modulated signals at `role` (what a thermal sensor
        reads); -inf if none."""
        total = sum(10.0 ** (t.power_dbm / 10.0) for t in self.tones_at(role))
        total += sum(10.0 ** (m.power_dbm / 10.0) for m in self.modulated_at(role))
        return 10.0 * math.log10(total) if total > 0 else -math.inf


def config_from_bench_file(data: dict[str, Any]) -> dict[str, Any]:
    """Build a VirtualBench config from a bench YAML document (benchbot/benches/*.yaml shape):
    the `simulation:` block plus `instruments` (role → `simulator`) and `paths` (role →
    `path_loss`). Read as plain data so simulators need nothing from benchbot."""
    config = dict(data.get("simulation") or {})
    instruments: dict[str, str] = {}
    paths: dict[str, Any] = {}
    for role, inst in (data.get("instruments") or {}).items():
        inst = inst or {}
        if inst.get("simulator"):
            instruments[role] = str(inst["simulator"])
        if inst.get("path_loss"):
            paths[role] = inst["path_loss"]
    config.setdefault("instruments", instruments)
    config.setdefault("paths", paths)
    return config
