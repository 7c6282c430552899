//! The IAM actions the function needs, declared next to the code that needs them: each SDK
//! operation the runtime calls, as the action IAM authorises it with, and the actions done in
//! its name without a call of its own (Lambda writing its log lines, Secrets Manager decrypting
//! its secrets). `templates/twin.yaml`'s FunctionRole grants exactly these (a test below compares
//! them), and `twinctl verify`'s iam steps compare the deployed role with them (granted ==
//! needed, by name).
//!
//! Actions follow the Service Authorization Reference ("Actions, resources, and condition keys
//! for <service>") and each API reference's "Permissions": GetObject (also a conditional one,
//! `If-None-Match`) is `s3:GetObject`, PutObject (also `If-Match` / `If-None-Match: *`) is
//! `s3:PutObject`, HeadBucket is `s3:ListBucket`, Bedrock's Converse is `bedrock:InvokeModel` and
//! ConverseStream `bedrock:InvokeModelWithResponseStream` (Bedrock user guide, "Prerequisites for
//! running model inference").
//! Must not: call AWS; adding an SDK call to the runtime means adding its action here.

/// Whether the runtime calls the action itself or something acts for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// An SDK operation in the runtime's code.
    Called,
    /// Needed without a call of its own: done by a service in the function's name, or needed so
    /// another call answers as the runtime expects.
    Implied,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Called => "called",
            How::Implied => "implied",
        }
    }
}

/// One IAM action the function needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    /// `service:Action`, as IAM spells it.
    pub action: &'static str,
    pub how: How,
    /// What the runtime does with it, in a few words ("store a turn").
    pub why: &'static str,
    /// Needed only with this model provider (`ModelProvider::name`, the function's
    /// [`PROVIDER_VARIABLE`]); None: always.
    pub when: Option<&'static str>,
}

impl Needed {
    /// Whether the function needs this action when it runs with `provider` (`LLM_PROVIDER`).
    pub fn applies_to(&self, provider: &str) -> bool {
        self.when.is_none_or(|when| when == provider)
    }
}

/// The environment variable that names the model provider (`config.rs` reads it); the values
/// [`Needed::when`] takes.
pub const PROVIDER_VARIABLE: &str = "LLM_PROVIDER";

const fn needed(action: &'static str, how: How, why: &'static str, when: Option<&'static str>) -> Needed {
    Needed { action, how, why, when }
}

/// Every action the function needs, each once.
pub const NEEDED: &[Needed] = &[
    // store/s3.rs reads a session before each turn and persona.rs reads (and revalidates) me.txt.
    needed("s3:GetObject", How::Called, "read a session and the persona", None),
    // store/s3.rs writes a turn with If-Match (If-None-Match: * for a new session).
    needed("s3:PutObject", How::Called, "store a turn", None),
    // store/s3.rs's deep health check is HeadBucket; the same action also makes S3 answer 404
    // (NoSuchKey, a new session) instead of 403 for a session not written yet.
    needed("s3:ListBucket", How::Called, "deep health check (HeadBucket); a new session is 404, not 403", None),
    // secrets.rs (the model's API key, openai) and origin.rs (the X-Origin-Verify value, always
    // outside local; AWSCURRENT and AWSPREVIOUS).
    needed("secretsmanager:GetSecretValue", How::Called, "read the origin secret and the model's API key", None),
    // Both secrets are encrypted with the stack's key: Secrets Manager decrypts with the caller's
    // permission (kms:ViaService secretsmanager).
    needed("kms:Decrypt", How::Implied, "Secrets Manager decrypts the secrets with the stack's key", None),
    // Lambda writes what the function prints to its log group with the function's role.
    needed("logs:CreateLogStream", How::Implied, "Lambda creates the function's log streams", None),
    needed("logs:PutLogEvents", How::Implied, "Lambda writes the function's log lines", None),
    // model/bedrock.rs: Converse answers a message and the deep health check's one-token ping.
    needed("bedrock:InvokeModel", How::Called, "answer a message (Converse)", Some("bedrock")),
    // model/bedrock.rs: ConverseStream answers /api/chat/stream.
    needed("bedrock:InvokeModelWithResponseStream", How::Called, "stream a reply (ConverseStream)", Some("bedrock")),
];

/// What the function needs with `provider`, in [`NEEDED`]'s order.
pub fn needed_for(provider: &str) -> impl Iterator<Item = &'static Needed> {
    NEEDED.iter().filter(move |n| n.applies_to(provider))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_yaml::Value;

    use super::*;

    #[test]
    fn each_action_is_service_colon_action_and_declared_once() {
        let mut seen = BTreeSet::new();
        for needed in NEEDED {
            let (service, name) = needed.action.split_once(':').expect("service:Action");
            assert!(
                !service.is_empty()
                    && service.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}: the service prefix is lower-case",
                needed.action
            );
            assert!(
                name.chars().next().is_some_and(char::is_uppercase) && name.chars().all(char::is_alphanumeric),
                "{}: the action is one PascalCase word, no wildcard",
                needed.action
            );
            assert!(seen.insert(needed.action.to_ascii_lowercase()), "{} is declared twice", needed.action);
            assert!(!needed.why.is_empty());
        }
    }

    #[test]
    fn every_condition_names_a_provider_the_configuration_knows() {
        for needed in NEEDED {
            let Some(provider) = needed.when else { continue };
            let vars: BTreeMap<&str, &str> = BTreeMap::from([
                ("ENVIRONMENT", "staging"),
                ("S3_MEMORY_BUCKET", "memory"),
                ("S3_PERSONA_BUCKET", "memory"),
                (PROVIDER_VARIABLE, provider),
                ("LLM_MODEL_ID", "model"),
                ("SECRETS_MANAGER_SECRET_NAME", "twin/staging/llm-api-key"),
                ("ORIGIN_VERIFY_SECRET_NAME", "twin/staging/origin-verify"),
            ]);
            let config = crate::Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()))
                .unwrap_or_else(|e| panic!("{provider}: {e}"));
            assert_eq!(config.model.name(), provider, "{}", needed.action);
        }
        assert_eq!(needed_for("openai").count(), NEEDED.len() - 2);
        assert_eq!(needed_for("bedrock").count(), NEEDED.len());
    }

    fn items(value: &Value) -> Vec<&Value> {
        match value {
            Value::Sequence(list) => list.iter().collect(),
            other => vec![other],
        }
    }

    fn actions(statement: &Value) -> Vec<String> {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"), "the function role only allows: {statement:?}");
        items(&statement["Action"]).into_iter().filter_map(Value::as_str).map(str::to_owned).collect()
    }

    /// The FunctionRole's actions: those always granted, and those granted under a condition
    /// (`!If [Condition, statement, !Ref AWS::NoValue]`), by condition.
    fn function_role() -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/twin.yaml");
        let text = std::fs::read_to_string(path).expect("templates/twin.yaml");
        let template: Value = serde_yaml::from_str(&text).expect("yaml");
        let policies = &template["Resources"]["FunctionRole"]["Properties"]["Policies"];
        let mut always = BTreeSet::new();
        let mut conditional: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for policy in items(policies) {
            for statement in items(&policy["PolicyDocument"]["Statement"]) {
                match statement {
                    Value::Tagged(tagged) if tagged.tag == "If" => {
                        let branches = tagged.value.as_sequence().expect("!If [condition, then, else]");
                        let condition = branches[0].as_str().expect("a condition name").to_owned();
                        conditional.entry(condition).or_default().extend(actions(&branches[1]));
                    }
                    statement => always.extend(actions(statement)),
                }
            }
        }
        (always, conditional)
    }

    #[test]
    fn the_function_role_grants_exactly_what_the_runtime_needs() {
        let (always, conditional) = function_role();
        let needed_always: BTreeSet<String> =
            NEEDED.iter().filter(|n| n.when.is_none()).map(|n| n.action.to_owned()).collect();
        assert_eq!(always, needed_always, "twin.yaml FunctionRole (unconditional) vs runtime/src/permissions.rs");
        let needed_bedrock: BTreeSet<String> =
            NEEDED.iter().filter(|n| n.when == Some("bedrock")).map(|n| n.action.to_owned()).collect();
        assert_eq!(
            conditional,
            BTreeMap::from([("UseBedrock".to_owned(), needed_bedrock)]),
            "twin.yaml FunctionRole (only with LlmProvider=bedrock) vs runtime/src/permissions.rs"
        );
    }
}
