"""Drivers for benchbot's own open bench hardware (documented dialects in docs/)."""
