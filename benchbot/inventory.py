"""Lab calibration inventory (``schema: benchbot.inventory/1``) and the calibration check.

The inventory lists the lab's instruments by manufacturer, model and serial with their last
calibration, due date, certificate and calibrating lab (the data a lab's asset-management
system exports). At run start the engine looks up every connected instrument's ``*IDN?``
model and serial here (and the bench's noise source by its model and serial) and judges the
calibration: ``valid``, ``expires_soon`` (due within ``expires_soon_days``), ``expired``
(past the due date) or ``not_in_inventory``. The plan's ``calibration_policy`` decides what
an expired or unknown calibration does to the run (:func:`policy_findings`).

Storage-free: the engine writes the ``calibration.*`` attributes :meth:`CalibrationCheck.attrs`
returns onto ``/instruments/<role>`` (docs/record-format.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from benchbot.yamlfile import (
    DocumentError,
    Loc,
    SourcedDocument,
    load_document,
    parse_document,
    raise_problems,
)

SCHEMA_ID = "benchbot.inventory/1"
#: a calibration due within this many days is reported as ``expires_soon`` (inventory default)
DEFAULT_EXPIRES_SOON_DAYS = 30
#: the inventory shipped for the simulated benches, by the name a bench file may give
BUILTIN_INVENTORIES = {"simulated-lab": "inventory.yaml"}

#: what an expired / unknown calibration does: ``refuse`` (default) refuses an expired one and
#: warns about an instrument missing from the inventory; ``warn`` only warns (recorded);
#: ``strict`` refuses both
CalibrationPolicy = Literal["refuse", "warn", "strict"]


class InventoryError(DocumentError):
    """An inventory file that cannot be used; ``.issues`` lists every problem with its line."""


class CalibrationError(RuntimeError):
    """The run is refused: an instrument's calibration has expired (or, under the ``strict``
    policy, an instrument is not in the inventory)."""


class CalibrationStatus(StrEnum):
    """The judged calibration state of one instrument on the day of the run."""

    VALID = "valid"
    EXPIRES_SOON = "expires_soon"
    EXPIRED = "expired"
    NOT_IN_INVENTORY = "not_in_inventory"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


class InventoryEntry(_Model):
    """One instrument's calibration as the lab's records hold it."""

    manufacturer: str = Field(min_length=1, description="e.g. Keysight Technologies")
    model: str = Field(min_length=1, description="the *IDN? model field, e.g. N9030B")
    serial: str = Field(min_length=1, description="the *IDN? serial field")
    calibrated: dt.date = Field(description="date of the last calibration (YYYY-MM-DD)")
    due: dt.date = Field(description="calibration due date (YYYY-MM-DD); valid through it")
    certificate: str = Field(min_length=1, description="calibration certificate id")
    lab: str | None = Field(default=None, description="calibrating lab; default: inventory's")
    notes: str = ""

    @model_validator(mode="after")
    def _dates(self) -> InventoryEntry:
        if self.due <= self.calibrated:
            raise_problems("InventoryEntry", [(("due",), f"{self.due} is not after the "
                                               f"calibration date {self.calibrated}", None)])
        return self

    def matches(self, model: str, serial: str) -> bool:
        """Whether an instrument reporting ``model`` / ``serial`` is this entry.

        Model: the entry's model, or manufacturer + model (a bench's noise source is named
        "Keysight 346A"); case and spacing ignored. Serial: equal, or the part after the last
        ``/`` of an R&S ``<order no>/<serial>`` *IDN? field [verify: R&S labels and
        certificates carry the 6-digit serial only].
        """
        models = {_key(self.model), _key(f"{self.manufacturer} {self.model}")}
        if _key(model) not in models:
            return False
        got, want = _key(serial), _key(self.serial)
        return got == want or got.rsplit("/", 1)[-1] == want


class Inventory(SourcedDocument, _Model):
    """The lab's calibration inventory: instruments by model and serial."""

    schema_id: Literal["benchbot.inventory/1"] = Field(alias="schema")
    lab: str = Field(default="", description="calibrating lab of entries that name none")
    expires_soon_days: int = Field(default=DEFAULT_EXPIRES_SOON_DAYS, ge=0, le=366,
                                   description="due within this many days: expires_soon")
    instruments: list[InventoryEntry] = Field(min_length=1)

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        problems: list[tuple[Loc, str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        for i, e in enumerate(self.instruments):
            key = (_key(e.model), _key(e.serial))
            if key in seen:
                problems.append((("instruments", i, "serial"), f"{e.model} s/n {e.serial} is "
                                 f"already listed as instruments[{seen[key]}]", e.serial))
            seen.setdefault(key, i)
        raise_problems("Inventory", problems)
        return self

    def find(self, model: str, serial: str) -> InventoryEntry | None:
        """The entry of the instrument reporting ``model`` and ``serial``, if listed."""
        return next((e for e in self.instruments if e.matches(model, serial)), None)


def parse_inventory(text: str, source: str = "<inventory>") -> Inventory:
    """Validate inventory YAML ``text``; ``source`` names it in errors. Raises InventoryError."""
    return parse_document(Inventory, text, source, InventoryError)


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate an inventory file. Raises :class:`InventoryError`."""
    return load_document(Inventory, path, InventoryError)


def resolve_inventory_path(reference: str, base_dir: Path) -> Path:
    """A bench's ``inventory:`` value as a file: a path relative to ``base_dir`` (the bench
    file's folder), or the name of a packaged inventory (``simulated-lab``) when no such file
    exists, as ``--bench simulated`` names a packaged bench."""
    path = Path(reference).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.exists() and reference in BUILTIN_INVENTORIES:
        return Path(str(resources.files("benchbot").joinpath(
            "benches", BUILTIN_INVENTORIES[reference])))
    return path


# ----------------------------------------------------------------------------- the check
def judge(due: dt.date, today: dt.date, expires_soon_days: int) -> CalibrationStatus:
    """Status on ``today`` of a calibration due on ``due`` (valid through the due date)."""
    if today > due:
        return CalibrationStatus.EXPIRED
    if (due - today).days <= expires_soon_days:
        return CalibrationStatus.EXPIRES_SOON
    return CalibrationStatus.VALID


@dataclass(frozen=True)
class CalibrationCheck:
    """One instrument's calibration as judged at run start."""

    role: str
    manufacturer: str
    model: str
    serial: str
    status: CalibrationStatus
    checked: dt.date
    due: dt.date | None = None
    entry: InventoryEntry | None = None
    lab: str | None = None
    source: str = ""  # where the due date came from

    @property
    def days_left(self) -> int | None:
        """Days from the check to the due date (negative: expired), None if unknown."""
        return None if self.due is None else (self.due - self.checked).days

    def attrs(self) -> dict[str, Any]:
        """The ``calibration.<key>`` attributes (without prefix) for ``/instruments/<role>``."""
        out: dict[str, Any] = {"status": self.status.value}
        if self.due is not None:
            out["due"] = self.due.isoformat()
        if self.entry is not None:
            out["calibrated"] = self.entry.calibrated.isoformat()
            out["certificate"] = self.entry.certificate
        if self.lab:
            out["lab"] = self.lab
        if self.entry is None and self.source:  # a due date from outside the inventory
            out["source"] = self.source
        return out

    def describe(self) -> str:
        """e.g. ``signal_analyzer Keysight Technologies N9030B s/n MY49321729``."""
        return f"{self.role} {self.manufacturer} {self.model} s/n {self.serial}".replace(
            "  ", " ")


def check_instrument(inventory: Inventory | None, role: str, manufacturer: str, model: str,
                     serial: str, today: dt.date, *, fallback_due: dt.date | None = None,
                     fallback_source: str = "") -> CalibrationCheck:
    """Look up one instrument and judge its calibration on ``today``.

    ``fallback_due`` (a due date stated elsewhere, e.g. the bench's ``noise_source.cal_due``)
    is judged when the inventory does not list the instrument.
    """
    soon = inventory.expires_soon_days if inventory else DEFAULT_EXPIRES_SOON_DAYS
    entry = inventory.find(model, serial) if inventory is not None else None
    if entry is not None:
        source = f"inventory {Path(inventory.source_path or '-').name}" if inventory else ""
        return CalibrationCheck(role, manufacturer or entry.manufacturer, model, serial,
                                judge(entry.due, today, soon), today, entry.due, entry,
                                entry.lab or (inventory.lab if inventory else None) or None,
                                source)
    if fallback_due is not None:
        return CalibrationCheck(role, manufacturer, model, serial,
                                judge(fallback_due, today, soon), today, fallback_due,
                                source=fallback_source)
    return CalibrationCheck(role, manufacturer, model, serial,
                            CalibrationStatus.NOT_IN_INVENTORY, today)


@dataclass(frozen=True)
class Findings:
    """What the policy makes of the checks: reasons to refuse, warnings, infos (event text)."""

    refusals: list[str]
    warnings: list[str]
    infos: list[str]


def policy_findings(checks: list[CalibrationCheck], policy: CalibrationPolicy,
                    inventory_name: str | None) -> Findings:
    """Apply the plan's ``calibration_policy`` to the checks (see :data:`CalibrationPolicy`).
    ``inventory_name`` None: the bench names no inventory (one finding for all unknowns)."""
    refusals: list[str] = []
    warnings: list[str] = []
    infos: list[str] = []
    unknown: list[CalibrationCheck] = []
    for c in checks:
        if c.status is CalibrationStatus.EXPIRED:
            text = (f"calibration of {c.describe()} expired: due {c.due}"
                    + (f" (certificate {c.entry.certificate})" if c.entry else "")
                    + f", {-(c.days_left or 0)} days ago")
            if policy == "warn":
                warnings.append(text + "; running anyway (calibration_policy: warn)")
            else:
                refusals.append(text)
        elif c.status is CalibrationStatus.NOT_IN_INVENTORY:
            unknown.append(c)
        elif c.status is CalibrationStatus.EXPIRES_SOON:
            infos.append(f"calibration of {c.describe()} expires soon: due {c.due} "
                         f"(in {c.days_left} days)")
    target = refusals if policy == "strict" else warnings
    if unknown and inventory_name is None:
        target.append("calibration not checked: the bench names no calibration inventory "
                      f"({', '.join(c.role for c in unknown)})")
    else:
        target += [f"calibration of {c.describe()} unknown: not in the inventory "
                   f"{inventory_name}" for c in unknown]
    return Findings(refusals, warnings, infos)


def refusal_message(findings: Findings, policy: CalibrationPolicy) -> str:
    """The error a refused run ends with: every reason, and how to run anyway."""
    hint = ("set calibration_policy: warn in the plan to run anyway (recorded as warnings)"
            if policy != "strict" else "calibration_policy is strict")
    return ("run refused before any output: " + "; ".join(findings.refusals)
            + f" [{hint}]")
