"""The booking service: SMEs book verification runs, engineers schedule them on benches.

Layers inside the package, downward only: ``app`` (HTTP) → ``scheduling`` / ``queries`` /
``seed`` (domain operations, each taking the caller's organisation or an engineer) →
``models`` + ``states`` (tables and the one place status transitions are checked) → ``db``
(engine, sessions, migrations). Nothing here speaks SCPI: benches are known by the capabilities
of their instruments' classes.
"""
