"""Benchmarks twin-runtime (release build): cold start and chat throughput.

Run through scripts/bench-runtime, which builds the binary and installs wrk.

(a) cold start: spawn -> first 200 on /api/health, median of 20 spawns.
(b) POST /api/chat, offline model, file store, 100 connections for 10 s: 50 connections on
    16 long-lived sessions (wrk A), 50 on new sessions (wrk B), at the same time. Reports
    requests/s, p50/p99 per group, the server's peak RSS (VmHWM), and whether the long-lived
    sessions kept every turn wrk saw acknowledged.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# cargo's target directory, as scripts/target-dir resolved it (CARGO_TARGET_DIR respected).
TARGET = Path(os.environ.get("TWIN_TARGET_DIR") or ROOT / "target")
BINARY = TARGET / "release" / "twin-runtime"
PERSONA = ROOT / "persona" / "me.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(storage: str) -> dict:
    env = dict(os.environ)
    env.update(
        ENVIRONMENT="local",
        LOCAL_PERSONA_PATH=str(PERSONA),
        LOCAL_STORAGE_PATH=storage,
        LOG_FORMAT="json",
        RUST_LOG=os.environ.get("RUST_LOG", "info"),
    )
    return env


def health_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/api/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def cold_start(runs: int) -> list:
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as storage:
            port = free_port()
            started = time.perf_counter()
            proc = subprocess.Popen(
                [str(BINARY), "--listen", f"127.0.0.1:{port}"],
                env=server_env(storage),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while not health_ok(port):
                    if proc.poll() is not None:
                        sys.exit("twin-runtime exited during the cold-start run")
                    if time.perf_counter() - started > 10:
                        sys.exit("twin-runtime did not answer within 10 s")
                    time.sleep(0.0005)
                samples.append((time.perf_counter() - started) * 1000)
            finally:
                proc.terminate()
                proc.wait()
    return samples


WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def wrk_script(path: Path, sessions: list) -> None:
    if sessions:
        ids = ", ".join(f'"{s}"' for s in sessions)
        body = f"""
local sessions = {{ {ids} }}
math.randomseed(os.time())
request = function()
  local id = sessions[math.random(#sessions)]
  return wrk.format("POST", "/api/chat", {{["Content-Type"] = "application/json"}},
    '{{"message":"benchmark turn","session_id":"' .. id .. '"}}')
end
"""
    else:
        body = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message":"benchmark turn on a new session"}'
"""
    path.write_text(body + WRK_REPORT)


def parse_wrk(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    sys.exit("wrk printed no report:\n" + output)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def chat(port: int, session_id=None) -> dict:
    body = {"message": "warm-up turn"}
    if session_id:
        body["session_id"] = session_id
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/chat", json.dumps(body), {"Content-Type": "application/json"})
    response = json.loads(conn.getresponse().read())
    conn.close()
    return response


def history_user_turns(port: int, session_id: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/chat/history/{session_id}")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return sum(1 for m in body["messages"] if m["role"] == "user")


def load(duration: int, connections: int, storage_root=None) -> dict:
    half = connections // 2
    with tempfile.TemporaryDirectory(dir=storage_root) as work:
        work = Path(work)
        port = free_port()
        proc = subprocess.Popen(
            [str(BINARY), "--listen", f"127.0.0.1:{port}"],
            env=server_env(str(work / "sessions")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not health_ok(port):
                time.sleep(0.01)
            sessions = [chat(port)["session_id"] for _ in range(16)]
            wrk_script(work / "long.lua", sessions)
            wrk_script(work / "new.lua", [])
            url = f"http://127.0.0.1:{port}"
            common = ["wrk", "-t1", f"-c{half}", f"-d{duration}s", "--timeout", "10s"]
            long_run = subprocess.Popen(common + ["-s", str(work / "long.lua"), url], stdout=subprocess.PIPE, text=True)
            new_run = subprocess.Popen(common + ["-s", str(work / "new.lua"), url + "/api/chat"], stdout=subprocess.PIPE, text=True)
            long_out, _ = long_run.communicate()
            new_out, _ = new_run.communicate()
            rss = peak_rss_kib(proc.pid)
            long_stats, new_stats = parse_wrk(long_out), parse_wrk(new_out)
            stored = sum(history_user_turns(port, s) - 1 for s in sessions)
        finally:
            proc.terminate()
            proc.wait()
    acknowledged = long_stats["requests"] - long_stats["non_2xx"]
    seconds = max(long_stats["duration_us"], new_stats["duration_us"]) / 1e6
    return {
        "connections": connections,
        "duration_s": round(seconds, 2),
        "requests_per_s": round((long_stats["requests"] + new_stats["requests"]) / seconds),
        "long_lived": long_stats,
        "new_sessions": new_stats,
        "peak_rss_mib": round(rss / 1024, 1),
        "long_lived_turns_acknowledged": acknowledged,
        "long_lived_turns_stored": stored,
        "turns_lost": max(0, acknowledged - stored),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--storage-root", default=None, help="where the file store lives (default: the system temp dir)")
    parser.add_argument("--out", default=str(TARGET / "bench" / "runtime.json"))
    args = parser.parse_args()

    samples = cold_start(args.runs)
    cold = {
        "runs": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "min_ms": round(min(samples), 2),
        "max_ms": round(max(samples), 2),
    }
    print(f"cold start: median {cold['median_ms']} ms (min {cold['min_ms']}, max {cold['max_ms']}) over {cold['runs']} spawns")

    result = load(args.duration, args.connections, args.storage_root)
    ms = lambda us: round(us / 1000, 2)  # noqa: E731
    print(f"load: {result['requests_per_s']} requests/s over {result['duration_s']} s, {result['connections']} connections")
    for name in ("long_lived", "new_sessions"):
        s = result[name]
        print(
            f"  {name}: {s['requests']} requests, p50 {ms(s['p50_us'])} ms, p99 {ms(s['p99_us'])} ms,"
            f" max {ms(s['max_us'])} ms, non-2xx {s['non_2xx']}, socket errors {s['socket_errors']}"
        )
    print(f"  peak RSS {result['peak_rss_mib']} MiB")
    print(
        f"  long-lived sessions: {result['long_lived_turns_acknowledged']} turns acknowledged,"
        f" {result['long_lived_turns_stored']} stored, {result['turns_lost']} lost"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cold_start": cold, "load": result}, indent=2) + "\n")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
