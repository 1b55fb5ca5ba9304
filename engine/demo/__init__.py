"""What ``rollcall up`` adds so the demo runs end to end on one machine (the Zoom emulator lives
in ``engine.zoom.emulator``): the webhook inbox."""
