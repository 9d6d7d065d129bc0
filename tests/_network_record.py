"""A run record with VNA steps, written with the real record writer in the layout the VNA
measurements use (contract: axes frequency_hz/port_row/port_col[/state], datasets s_re/s_im,
step attrs z0_ohm, port_names, vna_calibration), for the Touchstone and plot tests.

- ``000_lna``: an ``s_parameters`` step, a 2-port amplifier on VNA ports 1 and 2 with masks in
  its settings and a stored ``mask_s21_db_pass``;
- ``001_switch``: a ``network_paths`` step, an SP2T (ANT, RF1, RF2 on VNA ports 1, 3, 4) in
  three states of which the last was never measured (interrupted), z0 75 ohm;
- ``002_compression``: a step without S-parameters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skrf

from benchbot.analysis.limit_mask import LimitMaskSpec
from benchbot.analysis.network import gain_db, to_network
from benchbot.results import RunMeta, RunRecord

F_HZ = np.linspace(2.5e9, 4.5e9, 201)
CAL = {"cal_set": "CalSet_LNA", "cal_type": "SOLT", "ports": [1, 2]}
LNA_MASKS = {
    "s21_db": {"segments": [{"start_hz": 3.3e9, "stop_hz": 3.8e9, "min_db": 14.0,
                             "max_db": 17.0},
                            {"start_hz": 4.2e9, "stop_hz": 4.5e9, "max_db": 8.0,
                             "max_stop_db": 2.0}],  # fails near 4.2 GHz
               "source": "datasheet BB-LNA-N78 rev A §2", "marginal_db": 0.3},
    "s11_db": {"segments": [{"start_hz": 3.3e9, "stop_hz": 3.8e9, "max_db": -10.0}],
               "source": "datasheet §2"},
    "group_delay_ns": {"segments": [{"start_hz": 3.3e9, "stop_hz": 3.8e9, "max_db": 1.5}]},
}
SWITCH_STATES = [
    {"state": "rf1", "through": [{"from": "ANT", "to": "RF1"}],
     "isolation": [{"from": "ANT", "to": "RF2"}, {"from": "RF1", "to": "RF2"}], "active": False},
    {"state": "rf2", "through": [{"from": "ANT", "to": "RF2"}],
     "isolation": [{"from": "ANT", "to": "RF1"}, {"from": "RF1", "to": "RF2"}], "active": False},
    {"state": "isolation", "through": [], "isolation": [{"from": "ANT", "to": "RF1"}],
     "active": False},
]
SWITCH_MASKS = {"insertion_loss_db": {"segments": [{"start_hz": 2.5e9, "stop_hz": 4.5e9,
                                                    "max_db": 1.2}]},
                "isolation_db": {"segments": [{"start_hz": 2.5e9, "stop_hz": 4.5e9,
                                               "min_db": 36.0}], "source": "spec §4"}}
#: the judged paths of the switch step (step attribute ``paths``), as network_paths writes them
SWITCH_PATHS = [{"state": st["state"], "quantity": q, "from": p["from"], "to": p["to"]}
                for st in SWITCH_STATES[:2]
                for q, key in (("insertion_loss_db", "through"), ("isolation_db", "isolation"))
                for p in st[key]]


def lna_s(f_hz: np.ndarray) -> np.ndarray:
    """An LNA: 16 dB band-pass gain around 3.55 GHz, 0.6 ns delay, matched in band."""
    x = (f_hz - 3.55e9) / 0.5e9
    w = 2 * np.pi * f_hz
    s = np.zeros((f_hz.size, 2, 2), complex)
    s[:, 1, 0] = 10 ** (16 / 20) / np.sqrt(1 + x**6) * np.exp(-1j * w * 0.6e-9)
    s[:, 0, 1] = 0.02 * np.exp(-1j * w * 0.6e-9)
    s[:, 0, 0] = (0.08 + 0.5 * x**2 / (1 + x**2)) * np.exp(1j * (0.5 - w * 0.1e-9))
    s[:, 1, 1] = (0.12 + 0.4 * x**2 / (1 + x**2)) * np.exp(1j * (-0.7 - w * 0.1e-9))
    return s


def switch_s(f_hz: np.ndarray, state: str) -> np.ndarray:
    """A reciprocal SP2T: ANT-RFn on (0.5 dB + slope), off paths -35..-40 dB."""
    w = 2 * np.pi * f_hz
    on = 10 ** (-(0.5 + 0.1 * f_hz / 1e9) / 20) * np.exp(-1j * w * 0.1e-9)
    off = 10 ** (-(40 - 1.2 * f_hz / 1e9) / 20) * np.exp(-1j * w * 0.05e-9)
    s = np.zeros((f_hz.size, 3, 3), complex)
    ant_rf1, ant_rf2 = (on, off) if state == "rf1" else (off, on)
    for (i, j), v in {(1, 0): ant_rf1, (2, 0): ant_rf2, (2, 1): off * 0.5}.items():
        s[:, i, j] = s[:, j, i] = v
    for k in range(3):
        s[:, k, k] = (0.05 + 0.03 * k) * (f_hz / 2e9) * np.exp(1j * (k - w * 0.02e-9))
    return s


def meta() -> RunMeta:
    return RunMeta(plan_name="n78-lna-and-switch", plan_version="1.2",
                   plan_text="name: n78-lna-and-switch\n", bench_name="simulated-network",
                   bench_text="name: simulated-network\n",
                   dut={"part_number": "BB-LNA-N78", "serial": "SIM-0007", "kind": "lna"},
                   operator="lab-engineer", software={"benchbot": "0.1.0"}, simulated=True,
                   simulator_seed=11, host="bench-pc-1")


def _dims(state: bool) -> tuple[str, ...]:
    return (("state",) if state else ()) + ("frequency_hz", "port_row", "port_col")


def write_network_record(directory: Path) -> Path:
    """Write and close the record; returns its path."""
    rec = RunRecord.create(directory, None, meta())
    rec.add_instrument("vna", {"manufacturer": "Keysight Technologies", "model": "N5247B",
                               "serial": "SIM-PNAX-1", "firmware": "A.17.20.07"},
                       "TCPIP::127.0.0.1::5025::SOCKET", "keysight.pna")
    # -------------------------------------------------------------- s_parameters
    ports = np.array([1, 2])
    lna = rec.begin_step(
        0, "lna", "s_parameters",
        {"sweep": {"start_hz": F_HZ[0], "stop_hz": F_HZ[-1], "points": F_HZ.size,
                   "if_bandwidth_hz": 1e3, "power_dbm": -25.0}, "ports": [1, 2],
         "input_port": 1, "output_port": 2, "band": {"start_hz": 3.3e9, "stop_hz": 3.8e9},
         "masks": LNA_MASKS},
        {"frequency_hz": (F_HZ, "Hz"), "port_row": (ports, "", "VNA port (row)"),
         "port_col": (ports, "", "VNA port (column)")},
        {"s_re": (_dims(False), "", "Re S"), "s_im": (_dims(False), "", "Im S"),
         "mask_s21_db_pass": (("frequency_hz",), "", "1 pass, 0 fail, NaN not judged")})
    s = lna_s(F_HZ)
    lna.write_rows((), {"s_re": s.real, "s_im": s.imag})
    spec = LimitMaskSpec.model_validate(LNA_MASKS["s21_db"])
    result = spec.evaluate(F_HZ, gain_db(to_network(F_HZ, s), 2, 1))
    lna.write_row("mask_s21_db_pass", (), result.pass_as_float())
    lna.finish([], "fail" if result.points_failed else "pass",
               attrs={"z0_ohm": 50.0, "port_names": json.dumps(["IN", "OUT"]),
                      "vna_calibration": json.dumps(CAL)})
    # -------------------------------------------------------------- network_paths
    vna_ports = np.array([1, 3, 4])
    path_dims = ("path", "frequency_hz")
    switch = rec.begin_step(
        1, "switch", "network_paths",
        {"sweep": {"start_hz": F_HZ[0], "stop_hz": F_HZ[-1], "points": F_HZ.size,
                   "if_bandwidth_hz": 1e3, "power_dbm": -10.0},
         "vna_ports": {"ANT": 1, "RF1": 3, "RF2": 4}, "states": SWITCH_STATES,
         "masks": SWITCH_MASKS},
        {"state": (np.arange(3), "", "index into settings.states"), "frequency_hz": (F_HZ, "Hz"),
         "port_row": (vna_ports, ""), "port_col": (vna_ports, ""),
         "path": (np.arange(len(SWITCH_PATHS)), "1", "index into attribute paths")},
        {"s_re": (_dims(True), "", "Re S"), "s_im": (_dims(True), "", "Im S"),
         "mask_isolation_db_pass": (path_dims, "1", "1 pass, 0 fail, NaN not judged")})
    names = ["ANT", "RF1", "RF2"]
    isolation = LimitMaskSpec.model_validate(SWITCH_MASKS["isolation_db"])
    for index, state in enumerate(("rf1", "rf2")):  # the third state was never measured
        s = switch_s(F_HZ, state)
        switch.write_rows(index, {"s_re": s.real, "s_im": s.imag})
        for k, path in enumerate(SWITCH_PATHS):
            if path["state"] == state and path["quantity"] == "isolation_db":
                a, b = names.index(path["from"]), names.index(path["to"])
                iso_db = -20 * np.log10(np.abs(s[:, b, a]))
                switch.write_row("mask_isolation_db_pass", k,
                                 isolation.evaluate(F_HZ, iso_db).pass_as_float())
    switch.finish([], "pass", status="incomplete",
                  attrs={"z0_ohm": 75.0, "port_names": json.dumps({"ANT": 1, "RF1": 3,
                                                                    "RF2": 4}),
                         "paths": json.dumps(SWITCH_PATHS),
                         "vna_calibration": json.dumps({"cal_set": "CalSet_SW",
                                                        "cal_type": "SOLT", "ports": [1, 3, 4]})})
    # -------------------------------------------------------------- no S-parameters
    other = rec.begin_step(2, "compression", "power_sweep", {},
                           {"frequency_hz": (F_HZ[:3], "Hz")},
                           {"output_power_dbm": (("frequency_hz",), "dBm", "Pout")})
    other.finish([], "pass")
    return rec.close()


def expected_networks() -> dict[str, skrf.Network]:
    """What the record holds, as networks built directly from the synthetic models."""
    return {"lna": to_network(F_HZ, lna_s(F_HZ)),
            "switch.rf1": to_network(F_HZ, switch_s(F_HZ, "rf1"), 75.0),
            "switch.rf2": to_network(F_HZ, switch_s(F_HZ, "rf2"), 75.0)}
