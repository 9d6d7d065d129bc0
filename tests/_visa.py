"""Plain pyvisa-py sessions on simulated instruments, for tests that speak raw SCPI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyvisa
from pyvisa.resources import MessageBasedResource


@contextmanager
def raw_instrument(resource: str, timeout_ms: int = 5000) -> Iterator[MessageBasedResource]:
    """A pyvisa-py resource with the simulators' "\\n" terminations, closed on exit."""
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                            timeout=timeout_ms)
    try:
        yield inst  # type: ignore[misc]
    finally:
        inst.close()
        rm.close()


def errors(inst: MessageBasedResource) -> list[int]:
    """Drain `SYST:ERR?` until 0; the error codes in queue order."""
    codes = []
    while (code := int(inst.query("SYST:ERR?").split(",")[0])) != 0:
        codes.append(code)
    return codes
