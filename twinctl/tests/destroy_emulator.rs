//! `twinctl destroy` against the local AWS emulator: the stack goes, the conversations stay and
//! a later deploy answers them again; `--delete-data` removes them; reruns are no-ops; a held
//! lock, a missing confirmation and termination protection each refuse before anything is deleted.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

/// Whether CloudFormation still has the stack (a deleted one is gone or DELETE_COMPLETE).
fn stack_exists(name: &str) -> bool {
    let name = name.to_owned();
    with_emulator(|sdk| async move {
        match aws_sdk_cloudformation::Client::new(&sdk).describe_stacks().stack_name(&name).send().await {
            Ok(found) => {
                found.stacks().iter().any(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
            }
            Err(_) => false,
        }
    })
}

fn bucket_exists(bucket: &str) -> bool {
    let bucket = bucket.to_owned();
    with_emulator(|sdk| async move { s3_client(&sdk).head_bucket().bucket(&bucket).send().await.is_ok() })
}

fn keys(bucket: &str, prefix: &str) -> Vec<String> {
    let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
    with_emulator(|sdk| async move {
        let listed = s3_client(&sdk).list_objects_v2().bucket(&bucket).prefix(&prefix).send().await.unwrap();
        listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    })
}

fn data_item<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}: {report}"))
}

#[test]
fn destroy_keeps_the_conversations_and_a_deploy_after_it_answers_them_again() {
    let project = Project::new(1);
    let artifacts = project.bootstrap();
    let bundle = project.bundle("a", "");
    project.deploy(&bundle);
    let before = project.json(&["status", "local"]);
    let stack = before["stack"].as_str().unwrap().to_owned();
    let memory = before["outputs"]["MemoryBucketName"].as_str().unwrap().to_owned();
    let site = before["outputs"]["FrontendBucketName"].as_str().unwrap().to_owned();
    let secret = before["outputs"]["SecretArn"].as_str().unwrap().to_owned();
    let key = before["outputs"]["KeyArn"].as_str().unwrap().to_owned();
    let session = {
        let served = Served::start(&project);
        let answer = served.chat("remember the lighthouse", None);
        answer["session_id"].as_str().unwrap().to_owned()
    };
    assert_eq!(keys(&memory, "sessions/").len(), 1, "the chat wrote its session");

    let destroyed = project.json(&["destroy", "local", "--yes"]);
    assert_eq!(destroyed["schema_version"], 1);
    assert_eq!(destroyed["nothing_to_destroy"], false);
    assert_eq!(destroyed["stack_deleted"], true, "{destroyed}");
    assert!(destroyed["site_versions_deleted"].as_u64().unwrap() > 0, "{destroyed}");
    assert!(!stack_exists(&stack), "the stack is gone");
    assert!(!bucket_exists(&site), "the emptied site bucket went with the stack");
    let kept = data_item(&destroyed, "memory_bucket");
    assert_eq!((kept["id"].as_str().unwrap(), kept["state"].as_str().unwrap()), (memory.as_str(), "kept"));
    assert_eq!(kept["detail"], "1 conversation(s)");
    assert_eq!(data_item(&destroyed, "secret")["id"], secret.as_str());
    assert_eq!(data_item(&destroyed, "key")["id"], key.as_str());
    assert!(bucket_exists(&memory) && keys(&memory, "sessions/").len() == 1, "the conversation is kept");
    assert!(destroyed["history_removed"].as_u64().unwrap() >= 2, "{destroyed}");
    assert!(keys(&artifacts, "releases/local/").is_empty(), "the release history is removed");
    assert!(keys(&artifacts, "locks/local.json").is_empty(), "the lock is removed");
    let text = project.run(&["destroy", "local", "--yes"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("nothing to destroy") && text.contains("--delete-data"), "{text}");

    let status = project.run(&["status", "local", "--output", "json"]);
    assert_eq!(status.status.code(), Some(1), "no stack: {}", stderr(&status));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["stack_status"], Value::Null);
    assert_eq!(status["data_stack"], format!("{stack}-data"));
    assert!(status["data_stack_status"].as_str().unwrap().ends_with("_COMPLETE"), "the data stack stays: {status}");

    let again = project.json(&["destroy", "local", "--yes"]);
    assert_eq!(again["nothing_to_destroy"], true, "a second destroy has nothing to do: {again}");
    assert_eq!(data_item(&again, "memory_bucket")["state"], "kept");

    project.deploy(&bundle);
    let after = project.json(&["status", "local"]);
    assert_eq!(after["outputs"]["MemoryBucketName"], memory.as_str(), "the kept bucket is reattached");
    assert_eq!(after["outputs"]["SecretArn"], secret.as_str());
    let served = Served::start(&project);
    let history = served.history(&session);
    let said: Vec<&str> =
        history["messages"].as_array().unwrap().iter().filter_map(|m| m["content"].as_str()).collect();
    assert!(said.contains(&"remember the lighthouse"), "the old session answers again: {history}");
    drop(served);

    let deleted = project.json(&["destroy", "local", "--yes", "--delete-data"]);
    assert_eq!(deleted["stack_deleted"], true);
    assert_eq!(deleted["data_stack_deleted"], true, "{deleted}");
    assert_eq!(data_item(&deleted, "memory_bucket")["state"], "deleted");
    assert_eq!(data_item(&deleted, "secret")["state"], "deleted");
    assert_eq!(data_item(&deleted, "key")["state"], "deletion_scheduled");
    assert!(!bucket_exists(&memory), "--delete-data removes the memory bucket");
    assert!(!stack_exists(&format!("{stack}-data")));
    let (secret_gone, key_state) = with_emulator(|sdk| async move {
        let secret_gone =
            aws_sdk_secretsmanager::Client::new(&sdk).describe_secret().secret_id(&secret).send().await.is_err();
        let described = aws_sdk_kms::Client::new(&sdk).describe_key().key_id(&key).send().await.unwrap();
        let metadata = described.key_metadata().unwrap();
        (secret_gone, metadata.key_state().map(|s| s.as_str().to_owned()))
    });
    assert!(secret_gone, "the secret is deleted without a recovery window");
    assert_eq!(key_state.as_deref(), Some("PendingDeletion"));

    let last = project.json(&["destroy", "local", "--yes", "--delete-data"]);
    assert_eq!(last["nothing_to_destroy"], true, "{last}");
    assert!(last["data"].as_array().unwrap().is_empty());
}

#[test]
fn destroy_while_the_lock_is_held_is_refused_naming_the_holder() {
    let project = Project::new(0);
    let artifacts = project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let stack = project.json(&["status", "local"])["stack"].as_str().unwrap().to_owned();
    hold_lock_as(&artifacts, "arn:aws:iam::123456789012:user/someone-else", "their-laptop");
    let refused = project.run(&["destroy", "local", "--yes"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("someone-else") && stderr(&refused).contains("their-laptop"),
        "{}",
        stderr(&refused)
    );
    assert!(stack_exists(&stack), "nothing was deleted");
    let forced = project.json(&["destroy", "local", "--yes", "--force-unlock"]);
    assert_eq!(forced["stack_deleted"], true);
}

#[test]
fn confirmation_approval_and_termination_protection_each_refuse_before_anything_is_deleted() {
    let project = Project::new(0);
    project.bootstrap();
    let bundle = project.bundle("a", "");
    project.deploy(&bundle);
    let stack = project.json(&["status", "local"])["stack"].as_str().unwrap().to_owned();
    let unconfirmed = project.run(&["destroy", "local"]);
    assert_eq!(unconfirmed.status.code(), Some(1), "{}", stderr(&unconfirmed));
    assert!(stderr(&unconfirmed).contains("no terminal") && stderr(&unconfirmed).contains("--yes"));
    assert!(stack_exists(&stack));

    project.configure_local("approval: true");
    project.json(&["deploy", "local", "--yes", "--approve-iam-broadening", "--artifacts", bundle.to_str().unwrap()]);
    let yes_only = project.run(&["destroy", "local", "--yes"]);
    assert_eq!(yes_only.status.code(), Some(1));
    assert!(stderr(&yes_only).contains("--env-name-confirm"), "{}", stderr(&yes_only));
    let wrong = project.run(&["destroy", "local", "--yes", "--env-name-confirm", "staging"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("does not match"), "{}", stderr(&wrong));
    let protected = project.run(&["destroy", "local", "--yes", "--env-name-confirm", "local"]);
    assert_eq!(protected.status.code(), Some(1), "{}", stderr(&protected));
    assert!(stderr(&protected).contains("termination protection"), "{}", stderr(&protected));
    assert!(stack_exists(&stack), "nothing was deleted");

    let destroyed = project.json(&[
        "destroy",
        "local",
        "--yes",
        "--env-name-confirm",
        "local",
        "--disable-termination-protection",
        "--keep-history",
    ]);
    assert_eq!(destroyed["stack_deleted"], true);
    assert_eq!(destroyed["termination_protection_disabled"], serde_json::json!([stack]));
    assert_eq!(destroyed["history_kept"], true);
    assert!(!stack_exists(&stack));
    let releases = project.json(&["releases", "local"]);
    assert!(!releases["releases"].as_array().unwrap().is_empty(), "--keep-history keeps them: {releases}");
}
