"""Entry point: `python -m twin_emulator --port N` starts moto server on 127.0.0.1."""

import argparse

from moto import server


def main() -> None:
    parser = argparse.ArgumentParser(prog="twin_emulator")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    # Loopback only, whatever the caller asks: moto authorises every request.
    server.main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
