"""Run the Kubernetes emulator in the foreground: `python -m tests.kube_emulator --seed demo`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .server import running_emulator

DEFAULT_KUBECONFIG = Path(".flightdeck") / "emulator.kubeconfig"


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM, with a kubeconfig written for kubectl and Flightdeck."""
    parser = argparse.ArgumentParser(prog="python -m tests.kube_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=6443, help="port (0 picks a free one)")
    parser.add_argument("--seed", default="", help="demo, bench:N, or a path to a YAML file")
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG)
    parser.add_argument("--context", default="emulator", help="context name in the kubeconfig")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running_emulator(args.seed or None, host=args.host, port=args.port) as emu:
        path = emu.write_kubeconfig(args.kubeconfig, context=args.context)
        print(f"Kubernetes emulator listening on {emu.url}", flush=True)
        print(f"kubeconfig: {path.resolve()} (context {args.context})", flush=True)
        print(f"seed: {args.seed or 'none'}; stop with Ctrl-C", flush=True)
        stop.wait()
    print("Kubernetes emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
