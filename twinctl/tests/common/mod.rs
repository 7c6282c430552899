//! What the emulator tests share: a throwaway project driving the real `twinctl` binary, and
//! SDK clients pointed at the emulator to check what it did.
//!
//! Each test is its own project (its own bootstrap and environment stacks), so tests run in
//! parallel against one emulator. Bundles are assembled here instead of by `twinctl build`
//! (a release build per test would take minutes): the function zip holds a `bootstrap`
//! script that runs the workspace's debug `twin-runtime`, and each variant of the script is
//! a different code version.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn emulator_url() -> String {
    let port = std::env::var("TWIN_EMULATOR_PORT").unwrap_or_else(|_| "4566".to_owned());
    let url = format!("http://127.0.0.1:{port}");
    let address = format!("127.0.0.1:{port}");
    if std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(2)).is_err() {
        panic!("the AWS emulator is not running at {url}; start it with `scripts/emulator start` (scripts/test does)");
    }
    url
}

/// The workspace's debug `twin-runtime`, beside this test's own target directory (which
/// honours CARGO_TARGET_DIR): `<target>/debug/deps/<this test>` → `<target>/debug/twin-runtime`.
pub fn runtime_binary() -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let binary = test.parent().and_then(Path::parent).unwrap().join("twin-runtime");
    assert!(binary.is_file(), "{} is missing: build the workspace first (cargo build --workspace)", binary.display());
    binary.canonicalize().unwrap()
}

pub fn native_label() -> &'static str {
    if cfg!(target_arch = "aarch64") { "arm64" } else { "x86_64" }
}

pub struct Project {
    pub dir: tempfile::TempDir,
    /// The project's name (its stacks are `{name}-local`, `{name}-ci-local`, `{name}-bootstrap`).
    pub name: String,
}

/// Every AWS operation the project's twinctl runs called (`service:Operation` per line).
const OPERATIONS_LOG: &str = "aws-operations.log";

/// Each test's twinctl calls are checked against the declared IAM actions when its project
/// ends: an operation twinctl calls but does not declare would be denied to the CI role.
impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let log = std::fs::read_to_string(self.path().join(OPERATIONS_LOG)).unwrap_or_default();
        let undeclared: std::collections::BTreeSet<&str> = log
            .lines()
            .filter(|line| {
                let (service, operation) = line.split_once(':').unwrap_or((line, ""));
                twinctl::aws::permissions::lookup(service, operation).is_none()
            })
            .collect();
        assert!(
            undeclared.is_empty(),
            "twinctl called operations whose IAM actions twinctl/src/aws/permissions.rs does not declare: {undeclared:?}"
        );
    }
}

impl Project {
    pub fn new(site_files: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let root = workspace().canonicalize().unwrap();
        std::fs::write(dir.path().join("me.txt"), "I am the test twin.\nI exist to be deployed.\n").unwrap();
        let config = format!(
            "project: {name}\n\
             templates:\n  stack: {root}/templates/twin.yaml\n  data: {root}/templates/twin-data.yaml\n  bootstrap: {root}/templates/bootstrap.yaml\n  access: {root}/templates/environment-access.yaml\n\
             persona: me.txt\n\
             frontend:\n  directory: site\n  output: site\n\
             environments:\n  local:\n    region: us-east-1\n    architecture: native\n    parameters:\n      LlmProvider: offline\n\
             \x20 staging:\n    region: us-east-1\n    approval: true\n",
            root = root.display()
        );
        std::fs::write(dir.path().join("twinctl.yaml"), config).unwrap();
        let project = Self { dir, name };
        project.write_site(site_files);
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_site(&self, extra_files: usize) {
        let site = self.path().join("site");
        std::fs::create_dir_all(site.join("_next/static")).unwrap();
        std::fs::write(
            site.join("index.html"),
            "<!doctype html><title>twin</title><script src=\"/_next/static/app-1.js\"></script>",
        )
        .unwrap();
        std::fs::write(site.join("_next/static/app-1.js"), "console.log('twin')").unwrap();
        for n in 0..extra_files {
            std::fs::write(site.join(format!("_next/static/chunk-{n}.js")), format!("/* chunk {n} */")).unwrap();
        }
    }

    /// A bundle whose function runs the workspace's runtime; `variant` changes the code.
    pub fn bundle(&self, variant: &str, prelude: &str) -> PathBuf {
        let dir = self.path().join(format!("bundle-{variant}"));
        std::fs::create_dir_all(&dir).unwrap();
        let script =
            format!("#!/bin/sh\n# variant {variant}\n{prelude}\nexec \"{}\" \"$@\"\n", runtime_binary().display());
        let mut zip_bytes = Vec::new();
        {
            let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
            let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            writer.start_file("bootstrap", options).unwrap();
            writer.write_all(script.as_bytes()).unwrap();
            writer.finish().unwrap();
        }
        let digest = Sha256::digest(&zip_bytes);
        let zip_name = format!("function-{}.zip", &hex::encode(digest)[..16]);
        std::fs::write(dir.join(&zip_name), &zip_bytes).unwrap();
        let site = dir.join("site");
        let _ = std::fs::remove_dir_all(&site);
        copy_dir(&self.path().join("site"), &site);
        let files = walk(&site).len();
        let bundle = serde_json::json!({
            "fingerprint": format!("test-{variant}"),
            "architecture": native_label(),
            "function": {
                "zip": zip_name,
                "sha256": hex::encode(digest),
                "code_sha256": base64::engine::general_purpose::STANDARD.encode(digest),
                "bytes": zip_bytes.len(),
            },
            "site": {"dir": "site", "files": files, "bytes": 0},
        });
        std::fs::write(dir.join("bundle.json"), serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
        dir
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_twinctl"));
        command
            .args(args)
            .arg("--config")
            .arg(self.path().join("twinctl.yaml"))
            .current_dir(self.path())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TWINCTL_ENDPOINT_URL", emulator_url())
            .env(twinctl::aws::requests::RECORD_ENV, self.path().join(OPERATIONS_LOG))
            .env_remove("TWINCTL_OUTPUT");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs with `--output json`, asserting success; returns the result document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.run(&all);
        assert!(output.status.success(), "twinctl {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
    }

    pub fn deploy(&self, bundle: &Path) -> Value {
        self.json(&["deploy", "local", "--artifacts", bundle.to_str().unwrap()])
    }

    pub fn bootstrap(&self) -> String {
        let report = self.json(&["bootstrap", "local"]);
        report["outputs"]["ArtifactsBucketName"].as_str().unwrap().to_owned()
    }
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    twinctl::bundle::files(dir, twinctl::bundle::Walk::All, &[]).unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    for file in walk(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `f` with an SDK configuration pointed at the emulator (what a test checks behind twinctl).
pub fn with_emulator<T, F: std::future::Future<Output = T>>(f: impl FnOnce(aws_config::SdkConfig) -> F) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(emulator_url())
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await;
        f(sdk).await
    })
}

pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
}

/// What Lambda says the `live` alias runs.
pub fn live_environment(project: &Project) -> serde_json::Map<String, Value> {
    let status = project.json(&["status", "local"]);
    let function = status["outputs"]["FunctionName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let live = lambda.get_function_configuration().function_name(&function).qualifier("live").send().await.unwrap();
        let variables = live.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
        variables.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
    })
}

impl Project {
    /// Adds `line` (e.g. `retain_releases: 2`) to the local environment's configuration.
    pub fn configure_local(&self, line: &str) {
        let config = self.path().join("twinctl.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let changed =
            text.replacen("    architecture: native\n", &format!("    architecture: native\n    {line}\n"), 1);
        assert_ne!(text, changed);
        std::fs::write(&config, changed).unwrap();
    }
}

/// Puts a live lock of another holder (`actor` on `host`) on the local environment.
pub fn hold_lock_as(bucket: &str, actor: &str, host: &str) {
    let holder = serde_json::json!({
        "id": "other", "actor": actor, "host": host, "pid": 4242, "since": "2026-11-21T00:00:00Z",
        "git_sha": "abc123", "expires_at": (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339(),
    });
    let bucket = bucket.to_owned();
    with_emulator(|sdk| async move {
        s3_client(&sdk)
            .put_object()
            .bucket(&bucket)
            .key("locks/local.json")
            .body(aws_sdk_s3::primitives::ByteStream::from(holder.to_string().into_bytes()))
            .send()
            .await
            .unwrap();
    });
}

/// Starts `twinctl` with `args` and SIGKILLs it (no cleanup: its lock stays) once its stderr
/// shows `marker` and then `until()` holds (polled; at most 60 s); returns whether the marker
/// was seen.
pub fn kill_deploy_after(project: &Project, args: &[&str], marker: &str, until: impl Fn() -> bool) -> bool {
    let mut child =
        project.command(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let progress = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = false;
    for line in std::io::BufRead::lines(progress) {
        if line.unwrap().contains(marker) {
            seen = true;
            break;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen && !until() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

/// `twinctl serve local` on a free port, up and healthy; killed when dropped.
pub struct Served {
    child: std::process::Child,
    pub base: String,
}

impl Served {
    pub fn start(project: &Project) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = project
            .command(&[
                "serve",
                "local",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--https-listen",
                "127.0.0.1:0",
                "--redirect-listen",
                "127.0.0.1:0",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let served = Self { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while served.get("/api/health").map(|(status, _)| status) != Some(200) {
            assert!(std::time::Instant::now() < deadline, "serve did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        served
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    /// Status and body of a GET; None when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let url = format!("{}{path}", self.base);
        Self::block_on(async {
            let response = reqwest::Client::new().get(url).send().await.ok()?;
            Some((response.status().as_u16(), response.text().await.ok()?))
        })
    }

    /// POST /api/chat; the answer as JSON.
    pub fn chat(&self, message: &str, session_id: Option<&str>) -> Value {
        let url = format!("{}/api/chat", self.base);
        let body = serde_json::json!({"message": message, "session_id": session_id});
        Self::block_on(async {
            let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "chat answered {}", response.status());
            response.json().await.unwrap()
        })
    }

    /// GET /api/chat/history/{session_id} as JSON.
    pub fn history(&self, session_id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/chat/history/{session_id}")).unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Served {
    /// Sends SIGTERM and waits (at most 10 s) for serve to exit; its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// POST `path` with a JSON `body`; status and body.
    pub fn post_json(&self, path: &str, body: &str) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let body = body.to_owned();
        Self::block_on(async {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    }

    /// A GET's Cache-Control header and body.
    pub fn get_with_cache_control(&self, path: &str) -> (Option<String>, String) {
        let url = format!("{}{path}", self.base);
        Self::block_on(async {
            let response = reqwest::Client::new().get(url).send().await.unwrap();
            let cache_control = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            (cache_control, response.text().await.unwrap())
        })
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
