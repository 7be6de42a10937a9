//! Black-box tests of bad inputs found before anything runs: a shell dep that cannot be
//! read is a configuration error (exit 2) naming file:line, stage and key, whether it is
//! the dep itself or a file inside a dep directory, and no run record is written.

mod support;

use std::os::unix::fs::PermissionsExt;

use support::Test;

fn unreadable(t: &Test, rel: &str) {
    std::fs::set_permissions(t.path().join(rel), std::fs::Permissions::from_mode(0o000)).unwrap();
}

#[test]
fn an_unreadable_dep_file_is_a_configuration_error_before_anything_runs() {
    let t = Test::new()
        .pipeline("name: u\nstages:\n  a: {uses: shell, run: cat d.txt > a.txt, deps: [d.txt], outs: [a.txt]}\n")
        .file("d.txt", "x\n");
    unreadable(&t, "d.txt");
    let ran = t.run_unprivileged(&["run", "p.yaml"]).code(2).stderr_has("p.yaml:3: stage `a`: `deps`: `d.txt`: ");
    assert!(ran.stderr.contains("Permission denied"), "{}", ran.stderr);
    assert!(t.cache_entries("runs").is_empty(), "no run record");
}

#[test]
fn an_unreadable_file_inside_a_dep_directory_is_the_same_error() {
    let t = Test::new()
        .pipeline("name: u\nstages:\n  a: {uses: shell, run: ls ddir > a.txt, deps: [ddir], outs: [a.txt]}\n")
        .file("ddir/ok.txt", "x\n")
        .file("ddir/secret.txt", "y\n");
    unreadable(&t, "ddir/secret.txt");
    let ran = t.run_unprivileged(&["run", "p.yaml"]).code(2).stderr_has("p.yaml:3: stage `a`: `deps`: `ddir`: ");
    assert!(ran.stderr.contains("secret.txt: Permission denied"), "{}", ran.stderr);
    assert!(!ran.stdout.contains("STAGE"), "no run table: {}", ran.stdout);
    assert!(t.cache_entries("runs").is_empty(), "no run record");
}

#[test]
fn status_names_why_an_instance_is_broken() {
    // A hub model missing from the cache: the key cannot be computed.
    let t =
        Test::new().pipeline("name: b\nstages:\n  t: {uses: tokenize, with: {model: pipe-fixtures/no-such-model}}\n");
    let ran = t.run_hub(&["status", "p.yaml"]);
    assert!(ran.stdout.contains("broken"), "{}\n{}", ran.stdout, ran.stderr);
    let line = ran.stdout.lines().skip_while(|l| !l.contains("broken")).nth(1).unwrap_or_default().to_string();
    assert!(line.contains("- ") && line.contains("no-such-model"), "a reason under the row: {}", ran.stdout);
}
