"""What ``rollcall up`` adds so the demo runs end to end on one machine (the Zoom emulator lives
in ``zoom_emulator``): the webhook inbox."""
