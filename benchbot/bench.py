"""Bench file (``schema: benchbot.bench/1``): which instrument plays which role, and path losses.

A bench binds the roles a plan names to drivers and VISA resources and carries, per role, the
calibrated loss between that instrument's port and the DUT reference plane (:class:`PathLoss`,
a validated, interpolated object in the spirit of OpenTAP's ``RfConnection``).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_validator,
    model_validator,
)

from benchbot.inventory import InventoryError, load_inventory, resolve_inventory_path
from benchbot.yamlfile import (
    DocumentError,
    Loc,
    SourcedDocument,
    load_document,
    parse_document,
    raise_problems,
)

SCHEMA_ID = "benchbot.bench/1"
#: a frequency this close to a table end (relative) counts as inside it (float round-off)
EXTRAPOLATION_TOLERANCE = 1e-6



class BenchError(DocumentError):
    """A bench file that cannot be used; ``.issues`` lists every problem with path and line."""


class PathLossError(ValueError):
    """A loss was asked for at a frequency the path-loss table does not cover."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: the folder a bench file's relative paths (path-loss CSVs, inventory) are resolved against;
#: set by parse_bench/load_bench while the file is validated (the working folder otherwise)
_BASE_DIR: ContextVar[Path | None] = ContextVar("benchbot_bench_base_dir", default=None)


@contextmanager
def _relative_to(base_dir: Path) -> Iterator[None]:
    token = _BASE_DIR.set(base_dir)
    try:
        yield
    finally:
        _BASE_DIR.reset(token)


def _base_dir() -> Path:
    return _BASE_DIR.get() or Path.cwd()


def canonical_table_csv(columns: dict[str, list[float]]) -> str:
    """A table as canonical CSV text: the header line, then one row per point with every value
    as Python's shortest round-trip ``repr`` of the float, LF line ends. Its SHA-256 identifies
    an inline table; the same text saved as a path-loss file hashes the same."""
    names = list(columns)
    rows = zip(*(columns[n] for n in names), strict=True)
    return ",".join(names) + "\n" + "".join(
        ",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_table_csv(path: Path, columns: tuple[str, str]) -> tuple[list[float], list[float], str]:
    """A two-column CSV table (header ``columns``, ``#`` comment and blank lines allowed):
    (first column, second column, SHA-256 of the file's bytes). ValueError naming file:line."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read path-loss file {path}: {exc}") from None
    first: list[float] = []
    second: list[float] = []
    header = False
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{path}:{line_no}"
        if not header:
            if tuple(cells) != columns:
                raise ValueError(f"{where}: header must be {','.join(columns)} "
                                 f"(got {','.join(cells)})")
            header = True
            continue
        if len(cells) != 2:
            raise ValueError(f"{where}: expected 2 values ({','.join(columns)}), got {len(cells)}")
        try:
            f, v = float(cells[0]), float(cells[1])
        except ValueError:
            raise ValueError(f"{where}: not a number: {','.join(cells)}") from None
        if not (np.isfinite(f) and np.isfinite(v)):
            raise ValueError(f"{where}: values must be finite")
        if first and f <= first[-1]:
            raise ValueError(f"{where}: {columns[0]} {f:g} is not above the previous "
                             f"{first[-1]:g} (must strictly increase)")
        first.append(f)
        second.append(v)
    if not first:
        raise ValueError(f"{path}: no table rows (header {','.join(columns)} then one row "
                         "per frequency)")
    return first, second, sha256_hex(data)


def _table_problems(frequency_hz: list[float], values: list[float], values_field: str
                    ) -> list[tuple[Loc, str, Any]]:
    """Problems of a table against frequency: lengths differ, frequencies not increasing."""
    problems: list[tuple[Loc, str, Any]] = []
    if len(frequency_hz) != len(values):
        problems.append(((values_field,), f"{len(values)} values for "
                         f"{len(frequency_hz)} frequencies", None))
    for i in range(1, len(frequency_hz)):
        if frequency_hz[i] <= frequency_hz[i - 1]:
            problems.append((("frequency_hz", i), f"{frequency_hz[i]:g} Hz is not above "
                             f"the previous {frequency_hz[i - 1]:g} Hz (must strictly "
                             "increase)", frequency_hz[i]))
    return problems


class PathLoss(_Model):
    """Loss (dB, positive = loss) from an instrument port to the DUT plane against frequency.

    Inline (``frequency_hz`` and ``loss_db`` lists) or from a CSV file (``{file: path}``,
    columns ``frequency_hz,loss_db``, relative to the bench file), read when the bench is
    loaded; :attr:`source_sha256` identifies what was applied. Interpolated linearly in
    frequency; never extrapolated beyond the table by more than
    :data:`EXTRAPOLATION_TOLERANCE` (relative) -- a loss the bench was not calibrated for is
    an error, not a guess.
    """

    frequency_hz: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    loss_db: list[Annotated[float, Field(ge=-100, le=200)]] = Field(min_length=1)
    _file: str | None = PrivateAttr(default=None)
    _file_sha256: str | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _from_file(cls, data: Any, handler: ModelWrapValidatorHandler[PathLoss]) -> PathLoss:
        """``{file: cables/x.csv}``: the table read from the CSV (path, hash kept)."""
        if not (isinstance(data, dict) and "file" in data):
            return handler(data)
        others = sorted(str(k) for k in data if k != "file")
        if others:
            raise ValueError(f"give either file or an inline table, not both (remove "
                             f"{', '.join(others)} or file)")
        reference = data["file"]
        if not isinstance(reference, str) or not reference.strip():
            raise ValueError(f"file must be a CSV path (got {reference!r})")
        path = Path(reference).expanduser()
        path = path if path.is_absolute() else _base_dir() / path
        frequency_hz, loss_db, digest = read_table_csv(path, ("frequency_hz", "loss_db"))
        table = handler({"frequency_hz": frequency_hz, "loss_db": loss_db})
        table._file, table._file_sha256 = str(path.resolve()), digest
        return table

    @model_validator(mode="after")
    def _table(self) -> PathLoss:
        raise_problems("PathLoss", _table_problems(self.frequency_hz, self.loss_db, "loss_db"))
        return self

    @property
    def file(self) -> str | None:
        """The CSV file the table was read from (absolute), None for an inline table."""
        return self._file

    @property
    def source_sha256(self) -> str:
        """SHA-256 of the file's bytes, or of :meth:`canonical_csv` for an inline table."""
        if self._file_sha256 is not None:
            return self._file_sha256
        return sha256_hex(self.canonical_csv().encode("utf-8"))

    def canonical_csv(self) -> str:
        """The table as canonical CSV (:func:`canonical_table_csv`)."""
        return canonical_table_csv({"frequency_hz": self.frequency_hz, "loss_db": self.loss_db})

    @property
    def range_hz(self) -> tuple[float, float]:
        """(lowest, highest) table frequency."""
        return self.frequency_hz[0], self.frequency_hz[-1]

    def covers(self, frequency_hz: float) -> bool:
        """Whether ``frequency_hz`` is inside the table (within the tolerance)."""
        lo, hi = self.range_hz
        tol = EXTRAPOLATION_TOLERANCE * frequency_hz
        return lo - tol <= frequency_hz <= hi + tol

    def loss_db_at(self, frequency_hz: float | np.ndarray) -> float | np.ndarray:
        """Loss in dB at ``frequency_hz`` (scalar or array). Raises :class:`PathLossError`."""
        f = np.asarray(frequency_hz, dtype=float)
        for fi in np.atleast_1d(f):
            if not self.covers(float(fi)):
                lo, hi = self.range_hz
                raise PathLossError(f"{fi:g} Hz is outside the path-loss table "
                                    f"({lo:g} to {hi:g} Hz); refusing to extrapolate")
        loss = np.interp(f, self.frequency_hz, self.loss_db)
        return float(loss) if loss.ndim == 0 else loss


class InstrumentEntry(_Model):
    """One bench role: driver, VISA resource (or ``simulated``), options and path loss."""

    driver: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$", description="e.g. keysight.n9030b")
    resource: str = Field(min_length=1, description="VISA resource, or 'simulated'")
    simulator: str | None = Field(default=None, description="simulator model key")
    options: dict[str, Any] = Field(default_factory=dict, description="driver options")
    timeout_s: float = Field(default=5.0, gt=0, le=600, description="VISA I/O timeout, s")
    path_loss: PathLoss | None = Field(
        default=None, description="instrument port <-> DUT plane: inline frequency_hz/loss_db, "
        "or {file: CSV frequency_hz,loss_db} relative to the bench file")

    @model_validator(mode="after")
    def _simulated(self) -> InstrumentEntry:
        if self.resource == "simulated" and not self.simulator:
            raise_problems("InstrumentEntry", [(("simulator",),
                           "required when resource is 'simulated'", None)])
        return self


class EnrTable(_Model):
    """A noise source's calibrated excess noise ratio against frequency (its cal report)."""

    frequency_hz: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    enr_db: list[Annotated[float, Field(ge=0, le=40)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _table(self) -> EnrTable:
        raise_problems("EnrTable", _table_problems(self.frequency_hz, self.enr_db, "enr_db"))
        return self

    @property
    def source_sha256(self) -> str:
        """SHA-256 of the table's canonical CSV (:func:`canonical_table_csv`)."""
        return sha256_hex(canonical_table_csv(
            {"frequency_hz": self.frequency_hz, "enr_db": self.enr_db}).encode("utf-8"))


class TestSetSwitch(_Model):
    """A GPIO-driven test-set switch: ``port`` of the controller in ``role`` written with
    ``thru_value`` routes the noise source straight to the analyzer (receiver calibration,
    the DUT bypassed), with ``dut_value`` through the DUT."""

    role: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    port: int = Field(ge=0, le=255)
    thru_value: int = Field(ge=0, le=255)
    dut_value: int = Field(ge=0, le=255)


class NoiseSourceEntry(_Model):
    """A 346-type noise source on the DUT's input, powered by ``driven_by``'s +28 V output."""

    model: str = Field(min_length=1, description="e.g. Keysight 346B")
    serial: str = Field(min_length=1)
    enr: EnrTable
    driven_by: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="role with the 28 V drive")
    cold_temperature_k: float = Field(default=296.15, gt=0, le=400,
                                      description="physical temperature of the source when off")
    bypass: TestSetSwitch | None = Field(default=None, description="receiver-calibration route")
    cal_due: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    def simulation_config(self) -> dict[str, Any]:
        """The simulated source is exactly as calibrated (like the simulated cables)."""
        config: dict[str, Any] = {
            "enr": {"frequency_hz": list(self.enr.frequency_hz), "enr_db": list(self.enr.enr_db)},
            "cold_temperature_k": self.cold_temperature_k,
        }
        if self.bypass is not None:
            config["bypass"] = {"gpio_port": self.bypass.port,
                                "thru_value": self.bypass.thru_value}
        return config


class BenchDefinition(SourcedDocument, _Model):
    """A bench: role -> instrument, and the simulators' physical truth when simulated."""

    schema_id: Literal["benchbot.bench/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    instruments: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], InstrumentEntry] = (
        Field(min_length=1)
    )
    noise_source: NoiseSourceEntry | None = Field(default=None, description="Y-factor source")
    inventory: str | None = Field(
        default=None, min_length=1,
        description="lab calibration inventory (benchbot.inventory/1) relative to the bench "
        "file, or a packaged one by name (simulated-lab); stored resolved (absolute)")
    simulation: dict[str, Any] | None = Field(default=None, description="free-form, simulators'")

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("inventory")
    @classmethod
    def _inventory(cls, v: str | None) -> str | None:
        """Resolve the inventory against the bench file's folder and validate it now, so a
        broken inventory fails `benchbot validate`, not the run."""
        if v is None:
            return None
        path = resolve_inventory_path(v, _base_dir())
        try:
            load_inventory(path)
        except InventoryError as exc:
            raise ValueError(str(exc)) from None
        return str(path.resolve())

    @property
    def inventory_path(self) -> Path | None:
        """The calibration inventory file, if the bench (or ``--inventory``) names one."""
        return None if self.inventory is None else Path(self.inventory)

    def with_inventory(self, path: str | Path) -> BenchDefinition:
        """This bench with another inventory (``--inventory``; relative to the working
        folder), validated first. Raises :class:`BenchError` naming the inventory's lines."""
        resolved = Path(path).expanduser().resolve()
        try:
            load_inventory(resolved)
        except InventoryError as exc:
            raise BenchError(exc.source, exc.issues) from None
        return self.model_copy(update={"inventory": str(resolved)})

    @property
    def simulated(self) -> bool:
        """True when any role is served by a simulator."""
        return any(e.resource == "simulated" for e in self.instruments.values())


def parse_bench(text: str, source: str = "<bench>", base_dir: str | Path | None = None
                ) -> BenchDefinition:
    """Validate bench YAML ``text``; ``source`` names it in errors; relative paths in it
    (path-loss files, inventory) are read from ``base_dir`` (default: the working folder).
    Raises :class:`BenchError`."""
    with _relative_to(Path(base_dir) if base_dir is not None else Path.cwd()):
        return parse_document(BenchDefinition, text, source, BenchError)


def load_bench(path: str | Path) -> BenchDefinition:
    """Read and validate a bench file; its relative paths are relative to its folder.
    Raises :class:`BenchError`."""
    with _relative_to(Path(path).expanduser().resolve().parent):
        return load_document(BenchDefinition, path, BenchError)


#: the packaged simulated benches, by the name `--bench` accepts
BUILTIN_BENCHES = ("simulated", "simulated-rs", "simulated-network", "simulated-network-rs",
                   "simulated-gan", "simulated-gan-rf")


def builtin_bench_path(name: str = "simulated") -> Path:
    """A packaged simulated bench: ``simulated`` (Keysight MXG + PXA, the default) or
    ``simulated-rs`` (R&S SMW200A + FSW on the same physical bench)."""
    if name not in BUILTIN_BENCHES:
        raise BenchError.single("--bench", f"no built-in bench {name!r} and no such file; "
                                f"built-in: {', '.join(BUILTIN_BENCHES)}")
    return Path(str(resources.files("benchbot").joinpath("benches", f"{name}.yaml")))

