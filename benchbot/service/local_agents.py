"""The agents ``benchbot serve`` runs itself, one per built-in simulated bench, so that the
whole flow -- booking, scheduling, run, report -- works on one machine.

Each is an ordinary ``benchbot agent`` process talking to the service over HTTP like a bench
PC's, with a token the service creates for it at start (the previous start's is revoked) and
passes in its environment, never on the command line. Stopping the service stops them
(SIGTERM: a running job is aborted through the safe state) and revokes their tokens; a
service killed outright leaves them orphaned, and they exit by themselves.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from benchbot.bench import BUILTIN_BENCHES
from benchbot.service.agent_tokens import LOCAL_AGENT_LABEL, create_token, revoke_token
from benchbot.service.db import Database
from benchbot.service.models import Bench

log = logging.getLogger(__name__)

TOKEN_ENV = "BENCHBOT_AGENT_TOKEN"
STOP_TIMEOUT_S = 30.0
"""How long a stopping agent may take to bring its bench to the safe state."""


@dataclass
class _Agent:
    bench_name: str
    token_id: int
    process: subprocess.Popen[bytes]


class LocalAgents:
    """Starts and stops the local agent processes."""

    def __init__(self, db: Database, server_url: str, work_dir: Path, poll_s: float) -> None:
        self._db, self._server_url = db, server_url
        self._work_dir, self._poll_s = work_dir, poll_s
        self._agents: list[_Agent] = []

    def start(self) -> None:
        for name in simulated_benches(self._db):
            new = create_token(self._db, bench_name=name, label=LOCAL_AGENT_LABEL,
                               revoke_label=True)
            process = subprocess.Popen(
                [sys.executable, "-m", "benchbot.cli", "agent", "--bench", name,
                 "--server", self._server_url, "--poll-s", str(self._poll_s),
                 "--results-dir", str(self._work_dir / name), "--exit-with-parent"],
                env={**os.environ, TOKEN_ENV: new.token}, stdin=subprocess.DEVNULL)
            self._agents.append(_Agent(name, new.token_id, process))
            log.info("local agent for bench %s started (pid %s)", name, process.pid)

    def stop(self) -> None:
        for agent in self._agents:
            if agent.process.poll() is None:
                agent.process.terminate()
        for agent in self._agents:
            try:
                agent.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.error("local agent for bench %s did not stop in %.0f s: killed",
                          agent.bench_name, STOP_TIMEOUT_S)
                agent.process.kill()
                agent.process.wait()
            revoke_token(self._db, agent.token_id)
        self._agents.clear()

    @property
    def pids(self) -> dict[str, int]:
        """The running agents' process ids, by bench name."""
        return {a.bench_name: a.process.pid for a in self._agents if a.process.poll() is None}


def simulated_benches(db: Database) -> list[str]:
    """The active benches that are built-in simulated ones (their inventory names the
    packaged bench file), by name."""
    with db.session() as session:
        benches = session.scalars(select(Bench).where(Bench.active).order_by(Bench.name))
        return [b.name for b in benches
                if (b.instruments or {}).get("bench_file") in BUILTIN_BENCHES]
