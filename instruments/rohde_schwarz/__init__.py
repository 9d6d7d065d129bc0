"""Rohde & Schwarz drivers (FSW analyzers, SMW200A/SMBV100B generators)."""
