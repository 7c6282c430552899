"""Benchmarks `twinctl rollback` on the emulator (run through scripts/bench-rollback).

For a site of 1,000 and of 5,000 files: deploy A, change 10 files, deploy B, then time
`twinctl rollback local` (B → A) and `twinctl rollback local --to B` (A → B). The targets
(issue "rollback / releases / canary"): origin-side time ≤ 1 s for 1,000 files, and the same
number of S3 requests for 1,000 and 5,000 files (unchanged files cost nothing).
"""

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import TARGET, make_project, twinctl, write_function  # noqa: E402

CHANGED = 10


def bundle(project: Path, name: str) -> Path:
    """A bundle of the project's site as it is now, with the one benchmark function."""
    directory = project / f"bundle-{name}"
    directory.mkdir()
    function = write_function(directory)
    shutil.copytree(project / "site", directory / "site")
    (directory / "bundle.json").write_text(json.dumps({
        "fingerprint": f"bench-{name}", "architecture": "x86_64", "function": function,
        "site": {"dir": "site", "files": 0, "bytes": 0},
    }))
    return directory


def measure(files: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp), files)
        twinctl(project, "bootstrap", "local")
        a = twinctl(project, "deploy", "local", "--artifacts", str(bundle(project, "a")), "--no-wait")
        chunks = sorted((project / "site" / "_next" / "static").rglob("chunk-*.js"))[:CHANGED - 1]
        for chunk in chunks:
            chunk.write_text(chunk.read_text() + "/* changed */")
        (project / "site" / "index.html").write_text("<!doctype html><title>bench B</title>")
        b = twinctl(project, "deploy", "local", "--artifacts", str(bundle(project, "b")), "--no-wait")
        result = {"files": files + 2, "changed": CHANGED}
        for label, args in (("back", []), ("forward", ["--to", b["release_id"]])):
            started = time.perf_counter()
            report = twinctl(project, "rollback", "local", *args)
            wall = time.perf_counter() - started
            assert report["to"] == (a["release_id"] if label == "back" else b["release_id"]), report
            result[label] = {
                "origin_s": round(report["origin_seconds"], 3),
                "edge_s": round(report["edge_seconds"], 3),
                "stack_s": round(report["stack_seconds"], 3),
                "wall_s": round(wall, 2),
                "restored": report["site"]["uploaded"] + report["site"]["redescribed"],
                "s3_requests": report["aws_requests"].get("s3", 0),
                "all_requests": sum(report["aws_requests"].values()),
                "site_state": report["site_state"],
            }
        return result


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 5000]
    results = {"runs": [measure(files) for files in sizes]}
    s3 = {run["files"]: run["back"]["s3_requests"] for run in results["runs"]}
    results["s3_requests_flat"] = len(set(s3.values())) == 1
    results["origin_within_1s"] = all(run[d]["origin_s"] <= 1.0 for run in results["runs"] for d in ("back", "forward"))
    print(json.dumps(results, indent=2))
    out = TARGET / "bench" / "rollback.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
