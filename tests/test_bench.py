"""Bench files and path-loss tables."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from benchbot.bench import (
    BenchError,
    PathLoss,
    PathLossError,
    builtin_bench_path,
    load_bench,
    parse_bench,
)

TEXT = builtin_bench_path().read_text(encoding="utf-8")


def test_builtin_bench_loads() -> None:
    path = builtin_bench_path()
    assert path.name == "simulated.yaml" and path.parent.name == "benches"
    bench = load_bench(path)
    assert bench.schema_id == "benchbot.bench/1" and bench.name == "simulated-keysight"
    assert set(bench.instruments) == {"signal_generator", "signal_analyzer", "power_meter",
                                      "dc_supply"}
    pm = bench.instruments["power_meter"]
    assert pm.driver == "keysight.n1912a" and pm.simulator == "keysight_n1912a"
    assert pm.options == {"channel": 1}
    assert bench.instruments["dc_supply"].path_loss is None
    assert bench.simulated
    assert bench.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # YAML 1.2 floats: 3.55e9 is a number for the simulators, not the string PyYAML 1.1 makes
    assert bench.simulation is not None
    assert bench.simulation["dut"]["center_frequency_hz"] == 3.55e9
    assert bench.simulation["seed"] == 20261123


def test_model_copy_keeps_provenance() -> None:
    bench = parse_bench(TEXT, "bench.yaml")
    copy = bench.model_copy(update={"name": "served"})
    assert copy.sha256 == bench.sha256 and copy.source_path == "bench.yaml"


LINE_OF_3_8 = "      frequency_hz: [3.0e9, 3.3e9, 3.55e9, 3.8e9, 4.0e9]"


@pytest.mark.parametrize(
    ("old", "new", "path", "reason"),
    [
        ("schema: benchbot.bench/1", "schema: benchbot.plan/1", "schema",
         "Input should be 'benchbot.bench/1'"),
        ("    driver: keysight.n5182b", "    driver: Keysight N5182B",
         "instruments.signal_generator.driver", "String should match pattern"),
        ("    simulator: keysight_n5182b\n", "", "instruments.signal_generator.simulator",
         "required when resource is 'simulated'"),
        ("    options: {channel: 1}", "    option: {channel: 1}",
         "instruments.power_meter.option", "unknown field; did you mean 'options'?"),
        ("      loss_db: [1.42, 1.50, 1.56, 1.62, 1.66]", "      loss_db: [1.42, 1.50, 1.56]",
         "instruments.signal_generator.path_loss.loss_db", "3 values for 5 frequencies"),
        (LINE_OF_3_8, "      frequency_hz: [3.0e9, 3.3e9, 3.3e9, 3.8e9, 4.0e9]",
         "instruments.signal_generator.path_loss.frequency_hz[2]",
         "3.3e+09 Hz is not above the previous 3.3e+09 Hz (must strictly increase)"),
        (LINE_OF_3_8 + "\n      loss_db: [1.42, 1.50, 1.56, 1.62, 1.66]",
         "      frequency_hz: []\n      loss_db: []",
         "instruments.signal_generator.path_loss.frequency_hz", "at least 1 item"),
        ("  dc_supply:\n", "  DC supply:\n", "instruments.DC supply",
         "String should match pattern"),
    ],
)
def test_bad_bench(old: str, new: str, path: str, reason: str) -> None:
    assert old in TEXT
    text = TEXT.replace(old, new, 1)
    with pytest.raises(BenchError) as info:
        parse_bench(text, "b.yaml")
    issues = [i for i in info.value.issues if i.path == path]
    assert issues, str(info.value)
    assert any(reason in i.message for i in issues), str(info.value)
    assert all(i.line is not None and i.line > 1 for i in issues)
    assert f"b.yaml:{issues[0].line}: {path}: " in str(info.value)


def test_unreadable_bench(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BenchError, match="cannot read"):
        load_bench(tmp_path / "nope.yaml")


GEN = PathLoss(frequency_hz=[3.0e9, 3.3e9, 3.55e9, 3.8e9, 4.0e9],
               loss_db=[1.42, 1.50, 1.56, 1.62, 1.66])


@pytest.mark.parametrize(
    ("frequency_hz", "loss_db"),
    [(3.0e9, 1.42), (3.55e9, 1.56), (4.0e9, 1.66), (3.425e9, 1.53), (3.9e9, 1.64),
     (3.1e9, 1.42 + 0.08 / 3)],
)
def test_path_loss_interpolates_linearly_in_frequency(frequency_hz: float, loss_db: float) -> None:
    assert GEN.loss_db_at(frequency_hz) == pytest.approx(loss_db, abs=1e-12)


def test_path_loss_vectorised() -> None:
    got = GEN.loss_db_at(np.array([3.0e9, 3.425e9, 4.0e9]))
    assert isinstance(got, np.ndarray) and np.allclose(got, [1.42, 1.53, 1.66])
    assert isinstance(GEN.loss_db_at(3.3e9), float)


@pytest.mark.parametrize("frequency_hz", [2.9e9, 4.01e9, 1.0e6, 10e9])
def test_path_loss_refuses_to_extrapolate(frequency_hz: float) -> None:
    with pytest.raises(PathLossError) as info:
        GEN.loss_db_at(frequency_hz)
    assert f"{frequency_hz:g} Hz is outside the path-loss table (3e+09 to 4e+09 Hz)" in str(
        info.value)
    assert not GEN.covers(frequency_hz)


def test_path_loss_round_off_tolerance() -> None:
    assert GEN.loss_db_at(4.0e9 * (1 + 1e-9)) == pytest.approx(1.66)
    assert GEN.loss_db_at(3.0e9 * (1 - 1e-9)) == pytest.approx(1.42)


def test_single_point_table() -> None:
    table = PathLoss(frequency_hz=[3.5e9], loss_db=[2.0])
    assert table.loss_db_at(3.5e9) == 2.0 and table.range_hz == (3.5e9, 3.5e9)
    with pytest.raises(PathLossError):
        table.loss_db_at(3.6e9)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"frequency_hz": [1e9, 2e9], "loss_db": [1.0]}, "1 values for 2 frequencies"),
        ({"frequency_hz": [2e9, 1e9], "loss_db": [1.0, 1.0]}, "must strictly increase"),
        ({"frequency_hz": [], "loss_db": []}, "at least 1 item"),
        ({"frequency_hz": [0.0], "loss_db": [1.0]}, "greater than 0"),
        ({"frequency_hz": [1e9], "loss_db": [float("nan")]}, "finite number"),
    ],
)
def test_bad_path_loss(kwargs: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        PathLoss(**kwargs)


@st.composite
def tables(draw: st.DrawFn) -> PathLoss:
    n = draw(st.integers(1, 12))
    steps = draw(st.lists(st.floats(1e6, 1e9), min_size=n, max_size=n))
    freqs = np.cumsum([1e9, *steps[1:]])
    losses = draw(st.lists(st.floats(-20, 60), min_size=n, max_size=n))
    return PathLoss(frequency_hz=list(freqs), loss_db=losses)


@given(table=tables(), where=st.floats(0, 1))
def test_interpolated_loss_lies_between_its_neighbours(table: PathLoss, where: float) -> None:
    lo, hi = table.range_hz
    f = lo + where * (hi - lo)
    loss = table.loss_db_at(f)
    i = int(np.searchsorted(table.frequency_hz, f, side="right"))
    left = table.loss_db[max(i - 1, 0)]
    right = table.loss_db[min(i, len(table.loss_db) - 1)]
    assert min(left, right) - 1e-9 <= loss <= max(left, right) + 1e-9
    for fi, li in zip(table.frequency_hz, table.loss_db, strict=True):
        assert table.loss_db_at(fi) == pytest.approx(li)
