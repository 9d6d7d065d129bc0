"""benchbot."""
