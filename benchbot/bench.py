"""Bench file (``schema: benchbot.bench/1``): which instrument plays which role, and path losses.

A bench binds the roles a plan names to drivers and VISA resources and carries, per role, the
calibrated loss between that instrument's port and the DUT reference plane (:class:`PathLoss`,
a validated, interpolated object in the spirit of OpenTAP's ``RfConnection``) and, for a power
meter, its sensor with the cal factors of its certificate (:class:`PowerSensorEntry`).
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
    ValidationError,
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
SIMULATED_RESOURCE = "simulated"
"""The ``resource`` of an instrument served by a simulator (``simulator`` names its model)."""



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
    table, digest, _ = read_columns_csv(path, (columns,), "path-loss")
    return table[columns[0]], table[columns[1]], digest


def read_columns_csv(path: Path, headers: tuple[tuple[str, ...], ...], what: str
                     ) -> tuple[dict[str, list[float]], str, list[int]]:
    """A numeric CSV table whose header is one of ``headers`` (``#`` comment and blank lines
    allowed; the first column strictly increasing): {column: values}, the SHA-256 of the
    file's bytes and each row's line number. ``what`` names the kind of file in errors.
    ValueError naming file:line."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {what} file {path}: {exc}") from None
    names: tuple[str, ...] | None = None
    rows: list[list[float]] = []
    lines: list[int] = []
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{path}:{line_no}"
        if names is None:
            if tuple(cells) not in headers:
                raise ValueError(f"{where}: header must be "
                                 f"{' or '.join(','.join(h) for h in headers)} "
                                 f"(got {','.join(cells)})")
            names = tuple(cells)
            continue
        rows.append(_csv_row(where, cells, names, rows[-1][0] if rows else None))
        lines.append(line_no)
    if names is None or not rows:
        raise ValueError(f"{path}: no table rows (header {','.join(names or headers[0])} then "
                         "one row per frequency)")
    columns = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    return columns, sha256_hex(data), lines


def _csv_row(where: str, cells: list[str], names: tuple[str, ...], previous: float | None
             ) -> list[float]:
    """One data row of :func:`read_columns_csv`, checked: count, numbers, finite, increasing."""
    if len(cells) != len(names):
        raise ValueError(f"{where}: expected {len(names)} values ({','.join(names)}), "
                         f"got {len(cells)}")
    try:
        values = [float(c) for c in cells]
    except ValueError:
        raise ValueError(f"{where}: not a number: {','.join(cells)}") from None
    if not all(np.isfinite(values)):
        raise ValueError(f"{where}: values must be finite")
    if previous is not None and values[0] <= previous:
        raise ValueError(f"{where}: {names[0]} {values[0]:g} is not above the previous "
                         f"{previous:g} (must strictly increase)")
    return values


def _resolve_file(reference: Any) -> Path:
    """A table's ``file:`` value as a path: relative to the bench file's folder; a bare file
    name found nowhere there is looked up among the packaged bench files (the built-in
    benches' certificates), as ``inventory: simulated-lab`` names the packaged inventory, so
    that a built-in bench's text parsed elsewhere still finds its tables."""
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError(f"file must be a CSV path (got {reference!r})")
    path = Path(reference).expanduser()
    if path.is_absolute():
        return path
    local = _base_dir() / path
    if not local.exists() and len(path.parts) == 1:
        packaged = Path(str(resources.files("benchbot").joinpath("benches", reference)))
        if packaged.is_file():
            return packaged
    return local


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


class _SourcedTable(_Model):
    """A calibration table given inline or read from a CSV file when the bench loads: what it
    was read from and the SHA-256 that identifies what was applied (recorded with the run)."""

    _file: str | None = PrivateAttr(default=None)
    _file_sha256: str | None = PrivateAttr(default=None)

    @staticmethod
    def _file_of(data: Any) -> Path | None:
        """The CSV path of ``{file: path}`` (resolved against the bench file), None for an
        inline table; both at once is refused."""
        if not (isinstance(data, dict) and "file" in data):
            return None
        others = sorted(str(k) for k in data if k != "file")
        if others:
            raise ValueError(f"give either file or an inline table, not both (remove "
                             f"{', '.join(others)} or file)")
        return _resolve_file(data["file"])

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
        raise NotImplementedError


class PathLoss(_SourcedTable):
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

    @model_validator(mode="wrap")
    @classmethod
    def _from_file(cls, data: Any, handler: ModelWrapValidatorHandler[PathLoss]) -> PathLoss:
        """``{file: cables/x.csv}``: the table read from the CSV (path, hash kept)."""
        path = cls._file_of(data)
        if path is None:
            return handler(data)
        frequency_hz, loss_db, digest = read_table_csv(path, ("frequency_hz", "loss_db"))
        table = handler({"frequency_hz": frequency_hz, "loss_db": loss_db})
        table._file, table._file_sha256 = str(path.resolve()), digest
        return table

    @model_validator(mode="after")
    def _table(self) -> PathLoss:
        raise_problems("PathLoss", _table_problems(self.frequency_hz, self.loss_db, "loss_db"))
        return self

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


#: the frequency of the power meter's 1 mW power reference, where a thermal/diode sensor's
#: reference cal factor (its certificate's "REF CF") applies
POWER_REFERENCE_FREQUENCY_HZ = 50e6
#: what ``cal_factors`` says for a sensor that carries its own cal factors (N192xA P-series,
#: E-series, U2000): the meter reads and applies them, the bench gives no table
SENSOR_EEPROM = "sensor_eeprom"
_CAL_FACTOR_HEADERS = (("frequency_hz", "cal_factor_pct"),
                       ("frequency_hz", "cal_factor_pct", "uncertainty_pct"))


class CalFactorTable(_SourcedTable):
    """A power sensor's cal factor (%) against frequency, as its calibration certificate
    prints it, with the certificate's uncertainty (%) when given.

    Inline (``frequency_hz``, ``cal_factor_pct`` [, ``uncertainty_pct``] lists) or from a CSV
    file (``{file: path}``, columns ``frequency_hz,cal_factor_pct[,uncertainty_pct]``, relative
    to the bench file), read when the bench is loaded; :attr:`source_sha256` identifies it, as
    for :class:`PathLoss`. The meter interpolates it at the frequency it is set to.
    """

    frequency_hz: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    cal_factor_pct: list[Annotated[float, Field(ge=1, le=150)]] = Field(min_length=1)
    uncertainty_pct: list[Annotated[float, Field(ge=0, le=100)]] | None = Field(
        default=None, description="the certificate's uncertainty of each cal factor, %")

    @model_validator(mode="wrap")
    @classmethod
    def _from_file(cls, data: Any, handler: ModelWrapValidatorHandler[CalFactorTable]
                   ) -> CalFactorTable:
        """``{file: certs/8481A.csv}``: the table read from the CSV (path, hash kept)."""
        path = cls._file_of(data)
        if path is None:
            return handler(data)
        columns, digest, lines = read_columns_csv(path, _CAL_FACTOR_HEADERS, "cal-factor")
        try:
            table = handler(columns)
        except ValidationError as exc:  # name the CSV line of a value out of range
            first = exc.errors()[0]
            loc = first["loc"]
            where = (f"{path}:{lines[loc[1]]}: {loc[0]}" if len(loc) > 1
                     and isinstance(loc[1], int) else f"{path}")
            raise ValueError(f"{where}: {first['msg']}") from None
        table._file, table._file_sha256 = str(path.resolve()), digest
        return table

    @model_validator(mode="after")
    def _table(self) -> CalFactorTable:
        problems = _table_problems(self.frequency_hz, self.cal_factor_pct, "cal_factor_pct")
        if self.uncertainty_pct is not None and len(self.uncertainty_pct) != len(
                self.frequency_hz):
            problems.append((("uncertainty_pct",), f"{len(self.uncertainty_pct)} values for "
                             f"{len(self.frequency_hz)} frequencies", None))
        raise_problems("CalFactorTable", problems)
        return self

    def canonical_csv(self) -> str:
        """The table as canonical CSV (:func:`canonical_table_csv`)."""
        columns = {"frequency_hz": self.frequency_hz, "cal_factor_pct": self.cal_factor_pct}
        if self.uncertainty_pct is not None:
            columns["uncertainty_pct"] = self.uncertainty_pct
        return canonical_table_csv(columns)

    def covers(self, frequency_hz: float) -> bool:
        """Whether ``frequency_hz`` lies within the table (to the extrapolation tolerance):
        outside it a meter would silently apply the end value."""
        tol = EXTRAPOLATION_TOLERANCE * frequency_hz
        return min(self.frequency_hz) - tol <= frequency_hz <= max(self.frequency_hz) + tol

    def value_at(self, frequency_hz: float) -> float | None:
        """The cal factor (%) listed at ``frequency_hz`` (within the tolerance), else None."""
        for f, value in zip(self.frequency_hz, self.cal_factor_pct, strict=True):
            if abs(f - frequency_hz) <= EXTRAPOLATION_TOLERANCE * frequency_hz:
                return value
        return None


class PowerSensorEntry(_Model):
    """The sensor on a power meter's input, and where its cal factors come from: a table from
    its calibration certificate (8480 series and other sensors without EEPROM), loaded into
    the meter at set-up, or ``sensor_eeprom`` (the meter applies the sensor's own)."""

    manufacturer: str = Field(default="", description="e.g. Keysight")
    model: str = Field(min_length=1, description="e.g. 8481A")
    serial: str = Field(min_length=1)
    cal_factors: CalFactorTable | None = Field(
        description="inline frequency_hz/cal_factor_pct[/uncertainty_pct], {file: CSV}, or "
        "sensor_eeprom (the sensor's EEPROM holds them: read as None)")
    reference_cal_factor_pct: float | None = Field(
        default=None, ge=1, le=150, description="cal factor at the 50 MHz power reference "
        "(certificate REF CF); default: the table's 50 MHz row")
    cal_due: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                description="due date when the lab inventory does not list "
                                "the sensor")

    @field_validator("cal_factors", mode="before")
    @classmethod
    def _eeprom_word(cls, v: Any) -> Any:
        """``sensor_eeprom`` is the only word allowed (stored as None: no table)."""
        if v == SENSOR_EEPROM:
            return None
        if v is None or isinstance(v, str):
            raise ValueError(f"{v!r} is not a table; give {SENSOR_EEPROM} (the sensor's EEPROM "
                             "holds its cal factors), an inline table (frequency_hz, "
                             "cal_factor_pct) or {file: CSV}")
        return v

    @model_validator(mode="after")
    def _reference(self) -> PowerSensorEntry:
        table = self.table
        if table is None and self.reference_cal_factor_pct is not None:
            raise_problems("PowerSensorEntry", [(("reference_cal_factor_pct",), "only with a "
                           "cal-factor table (the sensor's EEPROM holds its own)", None)])
        if table is not None and self.reference_cal_factor_pct is None and table.value_at(
                POWER_REFERENCE_FREQUENCY_HZ) is None:
            raise_problems("PowerSensorEntry", [(("reference_cal_factor_pct",), "required: "
                           "the table has no 50 MHz row (the certificate's reference cal "
                           "factor, at the meter's power reference)", None)])
        return self

    @property
    def table(self) -> CalFactorTable | None:
        """The cal-factor table, None for a sensor with EEPROM."""
        return self.cal_factors

    @property
    def reference_cal_factor(self) -> float:
        """The reference cal factor (%): as given, else the table's 50 MHz row (100 for a
        sensor with EEPROM, which the meter does not ask for)."""
        if self.reference_cal_factor_pct is not None:
            return self.reference_cal_factor_pct
        table = self.table
        value = table.value_at(POWER_REFERENCE_FREQUENCY_HZ) if table is not None else None
        return 100.0 if value is None else value

    @property
    def table_name(self) -> str:
        """The name the table is stored under in the meter: ``CF_`` and the last 9 letters,
        digits or underscores of the serial (12 characters at most, as power meters allow)."""
        cleaned = "".join(c if c.isalnum() and c.isascii() else "_" for c in self.serial)
        return f"CF_{cleaned[-9:]}"

    def describe(self) -> str:
        """e.g. ``Keysight 8481A s/n MY41090123``."""
        return " ".join(p for p in (self.manufacturer, self.model, "s/n", self.serial) if p)


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
    sensor: PowerSensorEntry | None = Field(
        default=None, description="a power meter's sensor and its cal factors")

    @model_validator(mode="after")
    def _simulated(self) -> InstrumentEntry:
        if self.resource == SIMULATED_RESOURCE and not self.simulator:
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
        return any(e.resource == SIMULATED_RESOURCE for e in self.instruments.values())

    @property
    def fully_simulated(self) -> bool:
        """True when every role is served by a simulator: the whole bench can be served on
        loopback (``simbench``) for a run."""
        return all(e.resource == SIMULATED_RESOURCE for e in self.instruments.values())


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

