"""Drivers written by other projects for the real instruments work against our simulators.

PyMeasure's Keysight E36312A driver is used unchanged over pyvisa-py; the supply's answers
are checked against the virtual bench (the PA draws current when its supply is on).
"""

from __future__ import annotations

import pytest
from pymeasure.instruments.keysight import KeysightE36312A


@pytest.fixture
def pymeasure_supply(simulated_bench):  # noqa: ANN001, ANN201
    supply = KeysightE36312A(simulated_bench.resources["dc_supply"], visa_library="@py",
                             read_termination="\n", write_termination="\n", timeout=5000)
    yield supply
    supply.adapter.close()


def test_pymeasure_e36312a_drives_the_simulated_supply(pymeasure_supply, simulated_bench) -> None:  # noqa: ANN001
    supply = pymeasure_supply
    assert "E36312A" in supply.id
    supply.ch_1.current_limit = 1.0
    supply.ch_1.voltage_setpoint = 5.0
    supply.ch_1.output_enabled = True
    assert supply.ch_1.output_enabled is True
    assert supply.ch_1.voltage == pytest.approx(5.0, abs=0.01)
    # the simulated PA draws its quiescent current from channel 1 with no RF applied
    assert supply.ch_1.current == pytest.approx(simulated_bench.state.dut.quiescent_current_a,
                                                rel=0.05)
    supply.ch_1.output_enabled = False
    assert supply.ch_1.output_enabled is False  # a query: the write before it has been executed
    assert simulated_bench.state.supply.outputs[1] is False
    assert supply.ch_1.current == pytest.approx(0.0, abs=1e-3)


def test_pymeasure_sees_scpi_errors_from_the_simulator(pymeasure_supply) -> None:  # noqa: ANN001
    pymeasure_supply.write("VOLT 30, (@1)")  # CH1 is rated 6 V: -222 Data out of range
    errors = pymeasure_supply.check_errors()
    assert errors and errors[0][0] == -222
