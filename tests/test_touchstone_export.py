"""S-parameter steps of a record as scikit-rf networks and their Touchstone export: the exported
.sNp read back by scikit-rf equals the stored data; headers carry the provenance; the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skrf

from benchbot.cli import EXIT_ERROR, EXIT_PASS, main
from benchbot.results.networks import (
    default_touchstone_dir,
    export_touchstone,
    networks_from_record,
    read_step_networks,
    step_networks,
)
from tests._network_record import CAL, F_HZ, expected_networks, write_network_record


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_network_record(tmp_path_factory.mktemp("records"))


def test_networks_from_record(record: Path) -> None:
    nets = networks_from_record(record)
    expected = expected_networks()
    assert list(nets) == ["lna", "switch.rf1", "switch.rf2"]  # unmeasured state left out
    for key, ntwk in nets.items():
        np.testing.assert_array_equal(ntwk.frequency.f, F_HZ)
        np.testing.assert_array_equal(ntwk.s, expected[key].s)
        np.testing.assert_array_equal(ntwk.z0, expected[key].z0)
        assert ntwk.name == key
    assert nets["lna"].port_names == ["IN", "OUT"]
    assert nets["switch.rf1"].port_names == ["ANT", "RF1", "RF2"]  # from {name: VNA port}


def test_step_selection_and_provenance(record: Path) -> None:
    assert list(networks_from_record(record, "lna")) == ["lna"]
    assert list(networks_from_record(record, "001_switch")) == ["switch.rf1", "switch.rf2"]
    assert list(networks_from_record(record, 1)) == ["switch.rf1", "switch.rf2"]
    with pytest.raises(KeyError, match="compression"):
        networks_from_record(record, "compression")
    (lna,) = read_step_networks(record, "lna")
    assert lna.calibration == CAL and lna.vna_ports == (1, 2) and lna.state is None
    rf2 = read_step_networks(record, "switch")[1]
    assert (rf2.state, rf2.state_index, rf2.vna_ports) == ("rf2", 1, (1, 3, 4))


def test_partially_written_frequencies_are_dropped() -> None:
    s_re = np.zeros((4, 2, 2))
    s_re[2:] = np.nan  # the sweep stopped after two points
    (net,) = step_networks("000_x", "x", {"frequency_hz": np.arange(1.0, 5.0)},
                           {"s_re": s_re, "s_im": np.zeros((4, 2, 2))}, {}, {})
    np.testing.assert_array_equal(net.network.frequency.f, [1.0, 2.0])
    assert net.network.z0[0, 0] == 50.0 and net.vna_ports == (1, 2)


def test_state_names_fall_back_to_attrs_and_indices() -> None:
    data = {"s_re": np.zeros((2, 3, 1, 1)), "s_im": np.zeros((2, 3, 1, 1))}
    axes = {"frequency_hz": np.arange(1.0, 4.0)}
    named = step_networks("g", "sw", axes, data, {"state_names": '["a", "b"]'}, {})
    assert [n.key for n in named] == ["sw.a", "sw.b"]
    assert [n.key for n in step_networks("g", "sw", axes, data, {}, {})] == ["sw.state0",
                                                                           "sw.state1"]


def test_export_round_trip(record: Path, tmp_path: Path) -> None:
    paths = export_touchstone(record, tmp_path / "ts")
    assert [p.name for p in paths] == ["000_lna.s2p", "001_switch_rf1.s3p",
                                       "001_switch_rf2.s3p"]
    expected = expected_networks()
    for path, key in zip(paths, expected, strict=True):
        back = skrf.Network(str(path))
        np.testing.assert_array_equal(back.frequency.f, F_HZ)
        np.testing.assert_allclose(back.s, expected[key].s, rtol=1e-15, atol=1e-16)
        np.testing.assert_array_equal(back.z0, expected[key].z0)
    text = paths[0].read_text(encoding="ascii")
    for needle in ("!DUT BB-LNA-N78 serial SIM-0007", "!plan n78-lna-and-switch 1.2",
                   "!step lna (000_lna)", "!calibration: cal_set=CalSet_LNA, cal_type=SOLT",
                   "!ports: 1=VNA port 1 (IN), 2=VNA port 2 (OUT)",
                   "!VNA Keysight Technologies N5247B SIM-PNAX-1", "(SIMULATED)",
                   "if_bandwidth_hz=1000.0", "# Hz S RI R 50"):
        assert needle in text, needle
    switch_text = paths[2].read_text(encoding="ascii")
    assert "!step switch (001_switch) state rf2" in switch_text
    assert "# Hz S RI R 75" in switch_text
    assert "3=VNA port 4 (RF2)" in switch_text


def test_default_directory(record: Path) -> None:
    assert default_touchstone_dir(record) == record.with_name(record.stem + "_touchstone")


def test_cli_export(record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["export", "touchstone", str(record), "--out", str(out)]) == EXIT_PASS
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / n) for n in ("000_lna.s2p", "001_switch_rf1.s3p",
                                              "001_switch_rf2.s3p")]
    assert all(Path(p).is_file() for p in printed)
    bogus = tmp_path / "not-a-record.h5"
    bogus.write_bytes(b"not hdf5")
    assert main(["export", "touchstone", str(bogus)]) == EXIT_ERROR
    assert "cannot export" in capsys.readouterr().err
