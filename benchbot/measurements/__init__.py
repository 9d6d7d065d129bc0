"""Measurements: one module per plan step kind (power_sweep, modulated_sweep, harmonics,
two_tone), each with ``declare(step, bench)`` and ``run(step, bench, ctx)``; the engine finds
them by kind in :mod:`benchbot.measurements.registry`. They see instruments only through
``instruments.interfaces`` (a :class:`~benchbot.measurements.base.BenchView`)."""
