//! The real `twinctl` binary against the local AWS emulator: releases and rollback.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What visitors get now: every current key of the site bucket with the sha256 of its bytes,
/// read back from S3 (not from any manifest).
fn served(project: &Project) -> BTreeMap<String, String> {
    let status = project.json(&["status", "local"]);
    let bucket = status["outputs"]["FrontendBucketName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        let s3 = s3_client(&sdk);
        let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
        let mut served = BTreeMap::new();
        for object in listed.contents() {
            let key = object.key().unwrap().to_owned();
            let body = s3.get_object().bucket(&bucket).key(&key).send().await.unwrap().body.collect().await.unwrap();
            served.insert(key, hex::encode(Sha256::digest(body.into_bytes())));
        }
        served
    })
}

/// The persona the function reads now.
fn persona(project: &Project) -> String {
    let status = project.json(&["status", "local"]);
    let bucket = status["outputs"]["MemoryBucketName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        let object = s3_client(&sdk).get_object().bucket(&bucket).key("persona/me.txt").send().await.unwrap();
        String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
    })
}

struct Snapshot {
    served: BTreeMap<String, String>,
    live: Value,
    persona: String,
}

fn snapshot(project: &Project) -> Snapshot {
    let status = project.json(&["status", "local"]);
    Snapshot { served: served(project), live: status["live_version"].clone(), persona: persona(project) }
}

fn assert_restored(project: &Project, expected: &Snapshot, what: &str) {
    let now = snapshot(project);
    assert_eq!(now.served, expected.served, "{what}: every served object's bytes, and the set of keys");
    assert_eq!(now.live, expected.live, "{what}: the alias");
    assert_eq!(now.persona, expected.persona, "{what}: the persona");
}

/// Deploy A, then B with a changed, an added and a deleted file, a new persona and new code.
fn deploy_a_then_b(project: &Project) -> (Value, Snapshot, Value, Snapshot) {
    project.bootstrap();
    let a = project.deploy(&project.bundle("a", ""));
    let at_a = snapshot(project);
    let site = project.path().join("site");
    std::fs::write(site.join("index.html"), "<!doctype html><title>twin B</title>").unwrap();
    std::fs::write(site.join("added.html"), "<p>only in B</p>").unwrap();
    std::fs::remove_file(site.join("_next/static/chunk-1.js")).unwrap();
    std::fs::write(project.path().join("me.txt"), "I am the test twin, second edition.\n").unwrap();
    let b = project.deploy(&project.bundle("b", ""));
    let at_b = snapshot(project);
    assert_ne!(at_a.served, at_b.served);
    assert_ne!(at_a.live, at_b.live);
    assert_ne!(at_a.persona, at_b.persona);
    (a, at_a, b, at_b)
}

fn releases(project: &Project) -> Value {
    project.json(&["releases", "local"])
}

#[test]
fn rollback_restores_the_exact_bytes_then_rolls_forward_and_twice_returns() {
    let project = Project::new(3);
    let (a, at_a, b, at_b) = deploy_a_then_b(&project);

    let back = project.json(&["rollback", "local"]);
    assert_eq!(back["to"], a["release_id"], "{back}");
    assert_eq!(back["from"], b["release_id"]);
    assert_eq!(back["alias_moved"], true);
    assert_eq!(back["persona_restored"], true);
    assert_eq!(back["site_state"], "recorded", "the manifests were enough: {back}");
    assert_eq!(back["site"]["deleted_keys"], serde_json::json!(["added.html"]));
    // index.html changed and chunk-1.js comes back; config.json and the rest are untouched.
    assert_eq!(back["site"]["uploaded"], 2, "{back}");
    // chunk-1.js is immutable (a new name for new content): never cached wrongly, not invalidated.
    assert_eq!(back["invalidated"], serde_json::json!(["/", "/added.html", "/index.html"]));
    assert!(back["origin_seconds"].as_f64().unwrap() > 0.0);
    assert_restored(&project, &at_a, "rollback to A");

    let history = releases(&project);
    assert_eq!(history["schema_version"], 1);
    let entries = history["releases"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{history}");
    assert_eq!(entries.iter().filter(|e| e["current"] == true).count(), 1, "exactly one current: {history}");
    assert_eq!(entries[0]["id"], back["release_id"], "newest first");
    assert_eq!(entries[0]["kind"], "rollback");
    assert_eq!(entries[0]["outcome"], "succeeded");
    assert_eq!(entries[0]["rolled_back_to"], a["release_id"]);
    assert_eq!(entries[0]["current"], true);
    assert_eq!(entries[0]["function_version"], at_a.live);
    assert!(entries.iter().all(|e| e["restorable"] == true), "{history}");
    assert_eq!(history["current"], back["release_id"]);

    // B's manifest was not rewritten by the rollback.
    let b_again = project.json(&["releases", "local", b["release_id"].as_str().unwrap()]);
    assert_eq!(b_again["release"]["outcome"], "succeeded");
    assert_eq!(b_again["current"], false);

    let forward = project.json(&["rollback", "local", "--to", b["release_id"].as_str().unwrap()]);
    assert_eq!(forward["to"], b["release_id"]);
    assert_restored(&project, &at_b, "roll forward to B");

    // Rolling back twice returns to where the first rollback started.
    project.json(&["rollback", "local"]);
    assert_restored(&project, &at_a, "the first of two rollbacks");
    assert_eq!(releases(&project)["releases"][0]["rolled_back_to"], a["release_id"], "it names A's deploy");
    project.json(&["rollback", "local"]);
    assert_restored(&project, &at_b, "the second rollback");

    // Restoring what is already restored is a no-op, not a new release (a rerun is safe).
    let count = releases(&project)["releases"].as_array().unwrap().len();
    let again = project.json(&["rollback", "local", "--to", b["release_id"].as_str().unwrap()]);
    assert_eq!(again["release_id"], Value::Null, "{again}");
    assert_eq!(releases(&project)["releases"].as_array().unwrap().len(), count);
    assert_restored(&project, &at_b, "a rerun that changed nothing");

    // A deploy after a rollback leaves the alias alone unless the code changed: the stack
    // recorded the live version.
    let deploy = project.deploy(&project.bundle("b", ""));
    assert_eq!(deploy["stack_changes"], 0, "{deploy}");
    assert_restored(&project, &at_b, "a redeploy of B");
}

#[test]
fn refused_rollbacks_say_why_with_exit_1_and_change_nothing() {
    let project = Project::new(0);
    let bucket = project.bootstrap();
    let nothing = project.run(&["rollback", "local"]);
    assert_eq!(nothing.status.code(), Some(1), "{}", stderr(&nothing));

    project.deploy(&project.bundle("a", ""));
    let first = project.run(&["rollback", "local"]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    assert!(stderr(&first).contains("there is no earlier release"), "{}", stderr(&first));

    let unknown = project.run(&["rollback", "local", "--to", "20990101T000000000Z-deadbeef"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("has no release 20990101T000000000Z-deadbeef"), "{}", stderr(&unknown));

    std::fs::write(project.path().join("site/index.html"), "<p>two</p>").unwrap();
    project.deploy(&project.bundle("b", ""));
    hold_lock_as(&bucket, "arn:aws:iam::123456789012:user/bob", "ci-runner-9");
    let before = snapshot(&project);
    let locked = project.run(&["rollback", "local"]);
    assert_eq!(locked.status.code(), Some(1), "{}", stderr(&locked));
    assert!(
        stderr(&locked).contains("locked by arn:aws:iam::123456789012:user/bob on ci-runner-9"),
        "{}",
        stderr(&locked)
    );
    assert_restored(&project, &before, "a refused rollback");
    with_emulator(|sdk| async move {
        s3_client(&sdk).delete_object().bucket(&bucket).key("locks/local.json").send().await.unwrap();
    });

    // A target whose function version was deleted behind twinctl's back is not restorable:
    // `releases` flags it and `rollback` stops before touching anything.
    let status = project.json(&["status", "local"]);
    let function = status["outputs"]["FunctionName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        aws_sdk_lambda::Client::new(&sdk)
            .delete_function()
            .function_name(&function)
            .qualifier("1")
            .send()
            .await
            .unwrap();
    });
    let history = releases(&project);
    let oldest = history["releases"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(oldest["restorable"], false, "{history}");
    assert!(oldest["not_restorable"][0].as_str().unwrap().contains("function version 1 was deleted"), "{oldest}");
    let gone = project.run(&["rollback", "local"]);
    assert_eq!(gone.status.code(), Some(1), "{}", stderr(&gone));
    assert!(stderr(&gone).contains("function version 1 no longer exists"), "{}", stderr(&gone));
    assert_restored(&project, &before, "a rollback to an unrestorable release");
}

#[test]
fn old_function_versions_are_pruned_but_never_those_retained_releases_need() {
    let project = Project::new(0);
    project.configure_local("retain_releases: 2");
    project.bootstrap();
    for variant in ["a", "b", "c"] {
        project.deploy(&project.bundle(variant, ""));
    }
    let fourth = project.deploy(&project.bundle("d", ""));
    // Releases d and c are retained: versions 1 and 2 go (1 went one deploy earlier).
    assert_eq!(fourth["function_version"], "4");
    let status = project.json(&["status", "local"]);
    let function = status["outputs"]["FunctionName"].as_str().unwrap().to_owned();
    let versions = with_emulator(|sdk| async move {
        let listed = aws_sdk_lambda::Client::new(&sdk)
            .list_versions_by_function()
            .function_name(&function)
            .send()
            .await
            .unwrap();
        listed.versions().iter().filter_map(|v| v.version()).map(str::to_owned).collect::<Vec<_>>()
    });
    assert_eq!(versions, ["$LATEST", "3", "4"], "{fourth}");
    let history = releases(&project);
    let flags: Vec<bool> =
        history["releases"].as_array().unwrap().iter().map(|e| e["restorable"].as_bool().unwrap()).collect();
    assert_eq!(flags, [true, true, false, false], "{history}");

    let back = project.json(&["rollback", "local"]);
    assert_eq!(back["function_version"], "3", "{back}");
}

/// The S3 requests of a rollback that restores `changed` files of a site of `size` files.
fn rollback_s3_requests(size: usize, changed: usize) -> u64 {
    let project = Project::new(size);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    for n in 0..changed {
        std::fs::write(project.path().join(format!("site/_next/static/chunk-{n}.js")), format!("/* v2 {n} */"))
            .unwrap();
    }
    project.deploy(&project.bundle("a", ""));
    let back = project.json(&["rollback", "local"]);
    assert_eq!(back["site"]["uploaded"], changed, "{back}");
    back["aws_requests"]["s3"].as_u64().unwrap()
}

#[test]
fn a_rollbacks_s3_requests_follow_the_changed_files_not_the_site_size() {
    let small = rollback_s3_requests(20, 3);
    let large = rollback_s3_requests(200, 3);
    assert_eq!(small, large, "unchanged files cost no request");
    assert!(rollback_s3_requests(20, 6) > small, "changed files do");
}

#[test]
fn rollback_with_infra_reapplies_the_releases_template_parameters_and_without_leaves_them() {
    let project = Project::new(0);
    project.bootstrap();
    let a = project.deploy(&project.bundle("a", ""));
    let config = project.path().join("twinctl.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("      LlmProvider: offline\n", "      LlmProvider: offline\n      ApiThrottleBurst: \"7\"\n"),
    )
    .unwrap();
    project.deploy(&project.bundle("b", ""));
    let burst = |project: &Project| {
        let status = project.json(&["status", "local"]);
        let stack = status["stack"].as_str().unwrap().to_owned();
        with_emulator(|sdk| async move {
            let described =
                aws_sdk_cloudformation::Client::new(&sdk).describe_stacks().stack_name(&stack).send().await.unwrap();
            let stack = described.stacks()[0].clone();
            let value = stack.parameters().iter().find(|p| p.parameter_key() == Some("ApiThrottleBurst")).unwrap();
            value.parameter_value().unwrap().to_owned()
        })
    };
    assert_eq!(burst(&project), "7");

    let plain = project.json(&["rollback", "local"]);
    assert_eq!(plain["to"], a["release_id"]);
    assert_eq!(burst(&project), "7", "infrastructure stays as it is without --infra");
    assert_eq!(project.json(&["status", "local"])["outputs"]["LiveVersion"], "1", "the stack records the live version");

    project.json(&["rollback", "local"]); // forward to B again
    let infra = project.json(&["rollback", "local", "--infra"]);
    assert_eq!(infra["infra"], true);
    assert_eq!(burst(&project), "2000", "A's parameters are back");
    let status = project.json(&["status", "local"]);
    assert_eq!(status["live_version"], "1");
    assert_eq!(status["outputs"]["LiveVersion"], "1");
}

#[test]
fn a_failed_deploy_neither_counts_as_retained_nor_lets_the_rollback_target_be_pruned() {
    let project = Project::new(0);
    project.configure_local("retain_releases: 2");
    project.bootstrap();
    let a = project.deploy(&project.bundle("a", ""));
    let broken = project.run(&[
        "deploy",
        "local",
        "--artifacts",
        project.bundle("broken", "export S3_PERSONA_KEY=nobody.txt").to_str().unwrap(),
    ]);
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    project.deploy(&project.bundle("c", ""));
    // Retained: c and a (the failed one keeps nothing): a's version 1 survives, 2 goes.
    let back = project.json(&["rollback", "local"]);
    assert_eq!(back["to"], a["release_id"], "{back}");
    assert_eq!(back["function_version"], "1");
}

#[test]
fn after_a_deploy_killed_mid_site_the_rollback_reads_the_bucket_and_restores_exactly() {
    let project = Project::new(300);
    project.bootstrap();
    project.deploy(&project.bundle("a", ""));
    let at_a = snapshot(&project);
    std::fs::write(project.path().join("site/index.html"), "<p>B</p>").unwrap();
    project.deploy(&project.bundle("b", ""));
    let at_b = snapshot(&project);

    // C rewrites every chunk; killed (SIGKILL) while its site upload runs.
    for n in 0..300 {
        std::fs::write(project.path().join(format!("site/_next/static/chunk-{n}.js")), format!("/* C {n} */")).unwrap();
    }
    let bundle = project.bundle("c", "");
    let frontend = project.json(&["status", "local"])["outputs"]["FrontendBucketName"].as_str().unwrap().to_owned();
    let started_uploading = || {
        let bucket = frontend.clone();
        with_emulator(|sdk| async move {
            let object =
                s3_client(&sdk).get_object().bucket(&bucket).key("_next/static/chunk-0.js").send().await.unwrap();
            object.body.collect().await.unwrap().into_bytes().as_ref() == b"/* C 0 */"
        })
    };
    let args = ["deploy", "local", "--parallel", "1", "--artifacts", bundle.to_str().unwrap()];
    assert!(kill_deploy_after(&project, &args, "✓ function", started_uploading));
    assert_ne!(served(&project), at_b.served, "the killed deploy changed part of the site");

    // B is still current; the manifests no longer describe the bucket, so it is read.
    let back = project.json(&["rollback", "local"]);
    assert_eq!(back["site_state"], "listed", "{back}");
    assert_restored(&project, &at_a, "a rollback after a killed deploy");
    let forward = project.json(&["rollback", "local"]);
    assert_eq!(forward["site_state"], "recorded", "the rollback's own record is trusted again: {forward}");
    assert_restored(&project, &at_b, "and forward again");
}

#[test]
fn when_the_alias_cannot_move_the_site_and_persona_are_put_back() {
    let project = Project::new(3);
    let (_, _, b, at_b) = deploy_a_then_b(&project);
    // The alias vanishes behind twinctl's back: the rollback's last origin step must fail.
    let function = project.json(&["status", "local"])["outputs"]["FunctionName"].as_str().unwrap().to_owned();
    with_emulator(|sdk| async move {
        aws_sdk_lambda::Client::new(&sdk).delete_alias().function_name(&function).name("live").send().await.unwrap();
    });
    let failed = project.run(&["rollback", "local"]);
    assert_eq!(failed.status.code(), Some(2), "an AWS failure: {}", stderr(&failed));
    let message = stderr(&failed);
    assert!(message.contains("were put back"), "{message}");
    assert_eq!(served(&project), at_b.served, "B's site again");
    assert_eq!(persona(&project), at_b.persona, "B's persona again");
    let history = releases(&project);
    assert_eq!(history["releases"][0]["kind"], "rollback");
    assert_eq!(history["releases"][0]["outcome"], "failed");
    assert_eq!(history["current"], b["release_id"], "B stays current");
}
