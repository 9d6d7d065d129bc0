"""Keysight E36312A triple-output DC power supply.

Ratings (E36300 series data sheet): output 1: 0–6 V, 0–5 A; outputs 2 and 3: 0–25 V, 0–1 A.
Values outside them are refused here, before anything is sent.

Command forms (E36300 Series Programming Guide; pymeasure ``keysightE36312A.py``), channel
lists as ``(@1)``, ``(@1:3)``:
``[SOURce:]VOLTage <V>,(@n)``, ``[SOURce:]CURRent <A>,(@n)``, ``OUTPut[:STATe] ON|OFF,(@list)``,
``OUTPut[:STATe]? (@n)`` → ``0|1``, ``MEASure[:SCALar]:VOLTage[:DC]? (@n)``,
``MEASure[:SCALar]:CURRent[:DC]? (@n)``, ``STATus:QUEStionable:INSTrument:ISUMmary<n>:CONDition?``
(CV/CC, see ``in_current_limit``). Over-current protection is never switched on here.
"""

from __future__ import annotations

from instruments.interfaces import DCSupply
from instruments.keysight._common import KeysightCommon, num, on_off, parse_bool, parse_float

#: channel → (max voltage V, max current A)
RATINGS: dict[int, tuple[float, float]] = {1: (6.0, 5.0), 2: (25.0, 1.0), 3: (25.0, 1.0)}


class KeysightE36312A(KeysightCommon, DCSupply):
    """Three independent outputs, addressed by channel list."""

    supported_models = ("E36312A",)
    channels = (1, 2, 3)

    def rating(self, channel: int) -> tuple[float, float]:
        """(max V, max A) of ``channel``; ValueError for a channel the model lacks."""
        if channel not in RATINGS:
            raise ValueError(f"E36312A has channels 1, 2, 3; not {channel!r}")
        return RATINGS[channel]

    def reset(self) -> None:
        """``*RST`` (all outputs off), then make sure of it."""
        self._reset()
        self.make_safe()

    def make_safe(self) -> None:
        """All three outputs off in one command."""
        self._configure("OUTP OFF,(@1:3)")

    def set_voltage_v(self, channel: int, voltage_v: float) -> None:
        vmax, _ = self.rating(channel)
        if not 0.0 <= voltage_v <= vmax:
            raise ValueError(f"channel {channel}: {voltage_v} V is outside its 0–{vmax:g} V rating")
        self._configure(f"VOLT {num(voltage_v)},(@{channel})")

    def set_current_limit_a(self, channel: int, current_a: float) -> None:
        _, imax = self.rating(channel)
        if not 0.0 <= current_a <= imax:
            raise ValueError(f"channel {channel}: {current_a} A is outside its 0–{imax:g} A rating")
        self._configure(f"CURR {num(current_a)},(@{channel})")

    def set_output(self, channel: int, on: bool) -> None:
        self.rating(channel)
        self._configure(f"OUTP {on_off(on)},(@{channel})")

    def output_is_on(self, channel: int) -> bool:
        self.rating(channel)
        command = f"OUTP? (@{channel})"
        return parse_bool(self.session.query(command), command)

    def measure_voltage_v(self, channel: int) -> float:
        self.rating(channel)
        return self.session.query_float(f"MEAS:VOLT? (@{channel})")

    def measure_current_a(self, channel: int) -> float:
        self.rating(channel)
        return self.session.query_float(f"MEAS:CURR? (@{channel})")

    def in_current_limit(self, channel: int) -> bool:
        """Constant-current mode of ``channel`` from ``STAT:QUES:INST:ISUM<n>:COND?``.

        The condition register names the *unregulated* quantity: bit 0 set = the voltage is
        not regulated (CC), bit 1 set = the current is not regulated (CV); 0 = output off,
        3 = neither regulated (E364xA/E3631A user's guides; the same 0/1/2/3 answers are read
        from real E36312A units by qolab's ``KeysightE3612A.getChanRegulation``). [verify]
        against the E36300 Programming Guide, which also shows CV/CC in the Operation
        Instrument Summary registers (``STAT:OPER:INST:ISUM<n>:COND?``, CV bit 8 / CC bit 10
        as on the E36100 series). Any answer with bit 0 set counts as "in the limit": 3 (not
        regulated at all) is then reported as a compliance, the reading a safety check must
        act on.
        """
        self.rating(channel)
        command = f"STAT:QUES:INST:ISUM{channel}:COND?"
        condition = int(parse_float(self.session.query(command), command))
        return bool(condition & 0b01)

    # -- read-backs ------------------------------------------------------------------------

    def voltage_setpoint_v(self, channel: int) -> float:
        self.rating(channel)
        return self.session.query_float(f"VOLT? (@{channel})")

    def current_limit_a(self, channel: int) -> float:
        self.rating(channel)
        return self.session.query_float(f"CURR? (@{channel})")
