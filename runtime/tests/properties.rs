//! The design's correctness properties 1, 2, 3 and 7 as property tests (proptest, 256 cases
//! each). Properties 4 and 5 belong to the templates and 6 to the logging tests.
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use common::*;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use twin_runtime::config::{ApiKeySource, Config, Environment};
use twin_runtime::model::{BedrockModel, OpenAiModel};
use twin_runtime::prompt::{Prompt, build_prompt, estimate_tokens};
use twin_runtime::secrets::{ApiKeyProvider, SecretBackend, SecretError};
use twin_runtime::store::{ConversationStore, FileStore, Message, Role};
use uuid::Uuid;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Any text a person might send: unicode, quotes, newlines, JSON-looking fragments.
fn message_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\u{0}]{1,200}",
        "[a-zA-Z0-9 ,.!?'\"{}\\[\\]\\\\/\n\t]{1,120}",
        Just("{\"message\": \"nested\"}".to_owned()),
    ]
    .prop_filter("a message has visible content", |s| !s.trim().is_empty())
}

/// An alternating user/assistant history of `turns` turns, one second apart.
fn history(max_turns: usize) -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec((message_text(), message_text()), 0..=max_turns).prop_map(|turns| {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        turns
            .into_iter()
            .enumerate()
            .flat_map(|(i, (question, answer))| {
                let at = start + ChronoDuration::seconds(2 * i as i64);
                [
                    Message { role: Role::User, content: question, timestamp: at },
                    Message { role: Role::Assistant, content: answer, timestamp: at + ChronoDuration::seconds(1) },
                ]
            })
            .collect()
    })
}

// --- Property 1: what is stored is retrieved identically, by session, in order ---------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn property_1_store_round_trip_preserves_content_order_and_session(
        turns in prop::collection::vec((0usize..3, message_text(), message_text()), 1..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let sessions = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let mut expected: HashMap<Uuid, Vec<Message>> = HashMap::new();
        runtime().block_on(async {
            for (n, (session, question, answer)) in turns.iter().enumerate() {
                let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + ChronoDuration::seconds(n as i64);
                let pair = [
                    Message { role: Role::User, content: question.clone(), timestamp: at },
                    Message { role: Role::Assistant, content: answer.clone(), timestamp: at },
                ];
                store.append(sessions[*session], &pair).await.unwrap();
                expected.entry(sessions[*session]).or_default().extend(pair);
            }
            for session in sessions {
                let stored = store.load(session).await.unwrap().map(|c| c.messages.clone());
                prop_assert_eq!(stored, expected.get(&session).cloned());
            }
            Ok(())
        })?;
    }

    #[test]
    fn property_1_through_the_api_history_returns_each_message_verbatim(
        messages in prop::collection::vec(message_text(), 1..4)
    ) {
        let app = test_app();
        runtime().block_on(async {
            let mut session: Option<String> = None;
            for message in &messages {
                let reply = chat(&app.router, message, session.as_deref()).await;
                session = Some(reply["session_id"].as_str().unwrap().to_owned());
            }
            let session = session.unwrap();
            let history = send(&app.router, get(&format!("/api/chat/history/{session}"))).await.json();
            let users: Vec<&str> = history["messages"].as_array().unwrap().iter()
                .filter(|m| m["role"] == "user")
                .map(|m| m["content"].as_str().unwrap())
                .collect();
            let sent: Vec<&str> = messages.iter().map(String::as_str).collect();
            prop_assert_eq!(users, sent);
            Ok(())
        })?;
    }
}

// --- Property 2: the whole persona is in every prompt ---------------------------------------

fn openai() -> OpenAiModel {
    let keys = Arc::new(ApiKeyProvider::new(&ApiKeySource::NotRequired, None));
    OpenAiModel::new("http://127.0.0.1:9/v1", "test-model", 256, keys).unwrap()
}

fn system_text_of_bedrock_input(prompt: &Prompt) -> String {
    let (system, _) = BedrockModel::converse_input(prompt).unwrap();
    system.iter().filter_map(|block| block.as_text().ok().cloned()).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn property_2_the_complete_persona_reaches_every_provider(
        persona in "[^\u{0}]{1,3000}".prop_filter("non-blank", |p| !p.trim().is_empty()),
        history in history(20),
        message in message_text(),
        budget in 0usize..4000,
    ) {
        let prompt = build_prompt(&persona, &history, &message, budget);
        prop_assert!(prompt.system.contains(&persona), "system prompt holds the persona verbatim");

        let body = openai().request_body(&prompt, false);
        prop_assert_eq!(body["messages"][0]["role"].as_str(), Some("system"));
        prop_assert!(body["messages"][0]["content"].as_str().unwrap().contains(&persona));
        prop_assert!(system_text_of_bedrock_input(&prompt).contains(&persona));
        // The new message is never trimmed either.
        let last = body["messages"].as_array().unwrap().last().unwrap().clone();
        prop_assert_eq!(last["content"].as_str(), Some(message.as_str()));
    }
}

// --- Property 3: history in context, in chronological order, trimmed only oldest-first ------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn property_3_context_is_the_newest_history_in_order(
        persona in "[a-z ]{1,400}".prop_filter("non-blank", |p| !p.trim().is_empty()),
        history in history(30),
        message in message_text(),
        budget in 0usize..3000,
    ) {
        let prompt = build_prompt(&persona, &history, &message, budget);
        // A contiguous suffix of the stored history, order untouched.
        prop_assert_eq!(prompt.trimmed + prompt.history.len(), history.len());
        prop_assert_eq!(&prompt.history[..], &history[prompt.trimmed..]);
        prop_assert!(prompt.history.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        if let Some(first) = prompt.history.first() {
            prop_assert_eq!(first.role, Role::User, "kept history opens with a user turn");
        }

        let fixed = estimate_tokens(&prompt.system) + estimate_tokens(&message);
        let kept: usize = prompt.history.iter().map(|m| estimate_tokens(&m.content)).sum();
        prop_assert!(prompt.history.is_empty() || fixed + kept <= budget, "kept history fits the budget");
        // Maximal: the turn just before the kept part would not have fitted.
        if prompt.trimmed >= 2 {
            let previous_turn: usize = history[prompt.trimmed - 2..prompt.trimmed]
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum();
            prop_assert!(fixed + kept + previous_turn > budget, "nothing that fits was trimmed");
        }
        // With room for everything, everything is sent.
        let whole = build_prompt(&persona, &history, &message, usize::MAX);
        prop_assert_eq!(whole.history, history.clone());
    }
}

// --- Property 7: API keys come from Secrets Manager, never from the environment ------------

/// A fake Secrets Manager holding one value.
#[derive(Debug)]
struct FakeSecrets(String);

#[async_trait]
impl SecretBackend for FakeSecrets {
    async fn fetch(&self, _secret_id: &str) -> Result<SecretString, SecretError> {
        Ok(SecretString::from(self.0.clone()))
    }
}

fn environment() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("staging"), Just("production")]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn property_7_outside_local_the_key_never_comes_from_the_environment(
        environment in environment(),
        env_key in "sk-[a-zA-Z0-9]{8,40}",
        managed_key in "sk-managed-[a-zA-Z0-9]{8,40}",
        with_secret_name in any::<bool>(),
        extra in prop::collection::hash_map("[A-Z_]{3,12}", "[ -~]{0,20}", 0..6),
    ) {
        let mut vars: HashMap<String, String> = extra;
        vars.insert("ENVIRONMENT".into(), environment.into());
        vars.insert("S3_MEMORY_BUCKET".into(), "memory".into());
        vars.insert("S3_PERSONA_BUCKET".into(), "persona".into());
        vars.insert("LLM_PROVIDER".into(), "openai".into());
        vars.insert("LLM_MODEL_ID".into(), "gpt".into());
        vars.insert("ORIGIN_VERIFY_SECRET_NAME".into(), "twin/origin-verify".into());
        vars.insert("LLM_API_KEY".into(), env_key.clone());
        vars.insert("OPENAI_API_KEY".into(), env_key.clone());
        vars.remove("SECRETS_MANAGER_SECRET_NAME");
        if with_secret_name {
            vars.insert("SECRETS_MANAGER_SECRET_NAME".into(), "twin/llm".into());
        }
        let read = RefCell::new(Vec::<String>::new());
        let result = Config::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            vars.get(name).cloned()
        });
        prop_assert!(!read.borrow().iter().any(|n| n == "LLM_API_KEY" || n == "OPENAI_API_KEY"),
            "the key variables are never even read outside local");

        match result {
            Ok(config) => {
                prop_assert!(with_secret_name);
                prop_assert!(config.environment != Environment::Local);
                let ApiKeySource::SecretsManager { secret_id, .. } = &config.api_key else {
                    return Err(TestCaseError::fail("key source must be Secrets Manager"));
                };
                prop_assert_eq!(secret_id.as_str(), "twin/llm");
                let provider = ApiKeyProvider::new(&config.api_key, Some(Box::new(FakeSecrets(managed_key.clone()))));
                let key = runtime().block_on(provider.key()).unwrap().unwrap();
                prop_assert_eq!(key.expose_secret(), managed_key.as_str());
                prop_assert_ne!(key.expose_secret(), env_key.as_str());
            }
            Err(error) => {
                prop_assert!(!with_secret_name, "only a missing secret name may fail: {}", error);
                prop_assert!(error.to_string().contains("SECRETS_MANAGER_SECRET_NAME is required"));
            }
        }
    }

    #[test]
    fn property_7_locally_a_named_secret_still_wins_over_the_environment(
        env_key in "sk-[a-zA-Z0-9]{8,40}",
        managed_key in "sk-managed-[a-zA-Z0-9]{8,40}",
    ) {
        let vars: HashMap<&str, String> = [
            ("LLM_PROVIDER", "openai".to_owned()),
            ("LLM_MODEL_ID", "gpt".to_owned()),
            ("LLM_API_KEY", env_key.clone()),
            ("SECRETS_MANAGER_SECRET_NAME", "twin/llm".to_owned()),
        ].into_iter().collect();
        let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
        let provider = ApiKeyProvider::new(&config.api_key, Some(Box::new(FakeSecrets(managed_key.clone()))));
        let key = runtime().block_on(provider.key()).unwrap().unwrap();
        prop_assert_eq!(key.expose_secret(), managed_key.as_str());
    }
}
