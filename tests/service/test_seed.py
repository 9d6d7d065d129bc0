"""First start: the lab, its admin (argon2id), the built-in benches and the catalogue."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from benchbot.bench import BUILTIN_BENCHES
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput
from benchbot.service.models import AuditEntry, Bench, CatalogueEntry, Organisation, User
from benchbot.service.passwords import verify_password
from benchbot.service.seed import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD_ENV,
    SHIPPED_PLANS_DIR,
    SeedReport,
    seed_if_empty,
)
from tests.service._helpers import ADMIN_PASSWORD

REPO_PLANS = Path(__file__).resolve().parents[2] / "test_plans"


def test_seed_creates_lab_admin_benches_and_catalogue(db: Database) -> None:
    with db.session() as s:
        (lab,) = s.scalars(select(Organisation)).all()
        assert lab.kind == "lab"
        (admin,) = s.scalars(select(User)).all()
        assert (admin.email, admin.role, admin.organisation_id) == (ADMIN_EMAIL, "admin", lab.id)
        assert admin.password_hash.startswith("$argon2id$")
        assert verify_password(admin.password_hash, ADMIN_PASSWORD)
        assert not verify_password(admin.password_hash, ADMIN_PASSWORD + "x")
        benches = {b.name: b for b in s.scalars(select(Bench))}
        entries = {e.plan_file_name: e for e in s.scalars(select(CatalogueEntry))}
        actions = s.scalars(select(AuditEntry.action)).all()
    assert len(benches) == len(BUILTIN_BENCHES)
    assert benches["simulated-keysight"].capabilities == [
        "dc_supply", "power_meter", "signal_analyzer", "signal_generator"]
    assert benches["simulated-network"].capabilities == [
        "gpio", "noise_source", "rffe", "signal_analyzer", "vna"]
    assert benches["simulated-gan"].capabilities == ["smu"]
    roles = benches["simulated-network"].instruments["roles"]
    assert roles["vna"] == {"driver": "keysight.n5247b", "resource": "simulated",
                            "simulator": "keysight_n5247b", "capabilities": ["vna"]}
    assert set(entries) == {p.name for p in REPO_PLANS.glob("*.yaml")}
    lna = entries["lna_n78.yaml"]
    assert lna.required_capabilities == ["gpio", "noise_source", "signal_analyzer", "vna"]
    assert lna.plan_text == (REPO_PLANS / "lna_n78.yaml").read_text(encoding="utf-8")
    assert lna.duration_estimate_min > 0
    assert entries["n78_band_filter.yaml"].required_capabilities == ["vna"]
    assert actions == ["seed"]


def test_every_catalogue_entry_has_a_capable_bench(db: Database) -> None:
    with db.session() as s:
        benches = [set(b.capabilities) for b in s.scalars(select(Bench))]
        for entry in s.scalars(select(CatalogueEntry)):
            assert any(set(entry.required_capabilities) <= caps for caps in benches), entry.name


def test_seed_runs_once(db: Database) -> None:
    assert seed_if_empty(db, environ={ADMIN_PASSWORD_ENV: ADMIN_PASSWORD}) is None
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Organisation)) == 1


def test_generated_admin_password_is_returned_once(empty_db: Database) -> None:
    empty_db.upgrade()
    report = seed_if_empty(empty_db, environ={})
    assert report is not None and report.admin_password and len(report.admin_password) >= 20
    with empty_db.session() as s:
        admin = s.scalars(select(User)).one()
        assert verify_password(admin.password_hash, report.admin_password)
        assert report.admin_password not in admin.password_hash
        detail = s.scalars(select(AuditEntry)).one().detail
    assert detail["admin_password_from"] == "generated"
    assert report.admin_password not in str(detail)


def test_a_short_admin_password_is_refused_naming_the_variable(empty_db: Database) -> None:
    empty_db.upgrade()
    with pytest.raises(InvalidInput, match=f"{ADMIN_PASSWORD_ENV}: must be at least 12"):
        seed_if_empty(empty_db, environ={ADMIN_PASSWORD_ENV: "short"})


def test_two_first_starts_at_once_seed_once(empty_db: Database) -> None:
    empty_db.upgrade()
    reports: list[SeedReport | None] = []
    barrier = threading.Barrier(2)

    def start() -> None:
        db = Database(empty_db.url.render_as_string(False))
        try:
            barrier.wait()
            reports.append(seed_if_empty(db, environ={ADMIN_PASSWORD_ENV: ADMIN_PASSWORD}))
        finally:
            db.dispose()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r is None for r in reports) == [False, True]
    with empty_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Bench)) == len(BUILTIN_BENCHES)


def test_without_plans_the_catalogue_starts_empty(empty_db: Database, tmp_path: Path) -> None:
    empty_db.upgrade()
    report = seed_if_empty(empty_db, plans_dir=tmp_path / "none",
                           environ={ADMIN_PASSWORD_ENV: ADMIN_PASSWORD})
    assert report is not None and report.catalogue == [] and report.benches
    assert SHIPPED_PLANS_DIR == REPO_PLANS
