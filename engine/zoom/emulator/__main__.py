"""``python -m engine.zoom.emulator --port 8765 --seed engine/zoom/emulator/seeds/demo.yaml``"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from engine.zoom.emulator.app import create_app
from engine.zoom.emulator.seeds import DEMO_SEED_PATH, load_seed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m engine.zoom.emulator", description="Loopback Zoom emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=Path, default=DEMO_SEED_PATH, help="YAML or JSON seed file")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    # log_config=None: uvicorn's lines go through the process's logging (``rollcall zoom-emulator``
    # configures Rollcall's: JSON in JSON mode, redacted), not through handlers of its own.
    uvicorn.run(
        create_app(load_seed(args.seed)), host=args.host, port=args.port, log_level=args.log_level, log_config=None
    )


if __name__ == "__main__":
    from engine.logging import configure_logging

    configure_logging(process="zoom-emulator")
    main()
