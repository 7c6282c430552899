//! Both conversation stores under concurrent writers (Property 1: no turn is ever lost),
//! and the S3-backed pieces (store, persona, secrets) against the local AWS emulator.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::Utc;
use common::*;
use secrecy::ExposeSecret;
use twin_runtime::config::ApiKeySource;
use twin_runtime::persona::{Fetched, PersonaCache, PersonaError, PersonaSource, S3Persona};
use twin_runtime::secrets::{ApiKeyProvider, SecretBackend, SecretError, SecretsManagerBackend};
use twin_runtime::state::s3_client;
use twin_runtime::store::{ConversationStore, FileStore, Message, Role, S3Store};
use uuid::Uuid;

const WRITERS: usize = 16;
const TURNS_PER_WRITER: usize = 5;

fn turn(writer: usize, turn: usize) -> [Message; 2] {
    let now = Utc::now();
    [
        Message { role: Role::User, content: format!("writer {writer} turn {turn}"), timestamp: now },
        Message { role: Role::Assistant, content: format!("reply to writer {writer} turn {turn}"), timestamp: now },
    ]
}

/// 16 writers × 5 turns on one session, all at once; every one of the 160 turns must be kept,
/// each writer's turns in its own order, each user message followed by its own reply.
async fn hammer(stores: Vec<Arc<dyn ConversationStore>>) {
    let session = Uuid::new_v4();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = stores[writer % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..TURNS_PER_WRITER {
                store.append(session, &turn(writer, n)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let conversation = stores[0].load(session).await.unwrap().expect("the session exists");
    assert_eq!(conversation.messages.len(), WRITERS * TURNS_PER_WRITER * 2, "every message of all 160 turns is kept");
    for pair in conversation.messages.chunks(2) {
        assert_eq!(pair[0].role, Role::User);
        assert_eq!(pair[1].content, format!("reply to {}", pair[0].content), "a turn is never split");
    }
    for writer in 0..WRITERS {
        let order: Vec<String> = conversation
            .messages
            .iter()
            .filter(|m| m.role == Role::User && m.content.starts_with(&format!("writer {writer} ")))
            .map(|m| m.content.clone())
            .collect();
        let expected: Vec<String> = (0..TURNS_PER_WRITER).map(|n| format!("writer {writer} turn {n}")).collect();
        assert_eq!(order, expected, "writer {writer}'s turns are all there, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_keeps_every_turn_of_16_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ConversationStore> = Arc::new(FileStore::open(dir.path()).unwrap());
    hammer(vec![store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_instances_sharing_a_directory_keep_every_turn() {
    // Separate instances share no in-process lock: only the file lock serialises them,
    // exactly as between two processes.
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<Arc<dyn ConversationStore>> =
        (0..WRITERS).map(|_| Arc::new(FileStore::open(dir.path()).unwrap()) as Arc<dyn ConversationStore>).collect();
    hammer(stores).await;
}

#[tokio::test]
async fn file_store_reports_a_corrupt_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let session = Uuid::new_v4();
    let document = dir.path().join(format!("{:02x}", session.as_bytes()[15])).join(format!("{session}.json"));
    std::fs::create_dir_all(document.parent().unwrap()).unwrap();
    std::fs::write(&document, b"{not json").unwrap();
    let error = store.load(session).await.unwrap_err();
    assert!(error.to_string().contains("unreadable"), "{error}");
    assert!(store.append(session, &turn(0, 0)).await.is_err(), "a corrupt document is not overwritten");
    assert_eq!(std::fs::read(&document).unwrap(), b"{not json");
}

// --- Against the emulator -------------------------------------------------------------

async fn bucket(client: &aws_sdk_s3::Client, prefix: &str) -> String {
    let name = unique_bucket(prefix);
    client.create_bucket().bucket(&name).send().await.unwrap();
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_store_keeps_every_turn_of_16_concurrent_writers() {
    let sdk = emulator_sdk_config().await;
    let client = s3_client(&sdk);
    let bucket = bucket(&client, "twin-memory").await;
    // One client per writer, as separate Lambda instances would have.
    let stores: Vec<Arc<dyn ConversationStore>> = (0..WRITERS)
        .map(|_| Arc::new(S3Store::new(s3_client(&sdk), &bucket, "sessions/")) as Arc<dyn ConversationStore>)
        .collect();
    hammer(stores).await;
}

#[tokio::test]
async fn s3_store_round_trips_under_its_key_and_reports_missing_sessions() {
    let sdk = emulator_sdk_config().await;
    let client = s3_client(&sdk);
    let bucket = bucket(&client, "twin-memory").await;
    let store = S3Store::new(client.clone(), &bucket, "sessions/");
    let session = Uuid::new_v4();
    assert!(store.load(session).await.unwrap().is_none());
    store.append(session, &turn(1, 1)).await.unwrap();
    store.append(session, &turn(1, 2)).await.unwrap();

    let object = client.get_object().bucket(&bucket).key(format!("sessions/{session}.json")).send().await.unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(stored["session_id"], session.to_string());
    assert_eq!(stored["messages"][2]["content"], "writer 1 turn 2");
    assert_eq!(store.load(session).await.unwrap().unwrap().messages.len(), 4);
    store.check().await.unwrap();

    let missing = S3Store::new(client, unique_bucket("absent"), "sessions/");
    let error = missing.check().await.unwrap_err();
    assert!(error.to_string().contains("failed to reach bucket"), "{error}");
}

#[tokio::test]
async fn s3_persona_is_revalidated_by_etag() {
    let sdk = emulator_sdk_config().await;
    let client = s3_client(&sdk);
    let bucket = bucket(&client, "twin-persona").await;
    let put = |text: &'static str| {
        client.put_object().bucket(&bucket).key("persona/me.txt").body(ByteStream::from_static(text.as_bytes())).send()
    };
    put("I am Ada.\nFirst version.").await.unwrap();
    let source = S3Persona::new(client.clone(), &bucket, "persona/me.txt");
    let Fetched::Current(first) = source.fetch(None).await.unwrap() else { panic!("expected the persona") };
    assert_eq!(&*first.text, "I am Ada.\nFirst version.");
    assert!(matches!(source.fetch(Some(&first.etag)).await.unwrap(), Fetched::NotModified));

    put("I am Ada.\nSecond version.").await.unwrap();
    let cache = PersonaCache::new(Box::new(S3Persona::new(client.clone(), &bucket, "persona/me.txt")), Duration::ZERO);
    assert_eq!(&*cache.get().await.unwrap().text, "I am Ada.\nSecond version.");

    client.delete_object().bucket(&bucket).key("persona/me.txt").send().await.unwrap();
    assert!(matches!(cache.get().await, Err(PersonaError::Missing { .. })));
}

#[tokio::test]
async fn secrets_come_from_secrets_manager_cached_and_refreshed_after_rotation() {
    let sdk = emulator_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = format!("twin/test/{}", Uuid::new_v4());
    client.create_secret().name(&name).secret_string(r#"{"api_key":"sk-first"}"#).send().await.unwrap();

    let provider = ApiKeyProvider::new(
        &ApiKeySource::SecretsManager { secret_id: name.clone(), ttl: Duration::from_secs(3600) },
        Some(Box::new(SecretsManagerBackend::new(client.clone()))),
    );
    assert_eq!(provider.key().await.unwrap().unwrap().expose_secret(), "sk-first");

    client.put_secret_value().secret_id(&name).secret_string(r#"{"api_key":"sk-rotated"}"#).send().await.unwrap();
    assert_eq!(provider.key().await.unwrap().unwrap().expose_secret(), "sk-first", "cached for the TTL");
    provider.invalidate().await;
    assert_eq!(provider.key().await.unwrap().unwrap().expose_secret(), "sk-rotated", "refreshed after a rejection");

    let backend = SecretsManagerBackend::new(client);
    let missing = backend.fetch("twin/does-not-exist").await.unwrap_err();
    assert!(matches!(missing, SecretError::Unreachable { .. }));
    assert!(missing.to_string().contains("twin/does-not-exist"));
}
