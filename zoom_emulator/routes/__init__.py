"""The emulator's HTTP routes, one module per Zoom resource, plus the admin API (``admin``)."""
