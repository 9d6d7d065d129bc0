"""Never a 500 for bad input: schemathesis generates requests for every operation of the app's
own ``/openapi.json`` (valid ones and invalid ones), sent over a real socket to uvicorn, as an
admin and as a customer, with random ids and with real ones; no answer may be a 5xx.

Bounded: a few examples per operation and mode (the whole test stays well under a minute per
database). Operations that would end the fuzzer's own session are left out (logout, password
change: tested in test_api_auth.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.seed import ADMIN_EMAIL
from tests.service._api import CUSTOMER_A_EMAIL, booking_with_run, public_id, uvicorn_server
from tests.service._helpers import ADMIN_PASSWORD, USER_PASSWORD, Lab, hour, new_booking

EXAMPLES = 4
LEFT_OUT = {("POST", "/api/auth/logout"), ("POST", "/api/auth/password")}


def _token(base: str, email: str, password: str) -> str:
    response = httpx.post(f"{base}/api/auth/tokens", json={"email": email,
                                                           "password": password})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def _fuzz(operation: Any, base: str, headers: dict[str, str], mode: GenerationMode,
          failures: list[str], statuses: Counter[int],
          path_parameters: dict[str, Any] | None = None) -> bool:
    """Send ``EXAMPLES`` generated requests; failures collects every 5xx. False if the mode
    has nothing to generate for this operation."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(base_url=base, headers=headers, timeout=60)
        statuses[response.status_code // 100] += 1
        if response.status_code >= 500:
            failures.append(f"{operation.label} [{mode.value}] → {response.status_code}: "
                            f"{case.as_curl_command()}\n{response.text[:300]}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (e.g. no parameters at all)
        if mode is GenerationMode.POSITIVE:
            raise
        return False
    return True


def test_no_generated_request_gets_a_server_error(db: Database, lab: Lab,
                                                  tmp_path: Path) -> None:
    objects = booking_with_run(db, lab, tmp_path, customer_b=False, offset_h=0)
    requested = public_id(db, new_booking(db, lab, hour(0), hour(4), confirm=False))
    real = {"booking_id": requested, "run_id": objects.run_public_id,
            "job_id": objects.job_id, "bench_id": lab.bench_id, "user_id": lab.customer_b,
            "entry_id": lab.entry_id}
    app = create_app(db.url.render_as_string(False), data_dir=tmp_path)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    with uvicorn_server(app) as base:
        identities = {
            "admin": {"Authorization": f"Bearer {_token(base, ADMIN_EMAIL, ADMIN_PASSWORD)}"},
            "customer": {"Authorization":
                         f"Bearer {_token(base, CUSTOMER_A_EMAIL, USER_PASSWORD)}"},
        }
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 25
        negative = 0
        for operation in operations:
            if (operation.method.upper(), operation.path) in LEFT_OUT:
                continue
            _fuzz(operation, base, identities["admin"], GenerationMode.POSITIVE, failures,
                  statuses)
            negative += _fuzz(operation, base, identities["admin"], GenerationMode.NEGATIVE,
                              failures, statuses)
            _fuzz(operation, base, identities["customer"], GenerationMode.POSITIVE, failures,
                  statuses)
            fixed = {k: v for k, v in real.items() if f"{{{k}}}" in operation.path}
            if fixed:
                _fuzz(operation, base, identities["admin"], GenerationMode.POSITIVE, failures,
                      statuses, path_parameters=fixed)
    assert failures == [], "\n\n".join(failures)
    assert negative >= 20  # invalid requests were generated for most operations
    assert statuses[2] >= 50 and statuses[4] >= 100, statuses  # it got past auth, and refused
