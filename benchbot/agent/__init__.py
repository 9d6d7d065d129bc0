"""The bench agent: ``benchbot agent --bench NAME --server URL`` on a bench PC pulls that
bench's jobs from the booking service over HTTP (outbound only, like a CI runner; no database
credentials on the PC), runs each plan through the engine, reports progress, uploads the record
and its reports.

Layers: ``loop`` (claim, heartbeat, finish) → ``job`` (the run, report and upload of one job,
in a worker thread) → ``client`` (the service's ``/api/agent`` over httpx). The agent knows the
service only through that API; it imports nothing of :mod:`benchbot.service`.
"""
