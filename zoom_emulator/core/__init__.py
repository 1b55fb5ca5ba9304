"""The emulated Zoom without HTTP: state, clock, limits, faults, webhook emitter and seeds."""
