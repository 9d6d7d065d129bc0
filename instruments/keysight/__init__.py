"""keysight."""
