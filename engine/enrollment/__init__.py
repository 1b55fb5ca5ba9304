"""Enrollment: definitions as versioned data, the enrollment service, and the contracts the
interpreter workflow (``workflows/enrollment.py``) and its activities share (issue 5)."""
