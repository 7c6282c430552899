"""One emulator subprocess per test module or session, on a free port of its own, as
`scripts/emulator start` runs it (`python -m twin_emulator`), so that tests never touch an
emulator someone else is using; and boto3 clients for it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3

EMULATOR_DIR = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_emulator(log_dir: Path) -> Iterator[str]:
    """Starts the emulator, waits until it answers, yields its URL and stops it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(EMULATOR_DIR))
    with open(log_dir / "emulator.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twin_emulator", "--port", str(port)],
            cwd=EMULATOR_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    # The same readiness probe as scripts/emulator.
                    urllib.request.urlopen(f"{url}/moto-api/config", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the emulator did not start; see {log.name}")
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def clients(endpoint: str, region: str) -> Callable[[str], Any]:
    """`client("s3")` etc. against the emulator at `endpoint`."""

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client
