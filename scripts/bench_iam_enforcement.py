"""What IAM enforcement adds to a deploy (run through scripts/bench-iam-enforcement).

The same bootstrap, first deploy (the stack is created) and second deploy (a new function
version) on the ordinary emulator and on the IAM-enforcing one, ROUNDS times each, with fresh
projects. On the enforcing emulator every request is authenticated and checked against the
caller's policies, and every stack resource operation is checked as the execution role. twinctl
runs there with the administrator's keys (.twin/emulator/admin.env): the checks are the same
whoever asks; only the verdicts differ.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_deploy as base

ROOT = base.ROOT
PROFILE = os.environ.get("TWIN_BENCH_PROFILE", "debug")
base.TWINCTL = base.TARGET / PROFILE / "twinctl"
base.RUNTIME = base.TARGET / PROFILE / "twin-runtime"
ROUNDS = int(os.environ.get("TWIN_BENCH_ROUNDS", "3"))
PLAIN_PORT = os.environ.get("TWIN_EMULATOR_PORT", "4566")
ENFORCING_PORT = os.environ.get("TWIN_EMULATOR_IAM_PORT", str(int(PLAIN_PORT) + 1))


def admin_keys() -> dict:
    lines = (ROOT / ".twin" / "emulator" / "admin.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def environment(port: str, keys: dict) -> dict:
    e = dict(os.environ)
    e.update(
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        TWINCTL_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        **keys,
    )
    e.pop("AWS_SESSION_TOKEN", None)
    return e


def timed(project: Path, env: dict, *args: str) -> float:
    started = time.perf_counter()
    out = subprocess.run(
        [str(base.TWINCTL), "--config", str(project / "twinctl.yaml"), "--output", "json", *args],
        env=env, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"twinctl {' '.join(args)} failed:\n{out.stderr}")
    return time.perf_counter() - started


def bundle(project: Path, variant: str) -> Path:
    """A bundle whose function zip differs per variant."""
    directory = base.make_bundle(project, with_site=False)
    manifest = json.loads((directory / "bundle.json").read_text())
    (directory / manifest["function"]["zip"]).unlink()
    manifest["function"] = base.write_function(directory, variant)
    manifest["architecture"] = "arm64" if os.uname().machine == "aarch64" else "x86_64"
    (directory / "bundle.json").write_text(json.dumps(manifest))
    return directory


def one_round(env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = base.make_project(Path(tmp), 10)
        bootstrap = timed(project, env, "bootstrap", "local")
        first = timed(project, env, "deploy", "local", "--artifacts", str(bundle(project, "one")))
        # A different function zip: a new version, a stack update, a smoke test.
        second = timed(project, env, "deploy", "local", "--artifacts", str(bundle(project, "two")))
        return {"bootstrap_s": bootstrap, "first_deploy_s": first, "second_deploy_s": second}


def main() -> None:
    plain = environment(PLAIN_PORT, {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    enforcing = environment(ENFORCING_PORT, admin_keys())
    runs = {"plain": [], "enforcing": []}
    for _ in range(ROUNDS):
        runs["plain"].append(one_round(plain))
        runs["enforcing"].append(one_round(enforcing))
    results = {"profile": PROFILE, "rounds": ROUNDS}
    for step in ("bootstrap_s", "first_deploy_s", "second_deploy_s"):
        plain_median = statistics.median(r[step] for r in runs["plain"])
        enforcing_median = statistics.median(r[step] for r in runs["enforcing"])
        results[step] = {
            "plain": round(plain_median, 2),
            "enforcing": round(enforcing_median, 2),
            "added": round(enforcing_median - plain_median, 2),
        }
    print(json.dumps(results, indent=2))
    out = base.TARGET / "bench" / "iam-enforcement.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
