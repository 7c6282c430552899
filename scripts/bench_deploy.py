"""Benchmarks twinctl's deploy path on the emulator (run through scripts/bench-deploy).

(a) Site sync of 1,000 files into an empty bucket: twinctl (deploy of a bundle whose function
    and stack are already in place, so the site sync dominates) against `aws s3 sync` of the same
    directory into another empty bucket on the same emulator, in the same run.
(b) Re-sync with no change: twinctl's PUT count and time.
(c) A no-op `twinctl deploy local` (nothing changed anywhere).
"""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# cargo's target directory, as scripts/target-dir resolved it (CARGO_TARGET_DIR respected).
TARGET = Path(os.environ.get("TWIN_TARGET_DIR") or ROOT / "target")
TWINCTL = TARGET / "release" / "twinctl"
RUNTIME = TARGET / "release" / "twin-runtime"
AWS = ROOT / ".twin" / "tools" / "venv" / "bin" / "aws"
PORT = os.environ.get("TWIN_EMULATOR_PORT", "4566")
ENDPOINT = f"http://127.0.0.1:{PORT}"


def env() -> dict:
    e = dict(os.environ)
    e.update(
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        TWINCTL_ENDPOINT_URL=ENDPOINT,
    )
    return e


def twinctl(project: Path, *args: str) -> dict:
    out = subprocess.run(
        [str(TWINCTL), "--config", str(project / "twinctl.yaml"), "--output", "json", *args],
        env=env(), capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"twinctl {' '.join(args)} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def make_project(work: Path, files: int) -> Path:
    name = "b" + uuid.uuid4().hex[:10]
    (work / "me.txt").write_text("I am the benchmark twin.\n")
    (work / "twinctl.yaml").write_text(
        f"project: {name}\n"
        f"templates:\n  stack: {ROOT}/templates/twin.yaml\n  data: {ROOT}/templates/twin-data.yaml\n  bootstrap: {ROOT}/templates/bootstrap.yaml\n"
        f"  access: {ROOT}/templates/environment-access.yaml\n"
        "persona: me.txt\n"
        "frontend:\n  directory: site\n  output: site\n"
        "environments:\n  local:\n    region: us-east-1\n    architecture: native\n"
        "    parameters:\n      LlmProvider: offline\n"
    )
    site = work / "site"
    for n in range(files):
        path = site / "_next" / "static" / f"{n % 20:02d}" / f"chunk-{n}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* chunk {n} */ " + "x" * (n % 2000))
    (site / "index.html").write_text("<!doctype html><title>bench</title>")
    return work


def write_function(bundle: Path, variant: str = "") -> dict:
    """The benchmark function (a script running the release twin-runtime) zipped into `bundle`;
    returns the bundle manifest's `function` entry. A `variant` makes a different zip (a new version)."""
    comment = f"# {variant}\n" if variant else ""
    script = f"#!/bin/sh\n{comment}exec \"{RUNTIME}\" \"$@\"\n".encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        z.writestr(info, script)
    data = buf.getvalue()
    digest = hashlib.sha256(data).digest()
    name = f"function-{digest.hex()[:16]}.zip"
    (bundle / name).write_bytes(data)
    return {"zip": name, "sha256": digest.hex(), "code_sha256": base64.b64encode(digest).decode(), "bytes": len(data)}


def make_bundle(project: Path, with_site: bool) -> Path:
    bundle = project / ("bundle-site" if with_site else "bundle-nosite")
    bundle.mkdir(exist_ok=True)
    function = write_function(bundle)
    site = None
    if with_site:
        target = bundle / "site"
        if not target.exists():
            subprocess.run(["cp", "-r", str(project / "site"), str(target)], check=True)
        site = {"dir": "site", "files": 0, "bytes": 0}
    else:
        (bundle / "site").mkdir(exist_ok=True)
        (bundle / "site" / "index.html").write_text("<!doctype html><title>bench</title>")
        site = {"dir": "site", "files": 1, "bytes": 0}
    (bundle / "bundle.json").write_text(json.dumps({
        "fingerprint": "bench", "architecture": "x86_64",
        "function": function,
        "site": site,
    }))
    return bundle


def main() -> None:
    if not AWS.exists():
        sys.exit(f"{AWS} missing: scripts/bench-deploy installs awscli")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), 1000)
        twinctl(project, "bootstrap", "local")
        # Stack, function and a one-page site first, so the measured deploy is the 1,000-file sync.
        twinctl(project, "deploy", "local", "--artifacts", str(make_bundle(project, with_site=False)))
        full = make_bundle(project, with_site=True)

        started = time.perf_counter()
        report = twinctl(project, "deploy", "local", "--artifacts", str(full), "--no-wait")
        twinctl_seconds = time.perf_counter() - started
        site_seconds = dict(report["phases"]).get("site")
        results["twinctl_deploy_1000_files_s"] = round(twinctl_seconds, 2)
        results["twinctl_site_phase_s"] = round(site_seconds, 2) if site_seconds else None
        results["twinctl_uploaded"] = report["site"]["uploaded"]

        bucket = "bench-awscli-" + uuid.uuid4().hex[:12]
        subprocess.run([str(AWS), "--endpoint-url", ENDPOINT, "s3", "mb", f"s3://{bucket}"], env=env(), check=True, capture_output=True)
        started = time.perf_counter()
        subprocess.run([str(AWS), "--endpoint-url", ENDPOINT, "s3", "sync", "--only-show-errors", str(full / "site"), f"s3://{bucket}"],
                       env=env(), check=True)
        results["aws_s3_sync_1000_files_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        subprocess.run([str(AWS), "--endpoint-url", ENDPOINT, "s3", "sync", "--only-show-errors", str(full / "site"), f"s3://{bucket}"],
                       env=env(), check=True)
        results["aws_s3_resync_no_change_s"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        noop = twinctl(project, "deploy", "local", "--artifacts", str(full))
        results["twinctl_noop_deploy_s"] = round(time.perf_counter() - started, 2)
        results["twinctl_noop_puts"] = noop["site"]["uploaded"]
        results["twinctl_noop_stack_changes"] = noop["stack_changes"]
        results["twinctl_noop_site_phase_s"] = round(dict(noop["phases"]).get("site", 0), 3)

    base = results["twinctl_site_phase_s"] or results["twinctl_deploy_1000_files_s"]
    results["speedup_site_phase_vs_aws_s3_sync"] = round(results["aws_s3_sync_1000_files_s"] / base, 1)
    results["speedup_whole_deploy_vs_aws_s3_sync"] = round(results["aws_s3_sync_1000_files_s"] / results["twinctl_deploy_1000_files_s"], 1)
    print(json.dumps(results, indent=2))
    out = TARGET / "bench" / "deploy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
