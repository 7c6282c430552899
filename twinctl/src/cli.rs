//! The command line: clap definitions only, no behaviour. Every argument's doc comment is its
//! `--help` text; every global flag also reads a `TWINCTL_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::OutputFormat;

/// Builds, deploys, verifies and rolls back the digital twin stack.
#[derive(Debug, Parser)]
#[command(name = "twinctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file.
    #[arg(long, global = true, env = "TWINCTL_CONFIG", default_value = "twinctl.yaml")]
    pub config: PathBuf,
    /// AWS profile (default: the SDK's usual lookup).
    #[arg(long, global = true, env = "TWINCTL_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (default: the environment's region in the configuration).
    #[arg(long, global = true, env = "TWINCTL_REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (default: the environment's endpoint_url, if any).
    #[arg(long, global = true, env = "TWINCTL_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Result format on stdout.
    #[arg(long, global = true, env = "TWINCTL_OUTPUT", value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Print only results and warnings.
    #[arg(short, long, global = true, env = "TWINCTL_QUIET", conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Answer yes to confirmations (required for approval-gated environments without a terminal).
    #[arg(long, global = true, env = "TWINCTL_YES")]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the function zip and the site into target/twin/ (skipped when inputs are unchanged).
    Build(BuildArgs),
    /// Deploy the bootstrap stacks: the account and region's artifacts bucket, the environment's roles.
    Bootstrap(EnvArgs),
    /// Show what a deploy would change: stack resources, function code, site files. Exit 3 if anything.
    Diff(DiffArgs),
    /// Build (or take --artifacts), then deploy stack, function, site and invalidation; record the release.
    Deploy(DeployArgs),
    /// Stack status, outputs, live version, last release, and drift from the current release (exit 3 with --check).
    Status(StatusArgs),
    /// The release history, newest first: the current one marked, each flagged restorable or not.
    Releases(ReleasesArgs),
    /// Restore a recorded release exactly: alias, site objects and persona by version. Default: the previous release.
    Rollback(RollbackArgs),
    /// Estimate the environment's cost from its template and a dated price table: monthly, per 1,000 chats.
    Cost(CostArgs),
    /// Serve what is deployed to the local environment: site from the emulator, /api/* to the runtime.
    Serve(ServeArgs),
    /// Set or inspect the model's API key in the environment's secret (never echoed, never logged).
    Secrets(SecretsArgs),
    /// The function's log lines from CloudWatch Logs (locally, the emulator's): by time, request, level or text.
    Logs(LogsArgs),
    /// Run the test plans (testplans/*.yaml) against the environment: table, --junit FILE, exit 1 on a failure.
    Verify(VerifyArgs),
    /// Check the test plans without running them, or render testplans/README.md from them.
    Testplans(TestplansArgs),
    /// Delete the environment's stack; keep its conversations, key and secret (a deploy reattaches them) unless --delete-data.
    Destroy(DestroyArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Environment name from the configuration (local, staging, production…).
    pub env: String,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build for this environment's architecture (default: the runtime's configured one).
    #[arg(long)]
    pub env: Option<String>,
    /// Build even if the inputs are unchanged.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// Compare a bundle built earlier instead of building.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// Deploy a bundle built earlier (a target/twin/<arch> directory) instead of building.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// With --artifacts: refuse to deploy unless the bundle's digest (as `twinctl build` reports it)
    /// is exactly this.
    #[arg(long, value_name = "SHA256", requires = "artifacts")]
    pub bundle_digest: Option<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
    /// Give a new version TRAFFIC of the alias for WINDOW before promoting it, e.g. 10%:5m (default: the environment's `canary`).
    #[arg(long, value_name = "TRAFFIC:WINDOW", conflicts_with = "no_canary")]
    pub canary: Option<String>,
    /// Send all traffic to a new version at once, even where the environment configures a canary.
    #[arg(long)]
    pub no_canary: bool,
    /// On an approval-gated environment, accept a template that broadens IAM access (`--yes` does not).
    #[arg(long)]
    pub approve_iam_broadening: bool,
    /// Run the environment's test plans after the deploy; when they fail, the release is recorded as
    /// failed and the release current before is restored (exit 1).
    #[arg(long)]
    pub verify: bool,
    /// With --verify: also write the results as JUnit XML.
    #[arg(long, value_name = "FILE", requires = "verify")]
    pub junit: Option<PathBuf>,
}

/// What every command that changes an environment (deploy, rollback) takes: the lock, the
/// CloudFront wait, the parallelism of S3 writes.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Take over a stale environment lock left by a crashed command first.
    #[arg(long)]
    pub force_unlock: bool,
    /// Do not wait for the CloudFront invalidation to complete.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the CloudFront invalidation; past that it is a warning, not a failure.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub invalidation_wait: u64,
    /// Parallel writes to the site bucket.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
}

impl ChangeArgs {
    /// How long to wait for an invalidation (zero: not at all).
    pub fn invalidation_wait(&self) -> std::time::Duration {
        if self.no_wait { std::time::Duration::ZERO } else { std::time::Duration::from_secs(self.invalidation_wait) }
    }
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// Show this release in full instead of the list.
    pub id: Option<String>,
    /// Show at most this many releases.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// The release to restore (forward or back); default: the one current before the current one.
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
    /// Also redeploy the release's template and parameters (a change set); default: infrastructure stays.
    #[arg(long)]
    pub infra: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Environment name from the configuration (local, staging, production…).
    pub env: String,
    /// Also run CloudFormation's drift detection on the stack's resources (minutes on AWS; it reads
    /// every resource with your credentials, more than the CI roles hold).
    #[arg(long)]
    pub drift: bool,
    /// Exit 3 when anything drifted from the current release (for scheduled CI checks).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Environment name from the configuration (`local` tests what `twinctl serve local` serves).
    pub env: String,
    /// Run only these plans (by id; repeatable). Default: every plan for the environment.
    #[arg(long = "plan", value_name = "ID")]
    pub plans: Vec<String>,
    /// Also write the results as JUnit XML (one testcase per step).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestplansArgs {
    #[command(subcommand)]
    pub action: TestplansAction,
}

#[derive(Debug, Subcommand)]
pub enum TestplansAction {
    /// Load and validate every plan; errors name file:line:column.
    Check,
    /// Write testplans/README.md from the plans (--check: exit 1 if it is stale, write nothing).
    Docs(TestplansDocsArgs),
}

#[derive(Debug, Args)]
pub struct TestplansDocsArgs {
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// Repeat the environment's name: an approval-gated environment needs it with --yes.
    #[arg(long, value_name = "ENV")]
    pub env_name_confirm: Option<String>,
    /// Also delete the memory bucket (every conversation), the secret (no recovery window) and the
    /// log groups, and schedule the key's deletion (7 days). Asks a second time.
    #[arg(long)]
    pub delete_data: bool,
    /// Keep the release history (`twinctl releases` lists it after the destroy).
    #[arg(long)]
    pub keep_history: bool,
    /// Turn termination protection off where it is on; without it a protected stack is refused.
    #[arg(long)]
    pub disable_termination_protection: bool,
    /// Take over a stale environment lock left by a crashed command first.
    #[arg(long)]
    pub force_unlock: bool,
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub action: SecretsAction,
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Store the model's API key: read from standard input when it is not a terminal, else from a
    /// hidden prompt. Never taken from the command line (argv is visible to other processes).
    Set(EnvArgs),
    /// Whether a key is set and when it last changed; never the key.
    Status(EnvArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Environment to serve (only `local` is served from the emulator).
    #[arg(default_value = "local")]
    pub env: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: std::net::SocketAddr,
    /// Address of the HTTPS listener: the same site and API over TLS, with a certificate of the local CA
    /// in .twin/tls/ and Strict-Transport-Security, as CloudFront serves them (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:3443")]
    pub https_listen: std::net::SocketAddr,
    /// Address of a plain-HTTP listener that answers as CloudFront does: site paths redirected to HTTPS
    /// (308), /api/* refused (403) (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:3080")]
    pub redirect_listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate completions for.
    pub shell: clap_complete::Shell,
}

// The assumptions of `cost`; their defaults are `crate::cost::DEFAULTS`, which says why each.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Environment name from the configuration (its region picks the price table).
    pub env: String,
    /// Chats to price (the total is also given per 1,000 chats).
    #[arg(long, default_value_t = crate::cost::DEFAULTS.chats)]
    pub chats: u64,
    /// Billed duration of one chat in ms: the function waits for the model's whole reply (configured, not measured).
    #[arg(long, value_name = "MS", default_value_t = crate::cost::DEFAULTS.duration_ms)]
    pub duration_ms: f64,
    /// Chats per visit; each visit loads the site once.
    #[arg(long, value_name = "N", default_value_t = crate::cost::DEFAULTS.chats_per_session)]
    pub chats_per_session: f64,
    /// Requests of one load of the site (index.html, 7 scripts, stylesheet, icon, config.json).
    #[arg(long, value_name = "N", default_value_t = crate::cost::DEFAULTS.page_requests)]
    pub page_requests: f64,
    /// Kilobytes CloudFront sends for one load of the site (compressed).
    #[arg(long, value_name = "KB", default_value_t = crate::cost::DEFAULTS.page_kb)]
    pub page_kb: f64,
    /// Kilobytes of one chat request (CloudFront forwards it to the API).
    #[arg(long, value_name = "KB", default_value_t = crate::cost::DEFAULTS.request_kb)]
    pub request_kb: f64,
    /// Kilobytes of one streamed reply.
    #[arg(long, value_name = "KB", default_value_t = crate::cost::DEFAULTS.response_kb)]
    pub response_kb: f64,
    /// Log bytes one chat writes: the function's three lines, Lambda's three and the API's access line.
    #[arg(long, value_name = "BYTES", default_value_t = crate::cost::DEFAULTS.log_bytes)]
    pub log_bytes: f64,
    /// Function instances started (or caches refilled) per 1,000 chats; each reads the persona and its secrets.
    #[arg(long, value_name = "N", default_value_t = crate::cost::DEFAULTS.cold_starts_per_1000_chats)]
    pub cold_starts: f64,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Environment name from the configuration.
    pub env: String,
    /// Events from this long ago (15m, 2h, 1d) or from this time (2026-01-02T10:00:00Z; UTC without an offset).
    #[arg(long, value_name = "DURATION|TIME", default_value = "1h")]
    pub since: String,
    /// Keep printing new events as they arrive (polls every 2 s) until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the lines of the request with this correlation id (the x-correlation-id header), across its retries.
    #[arg(long, value_name = "ID")]
    pub correlation_id: Option<String>,
    /// Only lines of this level or more severe (lines without a level are left out).
    #[arg(long, value_enum)]
    pub level: Option<crate::logs::Level>,
    /// Only lines whose raw text contains TEXT (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
}
