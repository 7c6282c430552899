"""A small GitHub Actions job runner for scripts/rehearse-pipeline: it reads a workflow file and runs
its jobs in `needs` order on this machine, the way a runner would, as far as the rehearsal needs.

What it does as GitHub does:
- jobs in dependency order; a job whose `needs` did not all succeed is skipped; job and step `if:`
  are evaluated (`success()`, `failure()`, `always()`, `cancelled()`, `==`, `!=`, `&&`, `||`, `!`);
- `${{ }}` expressions over `github`, `inputs`, `vars`, `secrets`, `env`, `needs.<job>.outputs`,
  `steps.<id>.outputs` (any other context, function or operator is an error, never a guess);
- `run:` steps under `bash --noprofile --norc -eo pipefail`, with `GITHUB_OUTPUT`, `GITHUB_PATH`,
  `GITHUB_ENV` and `GITHUB_STEP_SUMMARY` files read back after each step, and workflow, job and
  step `env:`; the job's `outputs:` evaluated after its steps.

What it leaves to the caller: every `uses:` step, and `run:` steps the caller stands in for by name
(a stand-in is a Python function). A `uses:` step or a named step without a stand-in is an error, so
a workflow change the rehearsal does not know about fails it instead of going unrehearsed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml


class WorkflowError(Exception):
    """The workflow uses something this runner cannot do faithfully."""


# ---------------------------------------------------------------------------------------------
# Expressions


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_*][A-Za-z0-9_-]*)*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    text = text.strip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match or match.end() == at:
            raise WorkflowError(f"cannot read expression {text!r} at {text[at:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        at = match.end()
        while at < len(text) and text[at].isspace():
            at += 1
    return out


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


class Expression:
    """One `${{ }}` expression, evaluated against a context dict and a job status."""

    FUNCTIONS = ("success", "failure", "always", "cancelled")

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def evaluate(self, context: dict[str, Any], status: str) -> Any:
        self.context, self.status, self.at = context, status, 0
        value = self._or()
        if self.at != len(self.tokens):
            raise WorkflowError(f"cannot evaluate {self.text!r}: unexpected {self.tokens[self.at][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            value = right if truthy(value) else value
        return value

    def _compare(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._unary()
            same = str(value).lower() == str(right).lower() if isinstance(value, str) or isinstance(right, str) else value == right
            value = same if op == "==" else not same
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            if self._take()[1] != ")":
                raise WorkflowError(f"cannot evaluate {self.text!r}: missing ')'")
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return int(text)
        if kind == "name":
            if self._peek() == "(":
                if text not in self.FUNCTIONS:
                    raise WorkflowError(f"cannot evaluate {self.text!r}: the runner has no function {text}()")
                self._take()
                if self._take()[1] != ")":
                    raise WorkflowError(f"cannot evaluate {self.text!r}: {text}() takes no arguments here")
                return {
                    "success": self.status == "success",
                    "failure": self.status == "failure",
                    "always": True,
                    "cancelled": False,
                }[text]
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            return self._lookup(text)
        raise WorkflowError(f"cannot evaluate {self.text!r}: unexpected {text!r}")

    def _lookup(self, path: str) -> Any:
        parts = path.split(".")
        if parts[0] not in self.context:
            raise WorkflowError(f"cannot evaluate {self.text!r}: the runner has no context {parts[0]!r}")
        value: Any = self.context
        for part in parts:
            value = value.get(part) if isinstance(value, dict) else None
        return value


_INTERPOLATION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def interpolate(text: Any, context: dict[str, Any], status: str = "success") -> Any:
    if not isinstance(text, str):
        return text
    whole = _INTERPOLATION.fullmatch(text.strip())
    if whole:
        return Expression(whole.group(1)).evaluate(context, status)
    return _INTERPOLATION.sub(lambda m: render(Expression(m.group(1)).evaluate(context, status)), text)


def condition(text: Any, context: dict[str, Any], status: str) -> bool:
    """An `if:`: an expression with or without `${{ }}`; absent means `success()`."""
    if text is None:
        return status == "success"
    if isinstance(text, bool):
        return text
    text = str(text).strip()
    whole = _INTERPOLATION.fullmatch(text)
    expression = whole.group(1) if whole else text
    if not re.search(r"\b(success|failure|always|cancelled)\(\)", expression):
        expression = f"success() && ({expression})"
    return truthy(Expression(expression).evaluate(context, status))


# ---------------------------------------------------------------------------------------------
# Jobs and steps


@dataclass
class Step:
    job: str
    index: int
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.spec.get("uses") or self.spec.get("id") or f"step {self.index + 1}")

    @property
    def uses(self) -> str | None:
        uses = self.spec.get("uses")
        return str(uses).split("@", 1)[0] if uses else None


@dataclass
class JobRun:
    """A job being run: what stand-ins may read and change."""

    name: str
    spec: dict[str, Any]
    workspace: Path
    environment: str | None
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "success"
    log: list[str] = field(default_factory=list)


StandIn = Callable[[JobRun, Step, dict[str, Any]], None]


@dataclass
class JobResult:
    name: str
    result: str  # success, failure, skipped
    outputs: dict[str, str]
    environment: str | None
    failed_step: str | None = None


class StepFailed(Exception):
    pass


class Runner:
    """Runs one workflow file's jobs for one event."""

    def __init__(
        self,
        workflow: Path,
        github: dict[str, Any],
        *,
        variables: Callable[[str | None], dict[str, str]],
        secrets: dict[str, str],
        inputs: dict[str, Any] | None = None,
        uses: dict[str, StandIn],
        named: dict[str, StandIn],
        workspace: Callable[[str], Path],
        base_env: dict[str, str],
        echo: Callable[[str], None] = print,
    ):
        self.path = workflow
        self.workflow = yaml.safe_load(workflow.read_text())
        self.github = github
        self.variables = variables
        self.secrets = secrets
        self.inputs = inputs or {}
        self.uses = uses
        self.named = named
        self.workspace = workspace
        self.base_env = base_env
        self.echo = echo

    def order(self) -> list[str]:
        jobs = self.workflow["jobs"]
        done: list[str] = []
        pending = list(jobs)
        while pending:
            ready = [j for j in pending if all(n in done for n in _needs(jobs[j]))]
            if not ready:
                raise WorkflowError(f"{self.path}: jobs {pending} need each other or a job that does not exist")
            done.append(ready[0])
            pending.remove(ready[0])
        return done

    def run(self) -> dict[str, JobResult]:
        results: dict[str, JobResult] = {}
        for name in self.order():
            results[name] = self._job(name, self.workflow["jobs"][name], results)
        return results

    def _context(self, results: dict[str, JobResult], job: JobRun | None, environment: str | None) -> dict[str, Any]:
        return {
            "github": self.github,
            "inputs": self.inputs,
            "vars": self.variables(environment),
            "secrets": self.secrets,
            "env": dict(job.env) if job else {},
            "needs": {n: {"result": r.result, "outputs": r.outputs} for n, r in results.items()},
            "steps": job.steps if job else {},
        }

    def _job(self, name: str, spec: dict[str, Any], results: dict[str, JobResult]) -> JobResult:
        needs = _needs(spec)
        status = "success" if all(results[n].result == "success" for n in needs) else "failure"
        context = self._context({n: results[n] for n in needs}, None, None)
        if not condition(spec.get("if"), context, status):
            self.echo(f"job {name}: skipped")
            return JobResult(name, "skipped", {}, None)
        environment = spec.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        environment = render(interpolate(environment, context)) if environment else None
        run = JobRun(name, spec, self.workspace(name), environment)
        run.env = {k: render(interpolate(v, context)) for k, v in (self.workflow.get("env") or {}).items()}
        context = self._context({n: results[n] for n in needs}, run, environment)
        run.env.update({k: render(interpolate(v, context)) for k, v in (spec.get("env") or {}).items()})
        self.echo(f"job {name}" + (f" (environment {environment})" if environment else ""))
        failed_step = None
        for index, step_spec in enumerate(spec.get("steps") or []):
            step = Step(name, index, step_spec)
            context = self._context({n: results[n] for n in needs}, run, environment)
            if not condition(step_spec.get("if"), context, run.status):
                self.echo(f"  - {step.name}: skipped")
                continue
            try:
                self._step(run, step, context)
                self.echo(f"  - {step.name}: ok")
            except StepFailed as failure:
                self.echo(f"  - {step.name}: FAILED ({failure})")
                run.status = "failure"
                failed_step = failed_step or step.name
        context = self._context({n: results[n] for n in needs}, run, environment)
        outputs = {k: render(interpolate(v, context)) for k, v in (spec.get("outputs") or {}).items()}
        if environment and isinstance(spec.get("environment"), dict) and spec["environment"].get("url"):
            outputs["__environment_url"] = render(interpolate(spec["environment"]["url"], context))
        self.echo(f"job {name}: {run.status}")
        return JobResult(name, run.status, outputs, environment, failed_step)

    def _step(self, run: JobRun, step: Step, context: dict[str, Any]) -> None:
        step_id = step.spec.get("id")
        if step.uses:
            stand_in = self.uses.get(step.uses)
            if stand_in is None:
                raise WorkflowError(f"{self.path}: job {run.name} uses {step.uses}, which the rehearsal cannot stand in for")
            stand_in(run, step, context)
            return
        if "run" not in step.spec:
            raise WorkflowError(f"{self.path}: job {run.name} step {step.name!r} has neither uses nor run")
        stand_in = self.named.get(step.name)
        if stand_in is not None:
            stand_in(run, step, context)
            return
        env = dict(run.env)
        env.update({k: render(interpolate(v, context)) for k, v in (step.spec.get("env") or {}).items()})
        script = interpolate(step.spec["run"], context)
        outputs = self.run_script(run, script, env)
        if step_id:
            run.steps[step_id] = {"outputs": outputs, "outcome": "success"}

    def run_script(self, run: JobRun, script: str, env: dict[str, str]) -> dict[str, str]:
        with tempfile.TemporaryDirectory(prefix="gh-step-") as files:
            files_dir = Path(files)
            paths = {n: files_dir / n for n in ("output", "path", "env", "summary")}
            for p in paths.values():
                p.touch()
            process_env = dict(self.base_env)
            process_env.update(env)
            process_env["PATH"] = os.pathsep.join([*reversed(run.path), process_env.get("PATH", "")])
            process_env.update(
                GITHUB_OUTPUT=str(paths["output"]),
                GITHUB_PATH=str(paths["path"]),
                GITHUB_ENV=str(paths["env"]),
                GITHUB_STEP_SUMMARY=str(paths["summary"]),
                GITHUB_WORKSPACE=str(run.workspace),
                GITHUB_ACTIONS="true",
                CI="true",
            )
            script_file = files_dir / "step.sh"
            script_file.write_text(script)
            completed = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                cwd=run.workspace,
                env=process_env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            outputs = _key_values(paths["output"].read_text())
            run.path.extend(line for line in paths["path"].read_text().splitlines() if line.strip())
            run.env.update(_key_values(paths["env"].read_text()))
            if completed.returncode != 0:
                raise StepFailed(f"exit {completed.returncode}")
            return outputs


def _needs(spec: dict[str, Any]) -> list[str]:
    needs = spec.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` … `DELIM` blocks."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            block = []
            while at < len(lines) and lines[at] != delimiter:
                block.append(lines[at])
                at += 1
            at += 1
            values[key] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values
