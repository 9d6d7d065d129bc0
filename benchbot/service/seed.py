"""First start of an empty database: the lab, its admin, the built-in benches, the catalogue.

The admin's initial password is ``BENCHBOT_ADMIN_PASSWORD`` when set, else a random one that
:func:`seed_if_empty` returns once (the caller prints it; it is stored only as an argon2id
hash). Benches are the built-in simulated ones (``benchbot/benches/*.yaml``), capabilities
from their drivers' classes. Catalogue entries are the shipped test plans (``test_plans/``
beside the package in a source checkout, or ``plans_dir``), each with its plan's text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchbot.bench import BUILTIN_BENCHES, BenchDefinition, builtin_bench_path, load_bench
from benchbot.plan import load_plan
from benchbot.service import audit
from benchbot.service.capabilities import bench_capabilities, bench_inventory, plan_capabilities
from benchbot.service.db import Database
from benchbot.service.models import Bench, CatalogueEntry, Organisation, User
from benchbot.service.passwords import generate_password, hash_password
from benchbot.service.states import OrganisationKind, UserRole

LAB_NAME = "Benchbot Lab"
ADMIN_EMAIL = "admin@benchbot.local"
ADMIN_PASSWORD_ENV = "BENCHBOT_ADMIN_PASSWORD"
SETUP_MIN_PER_DUT = 15
"""Catalogue duration estimate per DUT: mounting and connecting it..."""
STEP_MIN = 10
"""...plus this per plan step. A first guess for the lab to edit, not a measurement."""
SHIPPED_PLANS_DIR = Path(__file__).resolve().parents[2] / "test_plans"
_SEED_LOCK_KEY = 0x7365656421  # pg_advisory_xact_lock key: two first starts seed once


@dataclass(frozen=True)
class SeedReport:
    """What the first start created. ``admin_password`` is set only when it was generated
    (tell the operator once; it is not stored anywhere in clear)."""

    admin_email: str
    admin_password: str | None
    benches: list[str] = field(default_factory=list)
    catalogue: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _CatalogueSeed:
    name: str
    description: str
    file_name: str
    text: str
    required_capabilities: list[str]
    duration_min: int


def seed_if_empty(db: Database, *, plans_dir: Path | None = None,
                  environ: Mapping[str, str] = os.environ) -> SeedReport | None:
    """Seed an empty database (no organisation yet); None if it already holds data. Safe to
    call from several processes at once: one seeds, the others see its data."""
    password = environ.get(ADMIN_PASSWORD_ENV) or None
    password_hash = hash_password(password or "", ADMIN_PASSWORD_ENV) if password else None
    with db.write_session() as session:
        if db.kind == "postgresql":
            session.connection().exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SEED_LOCK_KEY})")
        if session.scalar(select(func.count()).select_from(Organisation)):
            return None
        generated = None
        if password_hash is None:
            generated = generate_password()
            password_hash = hash_password(generated)
        return _seed(session, password_hash, generated, plans_dir or SHIPPED_PLANS_DIR)


def _seed(session: Session, password_hash: str, generated: str | None, plans_dir: Path
          ) -> SeedReport:
    lab = Organisation(name=LAB_NAME, kind=OrganisationKind.LAB.value)
    admin = User(organisation=lab, email=ADMIN_EMAIL, password_hash=password_hash,
                 role=UserRole.ADMIN.value, display_name="Administrator")
    session.add_all([lab, admin])
    benches = [Bench(name=name, description=description, capabilities=caps,
                     instruments=inventory)
               for name, description, caps, inventory in _builtin_benches()]
    entries = [CatalogueEntry(name=c.name, description=c.description, plan_file_name=c.file_name,
                              plan_text=c.text, required_capabilities=c.required_capabilities,
                              duration_estimate_min=c.duration_min)
               for c in _shipped_plans(plans_dir.resolve())]
    session.add_all([*benches, *entries])
    session.flush()
    audit.record(session, action="seed", user=admin, organisation_id=lab.id,
                 detail={"benches": [b.name for b in benches],
                         "catalogue": [e.name for e in entries],
                         "admin_password_from": "environment" if generated is None
                         else "generated"})
    return SeedReport(admin_email=ADMIN_EMAIL, admin_password=generated,
                      benches=[b.name for b in benches], catalogue=[e.name for e in entries])


@lru_cache(maxsize=1)
def _builtin_benches() -> tuple[tuple[str, str, list[str], dict], ...]:
    """(name, description, capabilities, inventory) of each built-in simulated bench."""
    out = []
    for key in BUILTIN_BENCHES:
        bench = load_bench(builtin_bench_path(key))
        out.append((bench.name, bench.description, bench_capabilities(bench),
                    bench_inventory(bench, key)))
    return tuple(out)


@lru_cache(maxsize=4)
def _shipped_plans(plans_dir: Path) -> tuple[_CatalogueSeed, ...]:
    """One catalogue entry per plan file in ``plans_dir`` (none if the folder is absent: an
    installed benchbot ships no plans; the lab adds entries itself)."""
    if not plans_dir.is_dir():
        return ()
    benches: dict[str, BenchDefinition] = {}
    seeds = []
    for path in sorted(plans_dir.glob("*.yaml")):
        plan = load_plan(path)
        bench_key = plan.bench if plan.bench in BUILTIN_BENCHES else "simulated"
        if bench_key not in benches:
            benches[bench_key] = load_bench(builtin_bench_path(bench_key))
        seeds.append(_CatalogueSeed(
            name=plan.name, description=plan.description, file_name=path.name,
            text=path.read_text(encoding="utf-8"),
            required_capabilities=plan_capabilities(plan, benches[bench_key]),
            duration_min=SETUP_MIN_PER_DUT + STEP_MIN * len(plan.steps)))
    return tuple(seeds)
