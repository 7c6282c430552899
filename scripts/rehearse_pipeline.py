"""scripts/rehearse-pipeline: the GitHub Actions pipeline, rehearsed against the IAM-enforcing emulator.

It reads .github/workflows/deploy.yml, preview.yml and rollback.yml and runs their jobs
(scripts/workflow_runner.py) in the workflows' order, every `run:` step as written, so a twinctl
command the workflows call that does not exist, or a flag it does not take, fails the rehearsal.
Each job assumes its GitHub environment's deploy role the way aws-actions/configure-aws-credentials
does: an OIDC token for `repo:<repo>:environment:<env>` (the emulator's test issuer) exchanged with
AssumeRoleWithWebIdentity; the deploy roles are the ones `twinctl bootstrap` created, so every call
the pipeline makes is checked against exactly the grants CI would have.

What the rehearsal states and overrides, and why (everything else is the repository's own):
- the configuration: twinctl.yaml with staging, production and the previews' template pointed at
  the enforcing emulator, built for the native architecture (the local smoke test runs the function
  on this machine, which cannot run an arm64 binary), with a unique project name (so a rerun never
  meets an earlier run's stacks) and the model an OpenAI-compatible stand-in on 127.0.0.1 over HTTPS
  (the runtime refuses the offline model outside local, and plain HTTP to a model outside local);
  its key lives in the emulator's Secrets Manager like any key; twinctl gets it as TWINCTL_CONFIG;
- the one-time set-up the README documents, done as the administrator: bootstrap, the first deploy
  and the model's key of staging and production;
- production's approval is given (GitHub's required reviewers cannot be rehearsed here);
- steps that only prepare a real runner stand in: cargo-lambda and zig are not installed (native
  build), twinctl is the one under test rather than a fresh release build, checkout is the working
  tree, artifacts are directories, and the JUnit report action checks the file it would publish.

Scenarios: (1) a push to main deploys staging and then production, the same bundle digest in both;
(2) a push whose release fails verification on staging (its persona breaks the model stand-in) is
rolled back on staging and never reaches production, and staging then verifies green again;
(3) the rollback workflow restores production's previous release; (4) with PROMOTE_MANUALLY (no
required reviewers), deploy stops after staging and the promote workflow deploys that run's bundle
to production, refusing a digest that is not the bundle's; (5) a pull request opens a preview
(deployed and verified with the previews' role), is updated, and is destroyed with all its data when
it closes; a fork's pull request gets no preview.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.server
import ipaddress
import json
import os
import secrets as random_secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore import UNSIGNED
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workflow_runner as wr  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
REPOSITORY = "rehearsal/twin"
REGION = "us-east-1"
BREAK_MARKER = "REHEARSAL-BREAK-THE-MODEL"
PREVIEW_NUMBER = 7


class RehearsalFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"rehearse-pipeline: {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise RehearsalFailed(message)


# ---------------------------------------------------------------------------------------------
# The model stand-in: an OpenAI-compatible API on 127.0.0.1 over HTTPS, with its own CA.


class ModelStandIn:
    """Answers /v1/chat/completions (plain and streamed) and /v1/models for one API key. A prompt
    that holds BREAK_MARKER (a persona deployed to break the model) gets a 500, as a broken model
    configuration would."""

    def __init__(self, directory: Path):
        self.key = "sk-rehearsal-" + random_secrets.token_hex(8)
        self.requests = 0
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "model-ca.pem"
        cert_file, key_file = self._certificates(directory)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {stand_in.key}":
                    return True
                self._send(401, b'{"error":{"message":"invalid api key"}}')
                return False

            def do_GET(self) -> None:
                if self._authorized():
                    self._send(200, b'{"object":"list","data":[{"id":"rehearsal-model","object":"model"}]}')

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self._authorized():
                    return
                stand_in.requests += 1
                messages = body.get("messages") or []
                text = " ".join(str(m.get("content", "")) for m in messages)
                if BREAK_MARKER in text:
                    self._send(500, b'{"error":{"message":"the model stand-in was told to break"}}')
                    return
                reply = stand_in.reply(messages)
                if body.get("stream"):
                    chunks = [reply[i : i + 16] for i in range(0, len(reply), 16)]
                    events = "".join(
                        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": c}}]}) + "\n\n"
                        for c in chunks
                    )
                    events += "data: [DONE]\n\n"
                    self._send(200, events.encode(), "text/event-stream")
                    return
                answer = {
                    "id": "chatcmpl-rehearsal",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": len(reply) // 4, "total_tokens": 0},
                }
                self._send(200, json.dumps(answer).encode())

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base_url = f"https://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def reply(messages: list[dict[str, Any]]) -> str:
        """A deterministic answer that carries what the plans' real-model steps look for: the
        persona's first line and what the user said before."""
        system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
        persona = next((line.strip() for line in system.splitlines() if line.strip()), "")
        earlier = [str(m.get("content", "")) for m in messages[1:-1] if m.get("role") == "user"]
        return f"(model stand-in) {persona[:200]} | earlier: {' / '.join(earlier)[:400]}"

    def _certificates(self, directory: Path) -> tuple[Path, Path]:
        now = dt.datetime.now(dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twinctl rehearsal model CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cert_file = directory / "model.pem"
        key_file = directory / "model-key.pem"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_file, key_file


# ---------------------------------------------------------------------------------------------
# The rehearsal


class Rehearsal:
    def __init__(self, twinctl: Path, endpoint: str, emulator_port: str, directory: Path):
        self.twinctl = twinctl
        self.endpoint = endpoint
        self.emulator_port = emulator_port
        self.dir = directory
        self.project = "rh" + random_secrets.token_hex(3)
        self.admin = self._admin_keys()
        self.artifacts: dict[str, dict[str, Path]] = {}
        self.checks: list[str] = []
        self.model = ModelStandIn(self.dir / "model")
        self.bin = self.dir / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        (self.bin / "twinctl").symlink_to(self.twinctl)
        self.account = boto3.client("sts", **self._client_args(self.admin)).get_caller_identity()["Account"]
        self.provider = self._oidc_provider()
        self.config = self._write_config("twinctl.yaml", ROOT / "persona" / "me.txt")
        broken = self.dir / "broken-persona.txt"
        broken.write_text((ROOT / "persona" / "me.txt").read_text() + f"\n{BREAK_MARKER}\n")
        self.broken_config = self._write_config("twinctl-broken.yaml", broken)
        edited = self.dir / "edited-persona.txt"
        edited.write_text((ROOT / "persona" / "me.txt").read_text() + "\nEdited in the pull request.\n")
        self.edited_config = self._write_config("twinctl-edited.yaml", edited)
        self.roles: dict[str, str] = {}
        self.promote_manually = False

    # -- set-up -------------------------------------------------------------------------------

    def _admin_keys(self) -> dict[str, str]:
        path = ROOT / ".twin" / "emulator" / "admin.env"
        check(path.is_file(), f"{path} is missing: start the enforcing emulator (TWIN_EMULATOR_IAM=enforce scripts/emulator start)")
        keys = {}
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                keys[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
        return {"AWS_ACCESS_KEY_ID": keys["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": keys["AWS_SECRET_ACCESS_KEY"]}

    def _oidc_provider(self) -> str:
        """GitHub's OIDC provider: one per account, so made once and named in the configuration, as
        the README says for an account that has one."""
        arn = f"arn:aws:iam::{self.account}:oidc-provider/token.actions.githubusercontent.com"
        try:
            boto3.client("iam", **self._client_args(self.admin)).create_open_id_connect_provider(
                Url="https://token.actions.githubusercontent.com",
                ClientIDList=["sts.amazonaws.com"],
                ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
        return arn

    def _client_args(self, keys: dict[str, str]) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": keys.get("AWS_SESSION_TOKEN"),
        }

    def _write_config(self, name: str, persona: Path) -> Path:
        config = yaml.safe_load((ROOT / "twinctl.yaml").read_text())
        config["project"] = self.project
        for key, value in list(config.get("templates", {}).items()):
            config["templates"][key] = str(ROOT / value)
        config["persona"] = str(persona)
        config["testplans"] = str(ROOT / config.get("testplans", "testplans"))
        frontend = config.get("frontend")
        if frontend:
            frontend["directory"] = str(ROOT / frontend["directory"])
            frontend["output"] = str(ROOT / frontend["output"])
        model = {"LlmProvider": "openai", "LlmModelId": "rehearsal-model", "OpenAiBaseUrl": self.model.base_url}
        overrides = {"endpoint_url": self.endpoint, "architecture": "native"}
        for name_ in ("staging", "production"):
            environment = config["environments"][name_]
            environment.update(overrides)
            environment.setdefault("parameters", {}).update(model)
        check(config["environments"]["production"].get("approval") is True, "production must be approval-gated in twinctl.yaml")
        previews = config.get("previews")
        check(previews is not None, "twinctl.yaml has no previews: template")
        previews["environment"].update(overrides)
        previews["environment"].setdefault("parameters", {}).update(model)
        config["bootstrap"] = {
            "github_repository": REPOSITORY,
            "ci_environments": ["staging", "production", previews["prefix"]],
            "oidc_provider_arn": self.provider,
        }
        path = self.dir / name
        path.write_text(
            "# Written by scripts/rehearse-pipeline: twinctl.yaml with the rehearsal's overrides.\n"
            + yaml.safe_dump(config, sort_keys=False)
        )
        return path

    def base_env(self, config: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("TWINCTL_")}
        env.update(
            AWS_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            TWINCTL_CONFIG=str(config or self.config),
            # The function run on this machine trusts what this machine trusts; here, the stand-in's CA.
            SSL_CERT_FILE=str(self.model.ca_file),
            CARGO_TARGET_DIR=self.target_dir(),
            # The native build of the runtime, without release optimisation: the rehearsal tests the
            # pipeline, not the optimiser, and a full release build would add minutes.
            CARGO_PROFILE_RELEASE_OPT_LEVEL="0",
            CARGO_PROFILE_RELEASE_LTO="false",
            CARGO_PROFILE_RELEASE_CODEGEN_UNITS="16",
            CARGO_PROFILE_RELEASE_DEBUG="false",
        )
        return env

    def target_dir(self) -> str:
        return subprocess.run(
            [str(ROOT / "scripts" / "target-dir")], check=True, capture_output=True, text=True
        ).stdout.strip()

    def twinctl_admin(self, *args: str, config: Path | None = None, stdin: str | None = None) -> dict[str, Any]:
        env = self.base_env(config)
        env.update(self.admin)
        say("as the administrator: twinctl " + " ".join(args))
        completed = subprocess.run(
            [str(self.twinctl), *args, "--output", "json"],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr[-4000:])
            raise RehearsalFailed(f"twinctl {' '.join(args)} failed (exit {completed.returncode})")
        return json.loads(completed.stdout) if completed.stdout.strip() else {}

    def set_up(self) -> None:
        """What the README's "Deploy from GitHub Actions" asks an administrator to do once."""
        preview_any = f"pr-{PREVIEW_NUMBER}"
        for environment in ("staging", "production", preview_any):
            report = self.twinctl_admin("bootstrap", environment)
            role = report.get("access", {}).get("outputs", {}).get("DeployRoleArn")
            check(bool(role), f"bootstrap {environment} made no deploy role: {report}")
            self.roles["pr" if environment == preview_any else environment] = role
        check(self.roles["pr"] not in (self.roles["staging"], self.roles["production"]), "previews need a role of their own")
        for environment in ("staging", "production"):
            self.twinctl_admin("secrets", "set", environment, stdin=self.model.key)
            # A first deploy creates roles: approval-gated production asks for it explicitly.
            self.twinctl_admin("deploy", environment, "--yes", "--approve-iam-broadening")

    def variables(self, environment: str | None) -> dict[str, str]:
        """Repository variables, and the environment's own where GitHub has them."""
        variables = {"AWS_REGION": REGION, "AWS_ACCOUNT_ID": self.account, "PREVIEW_AWS_ROLE_ARN": self.roles["pr"]}
        if self.promote_manually:
            variables["PROMOTE_MANUALLY"] = "true"
        if environment in ("staging", "production"):
            variables["AWS_ROLE_ARN"] = self.roles[environment]
        return variables

    # -- stand-ins for what a GitHub runner provides ---------------------------------------------

    def _workspace(self, run_name: str) -> Any:
        def make(job: str) -> Path:
            workspace = self.dir / "runs" / run_name / job
            if workspace.exists():
                shutil.rmtree(workspace)
            workspace.mkdir(parents=True)
            for entry in ROOT.iterdir():
                if entry.name not in (".git", ".twin", "target", "node_modules"):
                    (workspace / entry.name).symlink_to(entry)
            return workspace

        return make

    def checkout(self, job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
        # The working tree stands in for the checkout; what the workflow asks of it is checked.
        check((step.spec.get("with") or {}).get("persist-credentials") is False, f"{job.name}: checkout must not persist credentials")

    def upload_artifact(self, run_name: str) -> Any:
        def upload(job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
            options = step.spec.get("with") or {}
            source = job.workspace / wr.render(wr.interpolate(options["path"], context))
            if not source.exists():
                raise wr.StepFailed(f"artifact path {source} does not exist")
            stored = self.dir / "artifacts" / run_name / wr.render(wr.interpolate(options["name"], context))
            if stored.exists():
                shutil.rmtree(stored)
            shutil.copytree(source, stored, copy_function=os.link)
            self.artifacts.setdefault(run_name, {})[options["name"]] = stored

        return upload

    def download_artifact(self, run_name: str) -> Any:
        def download(job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
            options = step.spec.get("with") or {}
            source_run = wr.render(wr.interpolate(options.get("run-id"), context)) or run_name
            stored = self.artifacts.get(source_run, {}).get(options["name"])
            if stored is None:
                raise wr.StepFailed(f"no artifact {options['name']!r} in run {source_run}")
            target = job.workspace / wr.render(wr.interpolate(options.get("path") or ".", context))
            # Artifacts lose file modes on the way, as GitHub's do: the workflow must chmod.
            shutil.copytree(stored, target, copy_function=shutil.copyfile, dirs_exist_ok=True)

        return download

    def configure_credentials(self, job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
        options = {k: wr.render(wr.interpolate(v, context)) for k, v in (step.spec.get("with") or {}).items()}
        permissions = job.spec.get("permissions") or {}
        check(permissions.get("id-token") == "write", f"job {job.name} assumes a role without id-token: write")
        check(bool(job.environment), f"job {job.name} assumes a role outside a GitHub environment")
        role = options.get("role-to-assume")
        if not role:
            raise wr.StepFailed("role-to-assume is empty")
        subject = f"repo:{REPOSITORY}:environment:{job.environment}"
        token = subprocess.run(
            [str(ROOT / "scripts" / "emulator"), "token", "--sub", subject],
            env={**os.environ, "TWIN_EMULATOR_PORT": self.emulator_port},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        sts = boto3.client("sts", endpoint_url=self.endpoint, region_name=REGION, config=BotoConfig(signature_version=UNSIGNED))
        try:
            credentials = sts.assume_role_with_web_identity(
                RoleArn=role, RoleSessionName=f"GitHubActions-{job.name}", WebIdentityToken=token
            )["Credentials"]
        except ClientError as error:
            raise wr.StepFailed(f"{subject} may not assume {role}: {error}") from error
        allowed = options.get("allowed-account-ids")
        if allowed:
            check(role.split(":")[4] in allowed.split(","), f"{role} is outside allowed-account-ids {allowed}")
        job.env.update(
            AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
            AWS_SESSION_TOKEN=credentials["SessionToken"],
            AWS_REGION=options.get("aws-region") or REGION,
            AWS_DEFAULT_REGION=options.get("aws-region") or REGION,
        )

    def junit_report(self, job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
        options = {k: wr.render(wr.interpolate(v, context)) for k, v in (step.spec.get("with") or {}).items()}
        check((job.spec.get("permissions") or {}).get("checks") == "write", f"job {job.name} publishes a check without checks: write")
        report = job.workspace / options["report_paths"]
        if not report.is_file():
            raise wr.StepFailed(f"no JUnit report at {options['report_paths']}")
        cases = ET.parse(report).getroot().iter("testcase")
        count = sum(1 for _ in cases)
        if options.get("require_tests") == "true" and count == 0:
            raise wr.StepFailed(f"{options['report_paths']} holds no test case")
        self.checks.append(f"{options.get('check_name')}: {count} test cases")

    def skip_tool_install(self, job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
        say(f"  ({step.name}: not needed, the rehearsal builds for the native architecture)")

    def twinctl_on_path(self, job: wr.JobRun, step: wr.Step, context: dict[str, Any]) -> None:
        job.path.append(str(self.bin))

    def runner(self, workflow: str, run_name: str, github: dict[str, Any], *, config: Path | None = None,
               inputs: dict[str, Any] | None = None) -> wr.Runner:
        return wr.Runner(
            WORKFLOWS / workflow,
            {"repository": REPOSITORY, "token": "rehearsal-token", "run_id": run_name, **github},
            variables=self.variables,
            secrets={"PREVIEW_LLM_API_KEY": self.model.key},
            inputs=inputs,
            uses={
                "actions/checkout": self.checkout,
                "actions/upload-artifact": self.upload_artifact(run_name),
                "actions/download-artifact": self.download_artifact(run_name),
                "aws-actions/configure-aws-credentials": self.configure_credentials,
                "mikepenz/action-junit-report": self.junit_report,
            },
            named={"Install cargo-lambda and zig": self.skip_tool_install, "Build twinctl": self.twinctl_on_path},
            workspace=self._workspace(run_name),
            base_env=self.base_env(config),
            echo=lambda line: say(f"[{workflow} {run_name}] {line}"),
        )

    # -- what is deployed ---------------------------------------------------------------------

    def current_release(self, environment: str) -> dict[str, Any]:
        releases = self.twinctl_admin("releases", environment)
        current = [r for r in releases.get("releases", []) if r.get("current")]
        check(len(current) == 1, f"{environment}: expected one current release, got {releases}")
        return current[0]

    # -- scenarios ----------------------------------------------------------------------------

    def good_push(self) -> None:
        say("scenario 1: a push to main reaches staging, then production (approved), the same bundle")
        before = {e: self.current_release(e)["id"] for e in ("staging", "production")}
        results = self.runner("deploy.yml", "push-1", {"event_name": "push", "ref": "refs/heads/main", "event": {}}).run()
        for job in ("build", "staging", "production"):
            check(results[job].result == "success", f"deploy.yml job {job}: {results[job].result} at {results[job].failed_step!r}")
        digest = results["build"].outputs.get("digest", "")
        check(len(digest) == 64, f"the build job's digest output is {digest!r}")
        after = {e: self.current_release(e) for e in ("staging", "production")}
        for environment in ("staging", "production"):
            check(after[environment]["id"] != before[environment], f"{environment}: no new release was made current")
        zips = {e: self.twinctl_admin("releases", e, after[e]["id"])["release"]["function"]["code_sha256"] for e in after}
        check(zips["staging"] == zips["production"], f"staging and production run different function zips: {zips}")
        for environment in ("staging", "production"):
            url = results[environment].outputs.get("__environment_url", "")
            check(url.startswith("http"), f"the {environment} job's environment URL is {url!r}")
        self.good_releases = {e: after[e]["id"] for e in after}

    def failing_push(self) -> None:
        say("scenario 2: a release that fails verification on staging is rolled back and stops there")
        results = self.runner(
            "deploy.yml", "push-2", {"event_name": "push", "ref": "refs/heads/main", "event": {}}, config=self.broken_config
        ).run()
        check(results["build"].result == "success", "the build job failed")
        check(results["staging"].result == "failure", f"staging should fail verification, got {results['staging'].result}")
        check(results["production"].result == "skipped", f"production must not run after a failed staging, got {results['production'].result}")
        staging = self.current_release("staging")
        check(staging["kind"] == "rollback" and staging["rolled_back_to"] == self.good_releases["staging"],
              f"staging's current release should restore {self.good_releases['staging']}: {staging}")
        production = self.current_release("production")["id"]
        check(production == self.good_releases["production"],
              f"production's current release is {production}, not the verified {self.good_releases['production']}")
        self.twinctl_admin("verify", "staging")  # green again: the rollback restored a working twin

    def rollback_workflow(self) -> None:
        say("scenario 3: the rollback workflow restores production's previous release")
        before = self.current_release("production")["id"]
        results = self.runner(
            "rollback.yml", "rollback-1", {"event_name": "workflow_dispatch", "event": {}},
            inputs={"environment": "production", "release": ""},
        ).run()
        check(results["rollback"].result == "success", f"rollback.yml: {results['rollback'].result} at {results['rollback'].failed_step!r}")
        after = self.current_release("production")["id"]
        check(after != before, "production's current release did not change")

    def manual_promotion(self) -> None:
        say("scenario 4: without required reviewers, deploy stops after staging and promote deploys that bundle")
        self.promote_manually = True
        try:
            before = self.current_release("production")["id"]
            results = self.runner("deploy.yml", "push-3", {"event_name": "push", "ref": "refs/heads/main", "event": {}}).run()
            check(results["staging"].result == "success", f"push-3 staging: {results['staging'].result}")
            check(results["production"].result == "skipped", "with PROMOTE_MANUALLY, deploy.yml must stop after staging")
            check(self.current_release("production")["id"] == before, "production changed without a promotion")
            results = self.runner(
                "promote.yml", "promote-1", {"event_name": "workflow_dispatch", "event": {}},
                inputs={"run-id": "push-3", "digest": ""},
            ).run()
            check(results["production"].result == "success",
                  f"promote.yml: {results['production'].result} at {results['production'].failed_step!r}")
            promoted = self.current_release("production")
            check(promoted["id"] != before, "promote made no new production release")
            staging = self.current_release("staging")
            zips = {e: self.twinctl_admin("releases", e, r["id"])["release"]["function"]["code_sha256"]
                    for e, r in (("staging", staging), ("production", promoted))}
            check(zips["staging"] == zips["production"], f"promote deployed another zip: {zips}")
            # A digest that is not the bundle's is refused before anything is deployed.
            results = self.runner(
                "promote.yml", "promote-2", {"event_name": "workflow_dispatch", "event": {}},
                inputs={"run-id": "push-3", "digest": "0" * 64},
            ).run()
            check(results["production"].result == "failure", "promote accepted a bundle whose digest differs")
            check(self.current_release("production")["id"] == promoted["id"], "a refused promotion changed production")
        finally:
            self.promote_manually = False

    def preview(self) -> None:
        say(f"scenario 5: pull request #{PREVIEW_NUMBER} opens, is updated, and closes")
        name = f"pr-{PREVIEW_NUMBER}"
        same_repo = {"pull_request": {"number": PREVIEW_NUMBER, "head": {"repo": {"full_name": REPOSITORY}}}}
        releases = []
        # The update pushes an edited persona: the preview's next release carries it.
        for action, config in (("opened", self.config), ("synchronize", self.edited_config)):
            results = self.runner(
                "preview.yml", f"pr-{action}", {"event_name": "pull_request", "event": {"action": action, **same_repo}},
                config=config,
            ).run()
            check(results["deploy"].result == "success", f"preview {action}: deploy {results['deploy'].result} at {results['deploy'].failed_step!r}")
            check(results["destroy"].result == "skipped", f"preview {action}: destroy ran")
            url = results["deploy"].outputs.get("__environment_url", "")
            check(url.startswith("http"), f"preview {action}: the deployment's URL is {url!r}")
            releases.append(self.current_release(name))
        check(releases[0]["id"] != releases[1]["id"], "the update made no new release")
        check(releases[0]["persona_version"] != releases[1]["persona_version"], "the update did not deploy the edited persona")
        fork = {"pull_request": {"number": PREVIEW_NUMBER + 1, "head": {"repo": {"full_name": "someone/fork"}}}}
        results = self.runner("preview.yml", "pr-fork", {"event_name": "pull_request", "event": {"action": "opened", **fork}}).run()
        check(all(r.result == "skipped" for r in results.values()), "a fork's pull request got a preview")
        results = self.runner(
            "preview.yml", "pr-closed", {"event_name": "pull_request", "event": {"action": "closed", **same_repo}}
        ).run()
        check(results["destroy"].result == "success", f"preview closed: destroy {results['destroy'].result} at {results['destroy'].failed_step!r}")
        self.check_preview_gone(name)

    def check_preview_gone(self, name: str) -> None:
        admin = self._client_args(self.admin)
        stack = f"{self.project}-{name}"
        cfn = boto3.client("cloudformation", **admin)
        for stack_name in (stack, f"{stack}-data"):
            try:
                stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
                live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
                check(not live, f"{stack_name} is still there after the pull request closed")
            except ClientError:
                pass
        buckets = [b["Name"] for b in boto3.client("s3", **admin).list_buckets().get("Buckets", [])]
        left = [b for b in buckets if b.startswith(stack.lower())]
        check(not left, f"buckets left after the preview's destroy: {left}")
        secrets = boto3.client("secretsmanager", **admin).list_secrets().get("SecretList", [])
        left = [s["Name"] for s in secrets if s["Name"].startswith(f"{self.project}/{name}/")]
        check(not left, f"secrets left after the preview's destroy: {left}")
        groups = boto3.client("logs", **admin).describe_log_groups().get("logGroups", [])
        left = [g["logGroupName"] for g in groups if f"{self.project}-{name}-" in g["logGroupName"]]
        check(not left, f"log groups left after the preview's destroy: {left}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twinctl", required=True, type=Path)
    parser.add_argument("--endpoint", required=True, help="the IAM-enforcing emulator")
    parser.add_argument("--emulator-port", required=True)
    parser.add_argument("--dir", type=Path, default=ROOT / ".twin" / "rehearsal")
    parser.add_argument("--only", choices=["deploy", "preview"], help="run one part (development)")
    args = parser.parse_args()
    if args.dir.exists():
        shutil.rmtree(args.dir)
    args.dir.mkdir(parents=True)
    started = time.monotonic()
    rehearsal = Rehearsal(args.twinctl.resolve(), args.endpoint, args.emulator_port, args.dir)
    try:
        say(f"project {rehearsal.project} on {args.endpoint}; model stand-in at {rehearsal.model.base_url}")
        rehearsal.set_up()
        if args.only != "preview":
            rehearsal.good_push()
            rehearsal.failing_push()
            rehearsal.rollback_workflow()
            rehearsal.manual_promotion()
        if args.only != "deploy":
            rehearsal.preview()
    except (RehearsalFailed, wr.WorkflowError) as failure:
        say(f"FAILED: {failure}")
        return 1
    for line in rehearsal.checks:
        say(f"check published: {line}")
    say(f"passed in {time.monotonic() - started:.0f} s (model stand-in answered {rehearsal.model.requests} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
