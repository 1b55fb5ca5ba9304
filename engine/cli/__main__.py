"""``python -m engine.cli``: the ``rollcall`` command (how ``rollcall up`` starts its children)."""

from engine.cli.app import main

main()
