"""A DC power-supply channel seen as a source-measure channel (vendor-neutral adapter).

Why: RF tests at bias (Vds 20-28 V, Id 0.1-1 A) drive a GaN HEMT's drain from a DC supply,
because an SMU's high-voltage range gives only ~0.1 A (the B2902A is limited to 105 mA above
21 V, data sheet) while its gate stays on an SMU. The bias safety kernel (``benchbot.bias``) and
its watchdog speak :class:`~instruments.interfaces.SourceMeter`; :class:`SupplyAsSourceMeter`
lets them drive a supply channel as the drain with their sequencing, read-backs and power-down
unchanged.

What a supply channel is, as a source-measure channel: a voltage source with a current limit
(CV/CC crossover). Its constant-current mode is its compliance: the load would draw more than
the limit, the supply holds the limit and the voltage sags (:meth:`DCSupply.in_current_limit`).
It cannot force a current, source a negative voltage, list-sweep or pulse: those raise.
"""

from __future__ import annotations

import numpy as np

from instruments.interfaces import DCSupply, Identity, SmuReading, SmuSweepResult, SourceMeter


class SupplyAsSourceMeter(SourceMeter):
    """``supply``'s channels as voltage-source SMU channels (same channel numbers).

    The session and identity are the supply's (``session.resource``, ``identity.model``: the
    watchdog reaches the instrument through them); :func:`benchbot.bias.smu_endpoint` names the
    wrapped supply's driver and the watchdog wraps its own supply session again.

    Over-current protection is never enabled here, deliberately: an OCP trip switches the
    output off abruptly, i.e. the drain collapses with the gate wherever it is, possibly while
    RF drives the device, which is the uncontrolled event the kernel's §2.6 sequencing exists
    to avoid. The current limit (CC) is the compliance: the kernel reads it back, judges it and
    powers down in order. (A bench should keep OCP off on a drain channel; ``*RST`` turns it
    off on the E36312A.)
    """

    def __init__(self, supply: DCSupply) -> None:
        # no Instrument.__init__: the identity was read by the supply's driver, not again here
        self.supply = supply
        self.session = supply.session
        self.identity = supply.identity
        self.channels = tuple(supply.channels)
        self.supported_models = supply.supported_models

    def __repr__(self) -> str:
        return f"SupplyAsSourceMeter({self.supply!r})"

    def _read_identity(self) -> Identity:
        return self.supply.identity

    def reset(self) -> None:
        """The supply's reset (every output off)."""
        self.supply.reset()

    def make_safe(self) -> None:
        """The supply's safe state (every output off)."""
        self.supply.make_safe()

    def close(self) -> None:
        self.supply.close()

    def max_current_limit_a(self, channel: int, voltage_v: float) -> float:
        """The supply channel's rated current up to its rated voltage (0 beyond it)."""
        v_max, i_max = self.supply.rating(channel)
        return i_max if 0.0 <= voltage_v <= v_max else 0.0

    def set_voltage_source(self, channel: int, voltage_v: float, current_limit_a: float
                           ) -> None:
        """The current limit first, then the voltage.

        The one intermediate state is then (old voltage, new limit): the old voltage was
        already applied and judged, the limit is the one asked for. The other order would
        apply the new voltage under the old limit, which, when the limit goes down (a
        breakdown sweep's low compliance, a restart after a compliance fault), is a voltage
        with a larger limit than asked for: the very current the new limit is meant to stop
        could flow. The limit is re-sent every time (no cache of what the supply holds: a
        reset or another session may have changed it)."""
        if not voltage_v >= 0.0:
            raise ValueError(f"channel {channel}: a DC supply cannot source {voltage_v} V "
                             "(no negative output; a gate needs an SMU)")
        if not current_limit_a > 0.0:
            raise ValueError(f"channel {channel}: current limit {current_limit_a} A must be > 0")
        self.supply.set_current_limit_a(channel, current_limit_a)
        self.supply.set_voltage_v(channel, voltage_v)

    def set_current_source(self, channel: int, current_a: float, voltage_limit_v: float
                           ) -> None:
        raise NotImplementedError(
            f"{self.identity.model} channel {channel} is a DC supply: it cannot force a current "
            "(constant-current mode is only its limit); use an SMU to source current")

    def set_output(self, channel: int, on: bool) -> None:
        self.supply.set_output(channel, on)

    def output_is_on(self, channel: int) -> bool:
        return self.supply.output_is_on(channel)

    def measure(self, channel: int) -> SmuReading:
        """Voltage and current read back; ``in_compliance`` = the supply is in CC."""
        voltage_v = self.supply.measure_voltage_v(channel)
        current_a = self.supply.measure_current_a(channel)
        return SmuReading(voltage_v, current_a, self.supply.in_current_limit(channel))

    def voltage_list_sweep(
        self, channel: int, voltages_v: np.ndarray, current_limit_a: float,
        aperture_s: float = 1e-3, pulse_width_s: float | None = None,
        pulse_period_s: float | None = None, pulse_base_v: float = 0.0,
    ) -> SmuSweepResult:
        raise NotImplementedError(
            f"{self.identity.model} channel {channel} is a DC supply: it has no triggered list "
            "sweep or pulsed source; sweep point by point (set_voltage_source + measure) or "
            "use an SMU")

    def pulsed_iv_sweep(
        self, gate_channel: int, drain_channel: int, gate_pulse_v: np.ndarray,
        drain_pulse_v: np.ndarray, *, gate_base_v: float, drain_base_v: float,
        gate_current_limit_a: float, drain_current_limit_a: float, pulse_width_s: float,
        pulse_period_s: float, aperture_s: float | None = None,
    ) -> tuple[SmuSweepResult, SmuSweepResult]:
        raise NotImplementedError(
            f"{self.identity.model} is a DC supply: it cannot pulse gate and drain in step "
            "(pulsed I-V needs both on one SMU)")
