"""``python -m zoom_emulator --port 8765 --seed zoom_emulator/seeds/demo.yaml``"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from zoom_emulator.app import create_app
from zoom_emulator.core.seeds import DEMO_SEED_PATH, load_seed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m zoom_emulator", description="Loopback Zoom emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=Path, default=DEMO_SEED_PATH, help="YAML or JSON seed file")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(create_app(load_seed(args.seed)), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
