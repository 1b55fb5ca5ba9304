"""Helpers shared by test folders (``tests/`` is put on ``sys.path`` by the root conftest)."""
