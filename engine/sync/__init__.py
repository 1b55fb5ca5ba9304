"""The per-webinar sync (issue 7): settings decisions, batch writes with exclusions, the run's
audit entry, and the contracts of ``workflows/webinar_sync.py``. No Temporal imports here."""
