//! `twinctl.yaml`: the project's deployment configuration.
//!
//! Owns: the file's shape (unknown keys are errors), its defaults, and error messages that
//! say file:line:column. Environments are looked up by name; an unknown one lists the known.
//! Preview environments (`previews:`, one per pull request) are named `{prefix}-{n}` and all made
//! from one template; their names, stacks and shared access stack are decided here.
//! Must not: touch AWS or the file system beyond reading the one file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Prefix of stack and resource names (the templates' ProjectName).
    pub project: String,
    #[serde(default)]
    pub templates: Templates,
    #[serde(default)]
    pub runtime: Runtime,
    pub frontend: Option<Frontend>,
    /// The persona file uploaded to the memory bucket.
    #[serde(default = "default_persona")]
    pub persona: PathBuf,
    /// The test plans `twinctl verify` runs (`*.yaml`; fragments in a subdirectory).
    #[serde(default = "default_testplans")]
    pub testplans: PathBuf,
    pub environments: BTreeMap<String, Environment>,
    /// Preview environments, one per pull request (`{prefix}-{n}`), all made from one template.
    pub previews: Option<Previews>,
    /// Who may deploy from CI: the GitHub repository, its environments, the OIDC provider.
    #[serde(default)]
    pub bootstrap: Bootstrap,
    /// Where the file was read from (not in the YAML).
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_testplans() -> PathBuf {
    PathBuf::from("testplans")
}

fn default_persona() -> PathBuf {
    PathBuf::from("persona/me.txt")
}

/// `bootstrap:`: what `twinctl bootstrap` sets up for CI. Anything left out keeps what the
/// stacks already have (a rerun never removes CI access).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bootstrap {
    /// `owner/repo` whose GitHub environments of the same names may deploy.
    pub github_repository: Option<String>,
    /// The environments CI may deploy: each gets a deploy role trusted only for
    /// `repo:OWNER/REPO:environment:NAME`. The previews' prefix (e.g. `pr`) names the one deploy
    /// role every preview shares.
    #[serde(default)]
    pub ci_environments: Vec<String>,
    /// An existing `token.actions.githubusercontent.com` provider (an account holds one; every
    /// other region or project of the account names it here).
    pub oidc_provider_arn: Option<String>,
}

/// `previews:`: environments made on demand, one per pull request, named `{prefix}-{n}` (n: the
/// pull request's number) and destroyed when it closes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Previews {
    /// The names' prefix: `pr` makes `pr-42`. At most 7 characters, so that a name with 8 digits
    /// fits an environment name's 16; their shared access stack is `{project}-ci-{prefix}`.
    pub prefix: String,
    /// What every preview is (region, parameters, ...); never `approval` nor `stack_name` (a
    /// preview's stack is `{project}-{prefix}-{n}`).
    pub environment: Environment,
}

/// What one access stack (templates/environment-access.yaml) covers: one environment, or every
/// preview. Its fields are the stack's parameters of the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessScope {
    /// `EnvironmentName`: the environment's name, or the previews' prefix (the name of the GitHub
    /// environment its deploy role trusts, and the access stack's suffix).
    pub name: String,
    /// `Environments`: the environment's name, or `{prefix}-*` (every preview).
    pub environments: String,
    /// `TwinStackName`: the environment's stack, or `{project}-{prefix}-*` (every preview's).
    pub stacks: String,
    /// The previews' shared access stack, whose deploy role may also destroy
    /// (`aws::permissions::DESTROY`).
    pub previews: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    #[serde(default = "default_stack_template")]
    pub stack: PathBuf,
    /// The environment's data (`{stack}-data`): memory bucket, key, secret, log groups. Deployed
    /// before the stack, kept by `twinctl destroy` so that the next deploy reattaches it.
    #[serde(default = "default_data_template")]
    pub data: PathBuf,
    #[serde(default = "default_bootstrap_template")]
    pub bootstrap: PathBuf,
    /// Each environment's CI roles (`{project}-ci-{environment}`).
    #[serde(default = "default_access_template")]
    pub access: PathBuf,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            stack: default_stack_template(),
            data: default_data_template(),
            bootstrap: default_bootstrap_template(),
            access: default_access_template(),
        }
    }
}

fn default_access_template() -> PathBuf {
    PathBuf::from("templates/environment-access.yaml")
}

fn default_stack_template() -> PathBuf {
    PathBuf::from("templates/twin.yaml")
}

fn default_data_template() -> PathBuf {
    PathBuf::from("templates/twin-data.yaml")
}

fn default_bootstrap_template() -> PathBuf {
    PathBuf::from("templates/bootstrap.yaml")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Arm64,
    X86_64,
    /// This machine's architecture: the local environment runs the function here.
    Native,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Cargo package of the function.
    #[serde(default = "default_package")]
    pub package: String,
    /// Binary name inside the package.
    #[serde(default = "default_package")]
    pub binary: String,
    /// Architecture for environments that do not set their own.
    #[serde(default = "default_architecture")]
    pub architecture: Architecture,
}

impl Default for Runtime {
    fn default() -> Self {
        Self { package: default_package(), binary: default_package(), architecture: default_architecture() }
    }
}

fn default_package() -> String {
    "twin-runtime".to_owned()
}

fn default_architecture() -> Architecture {
    Architecture::Arm64
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frontend {
    /// Where the frontend's sources live.
    pub directory: PathBuf,
    /// Commands run in `directory` to build the site, in order (argv form, no shell).
    #[serde(default)]
    pub build: Vec<Vec<String>>,
    /// The built site, uploaded as is.
    pub output: PathBuf,
    /// Cache-Control by glob over site paths; the first match wins.
    #[serde(default)]
    pub cache: Vec<CacheRule>,
    /// Runtime configuration file written per environment (served at `/<name>`).
    #[serde(default = "default_runtime_config")]
    pub runtime_config: String,
}

fn default_runtime_config() -> String {
    "config.json".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    pub glob: String,
    pub cache_control: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub region: String,
    /// The environment's stack; default `{project}-{environment}`.
    pub stack_name: Option<String>,
    /// The bootstrap stack; default `{project}-bootstrap`.
    pub bootstrap_stack_name: Option<String>,
    /// An AWS-compatible endpoint (the local emulator).
    pub endpoint_url: Option<String>,
    pub architecture: Option<Architecture>,
    /// Template parameters of the environment's stack.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Ask before deploying (or require --yes).
    #[serde(default)]
    pub approval: bool,
    /// How many of the newest succeeded releases stay restorable: their function versions,
    /// object versions, zips and templates are never pruned (2–100: the current release and the
    /// one rollback returns to; S3 keeps at most 100 newer noncurrent versions by rule).
    #[serde(default = "default_retain_releases")]
    pub retain_releases: u32,
    /// Deploy new versions as a canary first (`deploy --canary` overrides, `--no-canary` skips).
    pub canary: Option<CanaryConfig>,
}

/// `canary:` of an environment: `{traffic: 10%, window: 5m, min_requests: 20, probe_every: 2s}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Share of the alias's traffic the new version gets, e.g. `10%`.
    pub traffic: String,
    /// How long it gets it before promotion, e.g. `5m`.
    pub window: String,
    /// Requests that must reach the new version without error before it is promoted.
    pub min_requests: Option<u64>,
    /// Interval of the synthetic probes sent to the alias during the window.
    pub probe_every: Option<String>,
}

fn default_retain_releases() -> u32 {
    10
}

/// The longest stack name whose memory bucket keeps its whole name (see
/// [`Config::validate_stack_name_length`]): 63 - len("-data-memorybucket-") - 12.
pub const MAX_STACK_NAME: usize = 63 - 19 - 12;

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::user(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        let mut config: Config = serde_yaml::from_str(text).map_err(|e| {
            let place = match e.location() {
                Some(at) => format!("{}:{}:{}", path.display(), at.line(), at.column()),
                None => path.display().to_string(),
            };
            Error::user(format!("{place}: {}", strip_location(&e.to_string())))
        })?;
        config.path = path.to_owned();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), Error> {
        if !valid_name(&self.project) {
            return Err(Error::user(format!(
                "{}: project {:?} must be lowercase letters, digits and '-'",
                self.path.display(),
                self.project
            )));
        }
        if self.environments.is_empty() {
            return Err(Error::user(format!("{}: no environments defined", self.path.display())));
        }
        for name in self.environments.keys() {
            // `{project}-ci-*` names the CI roles and stacks; an environment "ci" would share it.
            if !valid_name(name) || name.len() > 16 || name == "ci" {
                return Err(Error::user(format!(
                    "{}: environment name {name:?} must be 1-16 lowercase letters, digits and '-', and not \"ci\"",
                    self.path.display()
                )));
            }
        }
        self.validate_previews()?;
        self.validate_bootstrap()?;
        // An environment's stack must not be another's data stack (`{stack}-data`): destroying one
        // would delete the other.
        for (name, environment) in &self.environments {
            let stack = self.stack_name(name, environment);
            for (other, other_environment) in &self.environments {
                if stack == self.data_stack_name(other, other_environment) {
                    return Err(Error::user(format!(
                        "{}: environment {name:?}'s stack {stack:?} is environment {other:?}'s data stack; rename one",
                        self.path.display()
                    )));
                }
            }
        }
        for (name, environment) in &self.environments {
            self.validate_environment(&format!("environments.{name}"), environment)?;
            self.validate_stack_name_length(&format!("environments.{name}"), &self.stack_name(name, environment))?;
        }
        if let Some(previews) = &self.previews {
            self.validate_environment("previews.environment", &previews.environment)?;
            let longest = format!("{}-{}-{}", self.project, previews.prefix, "9".repeat(8));
            self.validate_stack_name_length("previews", &longest)?;
        }
        if let Some(frontend) = &self.frontend {
            for rule in &frontend.cache {
                globset::Glob::new(&rule.glob).map_err(|e| {
                    Error::user(format!("{}: frontend cache glob {:?}: {e}", self.path.display(), rule.glob))
                })?;
            }
        }
        Ok(())
    }

    /// CloudFormation names the memory bucket `{stack}-data-memorybucket-<12 characters>` and
    /// shortens the stack part when that exceeds S3's 63 characters; the roles' grants name the
    /// bucket by `{stack}-data-memorybucket-*`, so a longer stack name would lock its own deploy
    /// role out of its memory.
    fn validate_stack_name_length(&self, place: &str, stack: &str) -> Result<(), Error> {
        if stack.len() > MAX_STACK_NAME {
            return Err(Error::user(format!(
                "{}: {place}: stack name {stack:?} is {} characters; at most {MAX_STACK_NAME} keep the memory \
                 bucket's generated name ({stack}-data-memorybucket-<12 characters>) within S3's 63, which the \
                 roles' grants rely on; shorten the project or the environment name",
                self.path.display(),
                stack.len()
            )));
        }
        Ok(())
    }

    /// One environment's settings; `place` is its key in the file (`environments.staging`).
    fn validate_environment(&self, place: &str, environment: &Environment) -> Result<(), Error> {
        if let Some(canary) = &environment.canary {
            crate::canary::Settings::from_config(canary)
                .map_err(|e| Error::user(format!("{}: {place}.canary: {e}", self.path.display())))?;
        }
        // Two at least: the current release and the one `rollback` goes back to.
        if !(2..=100).contains(&environment.retain_releases) {
            return Err(Error::user(format!(
                "{}: {place}.retain_releases is {}; it must be between 2 and 100",
                self.path.display(),
                environment.retain_releases
            )));
        }
        Ok(())
    }

    fn validate_previews(&self) -> Result<(), Error> {
        let Some(previews) = &self.previews else { return Ok(()) };
        let file = self.path.display();
        let prefix = &previews.prefix;
        // `{prefix}-{n}` with n of up to 8 digits stays within an environment name's 16 characters.
        if !valid_name(prefix) || prefix.len() > 7 || prefix == "ci" {
            return Err(Error::user(format!(
                "{file}: previews.prefix {prefix:?} must be 1-7 lowercase letters, digits and '-', and not \"ci\""
            )));
        }
        let (preview_names, preview_stacks) = (format!("{prefix}-"), format!("{}-{prefix}-", self.project));
        for (name, environment) in &self.environments {
            if name == prefix {
                return Err(Error::user(format!(
                    "{file}: environment {name:?} is named like previews.prefix: the previews' access stack {} \
                     would be its access stack too; rename one",
                    self.access_stack_name(name)
                )));
            }
            // The previews' deploy role may deploy and destroy every `{prefix}-*` environment and
            // `{project}-{prefix}-*` stack, not only those named `{prefix}-{n}`.
            if name.starts_with(preview_names.as_str()) {
                return Err(Error::user(format!(
                    "{file}: environment {name:?} looks like a preview ({prefix}-<n>): the previews' deploy role \
                     could deploy and destroy it; rename it"
                )));
            }
            let stack = self.stack_name(name, environment);
            if stack.starts_with(preview_stacks.as_str()) {
                return Err(Error::user(format!(
                    "{file}: environment {name:?}'s stack {stack:?} looks like a preview's ({preview_stacks}<n>): \
                     the previews' deploy role could deploy and destroy it; rename it"
                )));
            }
        }
        if previews.environment.approval {
            return Err(Error::user(format!(
                "{file}: previews.environment.approval: previews are never approval-gated (CI deploys and \
                 destroys them unattended); remove it"
            )));
        }
        if previews.environment.stack_name.is_some() {
            return Err(Error::user(format!(
                "{file}: previews.environment.stack_name: a preview's stack is {preview_stacks}<n>; remove it"
            )));
        }
        Ok(())
    }

    fn validate_bootstrap(&self) -> Result<(), Error> {
        let place = format!("{}: bootstrap", self.path.display());
        if let Some(repository) = &self.bootstrap.github_repository {
            let valid_part = |part: &str| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            };
            if !repository.split_once('/').is_some_and(|(owner, repo)| valid_part(owner) && valid_part(repo)) {
                return Err(Error::user(format!("{place}.github_repository {repository:?} must be owner/repo")));
            }
        }
        // The previews' prefix names their (one) deploy role.
        let prefix = self.previews.as_ref().map(|previews| previews.prefix.as_str());
        for name in &self.bootstrap.ci_environments {
            if !self.environments.contains_key(name) && prefix != Some(name.as_str()) {
                let previews = prefix.map(|prefix| format!(" nor previews.prefix {prefix:?}")).unwrap_or_default();
                return Err(Error::user(format!(
                    "{place}.ci_environments names {name:?}, which is not an environment{previews}"
                )));
            }
        }
        if !self.bootstrap.ci_environments.is_empty() && self.bootstrap.github_repository.is_none() {
            return Err(Error::user(format!("{place}.ci_environments needs bootstrap.github_repository")));
        }
        if let Some(arn) = &self.bootstrap.oidc_provider_arn {
            let valid = arn.starts_with("arn:aws")
                && arn.ends_with(":oidc-provider/token.actions.githubusercontent.com")
                && arn.split(':').nth(4).is_some_and(|account| account.len() == 12);
            if !valid {
                return Err(Error::user(format!(
                    "{place}.oidc_provider_arn {arn:?} is not the ARN of a token.actions.githubusercontent.com provider"
                )));
            }
        }
        Ok(())
    }

    /// The named environment: a configured one, or the previews' template for a preview name;
    /// else an error listing the known ones.
    pub fn environment(&self, name: &str) -> Result<Environment, Error> {
        if let Some(environment) = self.environments.get(name) {
            return Ok(environment.clone());
        }
        if let Some(previews) = self.previews_of(name) {
            return Ok(previews.environment.clone());
        }
        let known: Vec<&str> = self.environments.keys().map(String::as_str).collect();
        let previews =
            self.previews.as_ref().map(|previews| format!("; previews: {}-<n>", previews.prefix)).unwrap_or_default();
        Err(Error::user(format!(
            "unknown environment {name:?} in {}; known: {}{previews}",
            self.path.display(),
            known.join(", ")
        )))
    }

    /// The pull request number of a preview name, `{prefix}-{n}` (n: 1 to 8 decimal digits, no
    /// leading zero; the name at most 16 characters); None for any other name, and without
    /// `previews:`.
    pub fn preview_number(&self, name: &str) -> Option<u64> {
        let previews = self.previews.as_ref()?;
        let digits = name.strip_prefix(previews.prefix.as_str())?.strip_prefix('-')?;
        let well_formed = (1..=8).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
            && name.len() <= 16;
        if well_formed { digits.parse().ok() } else { None }
    }

    /// Whether `name` is a preview's (`{prefix}-{n}`).
    pub fn is_preview(&self, name: &str) -> bool {
        self.preview_number(name).is_some()
    }

    /// The previews' section, when `name` is a preview's.
    fn previews_of(&self, name: &str) -> Option<&Previews> {
        self.previews.as_ref().filter(|_| self.is_preview(name))
    }

    pub fn stack_name(&self, name: &str, environment: &Environment) -> String {
        environment.stack_name.clone().unwrap_or_else(|| format!("{}-{name}", self.project))
    }

    /// The stack of the environment's data, which outlives the stack (`twinctl destroy`).
    pub fn data_stack_name(&self, name: &str, environment: &Environment) -> String {
        format!("{}-data", self.stack_name(name, environment))
    }

    pub fn bootstrap_stack_name(&self, environment: &Environment) -> String {
        environment.bootstrap_stack_name.clone().unwrap_or_else(|| format!("{}-bootstrap", self.project))
    }

    /// The stack of the environment's CI roles (templates/environment-access.yaml); every preview
    /// shares the previews' (`{project}-ci-{prefix}`).
    pub fn access_stack_name(&self, name: &str) -> String {
        match self.previews_of(name) {
            Some(previews) => format!("{}-ci-{}", self.project, previews.prefix),
            None => format!("{}-ci-{name}", self.project),
        }
    }

    /// What the environment's access stack covers: the environment, or every preview.
    pub fn access_scope(&self, name: &str, environment: &Environment) -> AccessScope {
        match self.previews_of(name) {
            Some(previews) => AccessScope {
                name: previews.prefix.clone(),
                environments: format!("{}-*", previews.prefix),
                stacks: format!("{}-{}-*", self.project, previews.prefix),
                previews: true,
            },
            None => AccessScope {
                name: name.to_owned(),
                environments: name.to_owned(),
                stacks: self.stack_name(name, environment),
                previews: false,
            },
        }
    }

    pub fn architecture(&self, environment: &Environment) -> Architecture {
        environment.architecture.unwrap_or(self.runtime.architecture)
    }

    /// Resolves a path from the file relative to the file's directory.
    pub fn resolve(&self, relative: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if relative.is_relative() => dir.join(relative),
            _ => relative.to_owned(),
        }
    }
}

/// Environment names, the project's and the previews' prefix: lowercase letters, digits and '-'.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// serde_yaml appends " at line L column C"; the location is already in front.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "project: twin\nenvironments:\n  local:\n    region: us-east-1\n  staging:\n    region: eu-west-1\n    approval: false\n";

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text, Path::new("twinctl.yaml"))
    }

    #[test]
    fn a_stack_name_that_would_shorten_the_memory_bucket_name_is_refused() {
        let text = |project: &str, environment: &str| {
            format!("project: {project}\nenvironments:\n  {environment}:\n    region: us-east-1\n")
        };
        // 32 characters: the longest that fits.
        Config::parse(&text(&"p".repeat(21), "abcdefghij"), Path::new("twinctl.yaml")).expect("32 fits");
        let message = Config::parse(&text(&"p".repeat(21), "abcdefghijk"), Path::new("twinctl.yaml"))
            .expect_err("33 is too long")
            .to_string();
        assert!(message.contains("environments.abcdefghijk: stack name"), "{message}");
        assert!(message.contains("33 characters; at most 32"), "{message}");
        let previews = format!(
            "{}previews:\n  prefix: pr\n  environment:\n    region: us-east-1\n",
            text(&"p".repeat(21), "staging")
        );
        let message =
            Config::parse(&previews, Path::new("twinctl.yaml")).expect_err("pr-<8 digits> too long").to_string();
        assert!(message.contains("previews: stack name"), "{message}");
    }

    #[test]
    fn defaults_fill_the_rest() {
        let config = parse(VALID).expect("valid");
        assert_eq!(config.templates.stack, PathBuf::from("templates/twin.yaml"));
        assert_eq!(config.runtime.package, "twin-runtime");
        let staging = config.environment("staging").expect("staging");
        assert_eq!(config.stack_name("staging", &staging), "twin-staging");
        assert_eq!(config.bootstrap_stack_name(&staging), "twin-bootstrap");
        assert_eq!(config.architecture(&staging), Architecture::Arm64);
        assert!(config.previews.is_none() && !config.is_preview("pr-1"));
    }

    #[test]
    fn unknown_keys_name_file_line_and_column() {
        let text = "project: twin\nenvironments:\n  local:\n    region: us-east-1\n    regoin: typo\n";
        let message = parse(text).expect_err("unknown key").to_string();
        assert!(message.starts_with("twinctl.yaml:5:5: "), "{message}");
        assert!(message.contains("unknown field `regoin`"), "{message}");
    }

    #[test]
    fn malformed_yaml_names_the_place() {
        let message = parse("project: twin\nenvironments: [\n").expect_err("malformed").to_string();
        assert!(message.starts_with("twinctl.yaml:"), "{message}");
        let place: Vec<&str> = message.splitn(4, ':').collect();
        assert!(place[1].parse::<u32>().is_ok() && place[2].parse::<u32>().is_ok(), "{message}");
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let config = parse(VALID).expect("valid");
        let message = config.environment("prod").expect_err("unknown").to_string();
        assert!(message.contains("unknown environment \"prod\""), "{message}");
        assert!(message.contains("known: local, staging"), "{message}");
        assert!(!message.contains("previews"), "no previews configured: {message}");
    }

    #[test]
    fn wrong_types_and_bad_names_are_user_errors() {
        let message = parse("project: twin\nenvironments:\n  local:\n    region: us-east-1\n    approval: maybe\n")
            .expect_err("bad bool")
            .to_string();
        assert!(message.starts_with("twinctl.yaml:5:15: "), "{message}");
        let message = parse("project: Twin_Project\nenvironments:\n  local:\n    region: x\n")
            .expect_err("bad project")
            .to_string();
        assert!(message.contains("lowercase"), "{message}");
    }

    #[test]
    fn an_environment_whose_stack_is_anothers_data_stack_is_refused() {
        let text =
            "project: twin\nenvironments:\n  local:\n    region: us-east-1\n  local-data:\n    region: us-east-1\n";
        let message = parse(text).expect_err("collision").to_string();
        assert!(message.contains("\"twin-local-data\" is environment \"local\"'s data stack"), "{message}");
        let config = parse(VALID).expect("valid");
        let local = config.environment("local").expect("local");
        assert_eq!(config.data_stack_name("local", &local), "twin-local-data");
    }

    #[test]
    fn bootstrap_section_is_checked_against_the_environments() {
        let config = parse(VALID).expect("valid");
        assert!(config.bootstrap.github_repository.is_none() && config.bootstrap.ci_environments.is_empty());
        assert_eq!(config.access_stack_name("staging"), "twin-ci-staging");
        let with = |section: &str| parse(&format!("{VALID}bootstrap:\n{section}"));
        let config = with("  github_repository: octo/twin\n  ci_environments: [staging]\n").expect("valid");
        assert_eq!(config.bootstrap.ci_environments, vec!["staging".to_owned()]);
        let message =
            with("  github_repository: octo/twin\n  ci_environments: [prod]\n").expect_err("unknown").to_string();
        assert!(message.contains("bootstrap.ci_environments names \"prod\""), "{message}");
        let message = with("  ci_environments: [staging]\n").expect_err("no repository").to_string();
        assert!(message.contains("needs bootstrap.github_repository"), "{message}");
        let message = with("  github_repository: octo\n").expect_err("not owner/repo").to_string();
        assert!(message.contains("must be owner/repo"), "{message}");
        let message =
            with("  oidc_provider_arn: arn:aws:iam::123:oidc-provider/example.com\n").expect_err("arn").to_string();
        assert!(message.contains("oidc_provider_arn"), "{message}");
        let message = with("  github_repo: octo/twin\n").expect_err("unknown key").to_string();
        assert!(message.contains("unknown field `github_repo`"), "{message}");
    }

    #[test]
    fn an_environment_named_ci_would_share_the_ci_roles_names() {
        let message = parse("project: twin\nenvironments:\n  ci:\n    region: x\n").expect_err("ci").to_string();
        assert!(message.contains("not \"ci\""), "{message}");
        assert!(parse("project: twin\nenvironments:\n  a-very-long-environment:\n    region: x\n").is_err());
    }

    #[test]
    fn releases_kept_default_to_ten_and_stay_within_what_s3_can_keep() {
        let config = parse(VALID).expect("valid");
        assert_eq!(config.environment("local").expect("local").retain_releases, 10);
        let message = parse("project: twin\nenvironments:\n  local:\n    region: x\n    retain_releases: 1\n")
            .expect_err("one")
            .to_string();
        assert!(message.contains("environments.local.retain_releases is 1"), "{message}");
        assert!(parse("project: twin\nenvironments:\n  local:\n    region: x\n    retain_releases: 101\n").is_err());
    }

    const PREVIEWS: &str =
        "previews:\n  prefix: pr\n  environment:\n    region: eu-west-2\n    parameters:\n      LlmProvider: bedrock\n";

    fn with_previews(extra: &str) -> Result<Config, Error> {
        parse(&format!("{VALID}{PREVIEWS}{extra}"))
    }

    #[test]
    fn a_preview_name_resolves_to_the_previews_template() {
        let config = with_previews("").expect("valid");
        let preview = config.environment("pr-42").expect("pr-42");
        assert_eq!(preview.region, "eu-west-2");
        assert_eq!(preview.parameters.get("LlmProvider").map(String::as_str), Some("bedrock"));
        assert!(!preview.approval);
        assert_eq!(config.preview_number("pr-42"), Some(42));
        assert_eq!(config.preview_number("pr-12345678"), Some(12_345_678));
        assert!(config.is_preview("pr-9") && !config.is_preview("staging"));
        let staging = config.environment("staging").expect("configured environments still resolve");
        assert_eq!(staging.region, "eu-west-1");
    }

    #[test]
    fn malformed_preview_names_are_unknown_environments() {
        let config = with_previews("").expect("valid");
        for name in ["pr-0", "pr-01", "pr-123456789", "pr-x", "pr-", "pr", "pr-+4", "pr-4-2", "qr-4"] {
            assert!(!config.is_preview(name), "{name}");
            let message = config.environment(name).expect_err(name).to_string();
            assert!(message.contains(&format!("unknown environment {name:?}")), "{message}");
            assert!(message.contains("known: local, staging; previews: pr-<n>"), "{message}");
        }
    }

    #[test]
    fn previews_share_one_access_stack_and_have_stacks_of_their_own() {
        let config = with_previews("").expect("valid");
        let preview = config.environment("pr-9").expect("pr-9");
        assert_eq!(config.stack_name("pr-9", &preview), "twin-pr-9");
        assert_eq!(config.data_stack_name("pr-9", &preview), "twin-pr-9-data");
        assert_eq!(config.access_stack_name("pr-9"), "twin-ci-pr");
        assert_eq!(config.access_stack_name("pr-10"), "twin-ci-pr");
        assert_eq!(config.access_stack_name("staging"), "twin-ci-staging");
        let scope = config.access_scope("pr-9", &preview);
        assert_eq!((scope.name.as_str(), scope.environments.as_str()), ("pr", "pr-*"));
        assert_eq!((scope.stacks.as_str(), scope.previews), ("twin-pr-*", true));
        let staging = config.environment("staging").expect("staging");
        let scope = config.access_scope("staging", &staging);
        assert_eq!((scope.name.as_str(), scope.environments.as_str()), ("staging", "staging"));
        assert_eq!((scope.stacks.as_str(), scope.previews), ("twin-staging", false));
    }

    #[test]
    fn an_environment_named_like_the_previews_is_refused_naming_it() {
        for name in ["pr", "pr-3", "pr-feature"] {
            let text = format!("{VALID}  {name}:\n    region: us-east-1\n{PREVIEWS}");
            let message = parse(&text).expect_err(name).to_string();
            assert!(message.starts_with("twinctl.yaml: "), "{message}");
            assert!(message.contains(&format!("environment {name:?}")), "{message}");
        }
        let text = format!("{VALID}  review:\n    region: us-east-1\n    stack_name: twin-pr-7\n{PREVIEWS}");
        let message = parse(&text).expect_err("a preview's stack").to_string();
        assert!(message.contains("environment \"review\"'s stack \"twin-pr-7\""), "{message}");
        assert!(parse(&format!("{VALID}  prod:\n    region: us-east-1\n{PREVIEWS}")).is_ok(), "prod is no preview");
    }

    #[test]
    fn the_previews_template_is_never_approval_gated_and_names_no_stack() {
        let template = |setting: &str| {
            parse(&format!("{VALID}previews:\n  prefix: pr\n  environment:\n    region: x\n    {setting}\n"))
        };
        let message = template("approval: true").expect_err("approval").to_string();
        assert!(message.contains("previews.environment.approval"), "{message}");
        let message = template("stack_name: twin-previews").expect_err("stack name").to_string();
        assert!(message.contains("previews.environment.stack_name"), "{message}");
        let message = template("retain_releases: 1").expect_err("retain").to_string();
        assert!(message.contains("previews.environment.retain_releases is 1"), "{message}");
        assert!(template("approval: false").is_ok());
        let message = parse(&format!("{VALID}previews:\n  prefix: pr\n  prefx: pr\n  environment:\n    region: x\n"))
            .expect_err("unknown key")
            .to_string();
        assert!(message.contains("unknown field `prefx`"), "{message}");
    }

    #[test]
    fn the_previews_prefix_is_a_short_environment_name_and_not_ci() {
        let with_prefix =
            |prefix: &str| parse(&format!("{VALID}previews:\n  prefix: {prefix}\n  environment:\n    region: x\n"));
        for bad in ["ci", "Pr", "previews", "pr_", "\"\""] {
            let message = with_prefix(bad).expect_err(bad).to_string();
            assert!(message.contains("previews.prefix"), "{bad}: {message}");
        }
        let config = with_prefix("review7").expect("7 characters");
        assert!(config.is_preview("review7-12345678"), "16 characters");
    }

    #[test]
    fn ci_environments_may_name_the_previews_prefix() {
        let ci = "bootstrap:\n  github_repository: octo/twin\n  ci_environments: [staging, pr]\n";
        let config = with_previews(ci).expect("valid");
        assert_eq!(config.bootstrap.ci_environments, vec!["staging".to_owned(), "pr".to_owned()]);
        let message = parse(&format!("{VALID}{ci}")).expect_err("no previews").to_string();
        assert!(message.contains("names \"pr\", which is not an environment"), "{message}");
        let one = "bootstrap:\n  github_repository: octo/twin\n  ci_environments: [pr-1]\n";
        let message = with_previews(one).expect_err("a preview's name").to_string();
        assert!(
            message.contains("names \"pr-1\", which is not an environment nor previews.prefix \"pr\""),
            "{message}"
        );
    }
}
