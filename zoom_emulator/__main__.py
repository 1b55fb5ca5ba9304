"""``python -m zoom_emulator --port 8765 [--seed FILE] [--state-file FILE [--reset]] [--speed 60]``

Without ``--state-file``, or with ``--reset``, or when the file does not exist yet, the emulator
starts from the seed (the demo seed by default; relative times such as ``"+5m"`` are read from
now). With an existing state file it carries on from it, and writes it while it runs and when it
stops.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from zoom_emulator.app import create_app
from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.persistence import StateFileError, restore
from zoom_emulator.core.seeds import DEMO_SEED_PATH, load_seed


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m zoom_emulator", description="Loopback Zoom emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=Path, default=DEMO_SEED_PATH, help="YAML or JSON seed file")
    parser.add_argument("--state-file", type=Path, default=None, help="keep the state in this JSON file")
    parser.add_argument("--reset", action="store_true", help="start from the seed even if the state file exists")
    parser.add_argument(
        "--speed", type=float, default=None, help="emulator seconds per real second (default: the seed's, else 1)"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.speed is not None and args.speed <= 0:
        parser.error("--speed must be positive")
    return args


def build_emulator(args: argparse.Namespace) -> Emulator:
    public_url = f"http://{args.host}:{args.port}" if args.port else ""
    emulator = Emulator(public_url=public_url)
    emulator.initial_seed = load_seed(args.seed)
    state_file: Path | None = args.state_file
    if state_file is not None and state_file.exists() and not args.reset:
        restore(emulator, state_file)
    else:
        emulator.apply_seed(emulator.initial_seed)
    if args.speed is not None:
        emulator.clock.set_speed(args.speed)
    return emulator


def main(argv: list[str] | None = None, *, own_logging: bool = True) -> None:
    """Serve until stopped. ``own_logging=False``: uvicorn's lines go through the host process's
    logging (``rollcall zoom-emulator`` configures Rollcall's) instead of handlers of uvicorn's own."""
    args = _arguments(argv)
    try:
        emulator = build_emulator(args)
    except StateFileError as exc:
        print(f"zoom emulator: {exc} (start with --reset to begin again from the seed)", file=sys.stderr)
        raise SystemExit(2) from None
    app = create_app(emulator=emulator, state_file=args.state_file)
    log_config = uvicorn.config.LOGGING_CONFIG if own_logging else None
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=log_config)


if __name__ == "__main__":
    main()
