//! The binary as a process: a parent that runs it on a pipe can die without stopping it, and it
//! must not outlive the parent (twinctl's local functions).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start(exit_with_stdin: bool, port: u16) -> std::process::Child {
    let dir = tempfile::tempdir().unwrap();
    let persona = dir.path().join("me.txt");
    std::fs::write(&persona, "I am a test twin.\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_twin-runtime"));
    command
        .env_clear()
        .env("ENVIRONMENT", "local")
        .env("LOCAL_PERSONA_PATH", &persona)
        .env("LOCAL_STORAGE_PATH", dir.path().join("sessions"))
        .env("TWIN_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if exit_with_stdin {
        command.env("TWIN_EXIT_WITH_STDIN", "1");
    }
    // The directory must outlive the process: leak it for the test's duration.
    std::mem::forget(dir);
    command.spawn().unwrap()
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the runtime did not start listening");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn exited_within(child: &mut std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

#[test]
fn with_exit_with_stdin_the_end_of_stdin_stops_it_cleanly() {
    let port = free_port();
    let mut child = start(true, port);
    wait_listening(port);
    drop(child.stdin.take());
    assert!(exited_within(&mut child, Duration::from_secs(10)), "it outlived its parent's pipe");
    assert!(child.wait().unwrap().success(), "a clean shutdown");
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("standard input closed"), "{log}");
}

#[test]
fn without_it_the_end_of_stdin_changes_nothing() {
    let port = free_port();
    let mut child = start(false, port);
    wait_listening(port);
    drop(child.stdin.take());
    assert!(!exited_within(&mut child, Duration::from_secs(1)), "stdin is not a signal unless asked");
    child.kill().unwrap();
    child.wait().unwrap();
}
