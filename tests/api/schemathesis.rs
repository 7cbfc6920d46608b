//! The whole API against its own OpenAPI document: schemathesis (a
//! property-based tester) calls every documented operation with generated
//! inputs, signed in as an admin, and checks that no answer is a 5xx, that
//! every status code and body is the documented one.
//!
//! `.ci/run` installs schemathesis and points `BAITECH_SCHEMATHESIS` at it.
//! Where it is not installed (a developer machine with only the Rust
//! toolchain) the test says so and passes, except under `CI=true`, where a
//! missing schemathesis is a failure.

use std::path::PathBuf;
use std::process::Stdio;

use crate::harness::TestServer;

fn schemathesis() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BAITECH_SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/st");
    if local.exists() {
        return Some(local);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("st"))
            .find(|p| p.is_file())
    })
}

/// The figures of schemathesis's summary: operations tested, cases
/// generated, and the closing line with the failure count.
fn summary(output: &str) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim).collect();
    let tested = lines.iter().find(|l| l.starts_with("Tested:"));
    let cases = lines
        .iter()
        .position(|l| l.starts_with("Test cases:"))
        .and_then(|i| lines.get(i + 1));
    let last = lines.iter().rev().find(|l| !l.is_empty());
    [tested, cases, last]
        .into_iter()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_conforms_to_the_document() {
    let Some(st) = schemathesis() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install schemathesis (see .ci/run)"
        );
        eprintln!("schemathesis is not installed: skipping the conformance run");
        return;
    };
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let examples = std::env::var("BAITECH_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let report = s.dir.path().join("schemathesis-junit.xml");
    let output = tokio::process::Command::new(&st)
        .arg("run")
        .arg(s.url("/api-docs.json"))
        .args(["--header", &format!("Authorization: Bearer {}", admin.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples])
        .args(["--seed", "20261201"])
        .args(["--request-timeout", "30"])
        .args(["--workers", "2"])
        .arg("--no-color")
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(&report)
        .current_dir(s.dir.path())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run schemathesis");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    println!("schemathesis: {}", summary(&text));
    assert!(
        output.status.success(),
        "schemathesis found documented-contract violations:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
