"""The per-webinar sync (issue 7): settings decisions, batch writes with exclusions, the run's
audit entry, and the contracts of ``workflows/webinar_sync.py``.

The rules and contracts import nothing of Temporal; only the three modules that start or signal
runs as a Temporal client do (``service.py``, ``triggers.py``, ``schedule.py``).
``tests/unit/test_import_graph.py`` checks it."""
