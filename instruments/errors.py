"""Typed errors of the driver layer.

Every error a driver raises for an instrument or transport problem derives from `DriverError`,
so an engine can tell "the instrument said no" (`InstrumentError`) from "the link is in trouble"
(`InstrumentTimeout`, `ConnectionLost`) from "wrong instrument" (`IdentityMismatch`).
"""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error raised by `instruments`."""


class InstrumentError(DriverError):
    """The instrument reported an error (`SYST:ERR?` code != 0) or returned an invalid result.

    `code`/`message` are those of the first error drained; `errors` holds every
    `(code, message)` drained in one check; `command` names the offending command (the one the
    caller checked after), `commands` every command written since the previous check.
    """

    def __init__(
        self,
        code: int,
        message: str,
        command: str,
        errors: tuple[tuple[int, str], ...] = (),
        commands: tuple[str, ...] = (),
    ) -> None:
        self.code = code
        self.message = message
        self.command = command
        self.errors = errors or ((code, message),)
        self.commands = commands or (command,)
        more = f" (+ {list(self.errors[1:])})" if len(self.errors) > 1 else ""
        super().__init__(f"{code},\"{message}\" after {command!r}{more}")


class UnexpectedResponse(InstrumentError):
    """A reply that does not parse as the documented response type (code 0: no queue error)."""

    def __init__(self, reply: str, command: str, expected: str) -> None:
        super().__init__(0, f"expected {expected}, got {reply!r}", command)
        self.reply = reply


class InstrumentTimeout(DriverError, TimeoutError):
    """No (complete) reply to `command` within `timeout_s`.

    The session has already been cleared and resynchronised when this is raised, unless
    `resynchronised` is False (then the next transaction retries the resync first).
    """

    def __init__(self, command: str, timeout_s: float, resynchronised: bool = True) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.resynchronised = resynchronised
        state = "session resynchronised" if resynchronised else "session NOT resynchronised yet"
        super().__init__(f"no reply to {command!r} within {timeout_s:g} s ({state})")


class IdentityMismatch(DriverError):
    """`*IDN?` names a model the driver does not speak for."""

    def __init__(self, expected_models: tuple[str, ...], idn: str) -> None:
        self.expected_models = tuple(expected_models)
        self.idn = idn
        super().__init__(f"expected one of {list(self.expected_models)}, instrument says {idn!r}")


class BinaryBlockError(DriverError, ValueError):
    """An IEEE 488.2 arbitrary block is malformed, truncated or of unexpected size."""


class ConnectionLost(DriverError, ConnectionError):
    """The transport to the instrument failed (refused, reset or closed by the peer)."""

    def __init__(self, resource: str, reason: str) -> None:
        self.resource = resource
        self.reason = reason
        super().__init__(f"{resource}: {reason}")
