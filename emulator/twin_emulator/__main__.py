"""Entry point: `python -m twin_emulator --port N` starts moto server on 127.0.0.1, extended."""

import argparse

from moto import server

from twin_emulator import install


def main() -> None:
    parser = argparse.ArgumentParser(prog="twin_emulator")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    install()  # before the first request: moto reads its model map and routes on first use
    # Loopback only, whatever the caller asks: unless TWIN_EMULATOR_IAM=enforce, every request is allowed.
    server.main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
