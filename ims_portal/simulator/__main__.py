"""Run the simulator: `python -m ims_portal.simulator --port N [--obs-port M] [--host H]
[--speed F]`: IAM and IMS on one port, OBS on the other.

Credentials and project come from the `SIMULATOR_*` environment variables (see
`defaults.py`); the command line sets where to listen and how the run behaves.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from ims_portal.simulator.defaults import (
    DEFAULT_HOST,
    DEFAULT_OBS_PORT,
    DEFAULT_PORT,
    SPEED,
    SimulatorSettings,
)
from ims_portal.simulator.server import make_obs_server, make_server
from ims_portal.simulator.state import Config, SimulatorState


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m ims_portal.simulator",
        description="A stand-in for Open Telekom Cloud / Huawei Cloud IMS, IAM and OBS.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=SimulatorSettings.from_env().port,
        help=f"IAM and IMS; 0 picks a free port (default: SIMULATOR_PORT, else {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--obs-port",
        type=int,
        default=SimulatorSettings.from_env().obs_port,
        help=f"OBS; 0 picks a free port (default: SIMULATOR_OBS_PORT, else {DEFAULT_OBS_PORT})",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=SPEED,
        help="pace multiplier for export jobs (1 = demo pace, 50 = a second or so)",
    )
    parser.add_argument(
        "--no-progress-api",
        action="store_true",
        help="answer the progress call with 404, like a cloud that lacks it",
    )
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    """Start serving until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s simulator %(message)s"
    )
    settings = SimulatorSettings.from_env()
    config = Config(
        speed=args.speed, progress_api=not args.no_progress_api, token_ttl=settings.token_ttl
    )
    state = SimulatorState(settings, config)
    server = make_server(state, args.host, args.port)
    obs_server = make_obs_server(state, args.host, args.obs_port)
    host, port = str(server.server_address[0]), server.server_address[1]
    obs_port = obs_server.server_address[1]
    threading.Thread(target=obs_server.serve_forever, name="obs", daemon=True).start()
    print(f"IMS simulator listening on http://{host}:{port}", file=sys.stderr, flush=True)
    print(f"OBS simulator listening on http://{host}:{obs_port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        obs_server.shutdown()
        obs_server.server_close()
        server.server_close()


if __name__ == "__main__":
    main()
