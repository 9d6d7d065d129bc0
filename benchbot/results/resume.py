"""What an interrupted run's record holds, and where `benchbot run --resume` continues it.

A run killed (kill -9, power loss) leaves `<name>.h5.partial` still marked "running"; a run
ended by a lost instrument or an abort leaves `<name>.h5` with status "error" or "aborted".
`inspect` reads such a record (nothing is changed); `prepare` puts it back in place as
`<name>.h5.partial` for `RunRecord.reopen`. Every step keeps what it committed: whole steps that
completed, and the committed rows (`committed_rows`) of the step that was running.
Storage knows records only: nothing here knows plans or instruments.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from benchbot.results.format import (
    ABORTED,
    COMMITTED_ROWS,
    COMPLETED,
    ERROR,
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    INSTRUMENTS,
    INTERRUPTED,
    INTERRUPTIONS,
    PARTIAL_SUFFIX,
    RUNNING,
    STEPS,
    decode_attr,
    parse_version,
    prefixed,
    read_attrs,
)

#: the closed statuses a run can be resumed from (a `.partial` is resumable whatever it says)
RESUMABLE_CLOSED = (ABORTED, ERROR)


class ResumeError(ValueError):
    """The record cannot be resumed (names the file and the reason)."""


@dataclass(frozen=True)
class StepState:
    """One step of the interrupted run as stored."""

    group: str
    index: int
    name: str
    kind: str
    status: str
    verdict: str
    committed_rows: tuple[int, ...]
    settings_json: str

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED


@dataclass(frozen=True)
class ResumePoint:
    """An interrupted run as its record tells it: the plan and bench it ran (verbatim texts
    and their SHA-256), the instruments it used, its corrections and where each step stands."""

    source_path: Path  # the record as named by the user
    partial_path: Path  # where the resumed run writes (`<name>.h5.partial`)
    run_id: str
    interrupted_status: str  # "interrupted" (never closed), "aborted" or "error"
    last_activity_epoch: float  # the record's last write (its mtime, or its stored end)
    plan_text: str
    plan_sha256: str
    bench_name: str
    bench_text: str
    bench_sha256: str
    simulated: bool
    simulator_seed: int | None
    instruments: dict[str, dict[str, Any]]  # role -> idn.* (manufacturer, model, serial, ...)
    corrections: list[dict[str, Any]]  # the `corrections_json` of the interrupted run
    #: the interrupted run finished recording its bench (`corrections_json` is written last);
    #: False when it was killed before or while writing /instruments and /calibration
    bench_recorded: bool
    steps: list[StepState]
    events: int  # rows in /events before the resume
    resumes: int  # rows in /interruptions: how often the run was resumed before

    def step(self, index: int) -> StepState | None:
        return next((s for s in self.steps if s.index == index), None)


def inspect(path: str | Path) -> ResumePoint:
    """Read what an interrupted record holds; ResumeError if it is not resumable."""
    source = Path(path)
    if not source.exists():
        raise ResumeError(f"{source}: no such record")
    partial = source.name.endswith(PARTIAL_SUFFIX)
    try:
        file = h5py.File(source, "r")
    except BlockingIOError as exc:
        raise ResumeError(f"{source} is open for writing by a running process: that run is "
                          "not interrupted") from exc
    except OSError as exc:
        raise ResumeError(f"{source} cannot be opened as HDF5 ({exc}): the interruption "
                          "damaged it; nothing can be resumed from it") from exc
    with file:
        return _resume_point(file, source, partial)


def prepare(path: str | Path) -> ResumePoint:
    """`inspect`, then put a closed (aborted/error) record back as `<name>.h5.partial` (an
    atomic rename: the content is unchanged) so that `RunRecord.reopen` continues it."""
    point = inspect(path)
    if point.source_path != point.partial_path:
        if point.partial_path.exists():
            raise ResumeError(f"{point.partial_path} exists next to {point.source_path}: "
                              "resume that one")
        os.replace(point.source_path, point.partial_path)
    return point


def _resume_point(f: h5py.File, source: Path, partial: bool) -> ResumePoint:
    root = read_attrs(f.attrs)
    if root.get("format") != FORMAT:
        raise ResumeError(f"{source} is not a {FORMAT} file")
    major, _ = parse_version(str(root.get("format_version", "0.0")))
    if major != parse_version(FORMAT_VERSION)[0]:
        raise ResumeError(f"{source}: format_version {root.get('format_version')} cannot be "
                          f"continued by this writer ({FORMAT_VERSION})")
    stored = str(root.get("status", RUNNING))
    if not partial and stored not in RESUMABLE_CLOSED:
        raise ResumeError(f"{source}: status {stored!r}; only an interrupted run (a .partial "
                          f"file) or one that ended {' or '.join(RESUMABLE_CLOSED)} can be "
                          "resumed")
    final = source.with_name(source.name[: -len(PARTIAL_SUFFIX)]) if partial else source
    ended = root.get("ended_epoch")
    seed = root.get("simulator_seed")
    return ResumePoint(
        source_path=source, partial_path=final.with_name(final.name + PARTIAL_SUFFIX),
        run_id=str(root.get("run_id", "")),
        interrupted_status=INTERRUPTED if partial and stored == RUNNING else stored,
        last_activity_epoch=float(ended) if ended is not None else source.stat().st_mtime,
        plan_text=str(root.get("plan_yaml", "")), plan_sha256=str(root.get("plan_sha256", "")),
        bench_name=str(root.get("bench_name", "")), bench_text=str(root.get("bench_yaml", "")),
        bench_sha256=str(root.get("bench_sha256", "")),
        simulated=bool(root.get("simulated", 0)),
        simulator_seed=None if seed is None else int(seed),
        instruments={role: prefixed(read_attrs(group.attrs), "idn.")
                     for role, group in f.get(INSTRUMENTS, {}).items()},
        corrections=json.loads(str(root.get("corrections_json") or "[]")),
        bench_recorded="corrections_json" in root,
        steps=sorted((_step_state(name, group) for name, group in f.get(STEPS, {}).items()),
                     key=lambda s: s.index),
        events=int(f[EVENTS].shape[0]) if EVENTS in f else 0,
        resumes=int(f[INTERRUPTIONS].shape[0]) if INTERRUPTIONS in f else 0,
    )


def _step_state(group_name: str, group: h5py.Group) -> StepState:
    attrs = group.attrs
    rows = attrs.get(COMMITTED_ROWS)
    return StepState(
        group=group_name, index=int(attrs["index"]), name=str(decode_attr(attrs["name"])),
        kind=str(decode_attr(attrs["kind"])), status=str(decode_attr(attrs.get("status", ""))),
        verdict=str(decode_attr(attrs.get("verdict", ""))),
        committed_rows=tuple(sorted(int(r) for r in rows)) if rows is not None else (),
        settings_json=str(decode_attr(attrs.get("settings_json", "{}"))),
    )
