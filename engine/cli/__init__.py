"""The ``rollcall`` command line.

- ``app.py`` — the Typer app: every command registered, ``main``
- ``errors.py`` — the one exit-code policy (0 done, 1 failed, 2 usage/connection, 3 still running)
- ``output.py`` — the one-line error, on the terminal or as a JSON log line
- ``config.py`` — a command's settings, logging and known secrets
- ``client.py`` — the client of the running API the API commands share
- commands on the API: ``enroll.py`` (with ``enroll_rows.py``, the rows it reads), ``workflows.py``,
  ``enrollments.py``, ``sync.py``
- commands on the store: ``contacts.py``, ``sync_settings.py`` (``rollcall settings``), ``audit.py``,
  ``db.py`` (with ``store.py``, the session they share)
- commands on local files: ``definitions.py`` (``validate``, ``schema``); ``ui.py`` (Web UI links)
- the processes: ``servers.py`` (``up``, ``worker``, ``api``, ``zoom-emulator``, ``webhook-inbox``);
  ``up.py`` (the stack ``rollcall up`` runs), ``up_demo.py`` (its demo Zoom accounts and webhook
  inbox), ``supervisor.py`` (its children), ``stack_file.py`` (where it runs, for the other commands)

Nothing is imported here, so importing ``engine.cli.client`` or ``engine.cli.supervisor`` does not
build the app.
"""

from __future__ import annotations


def main() -> None:
    """The ``rollcall`` console script (``[project.scripts]``)."""
    from engine.cli.app import main as run

    run()
