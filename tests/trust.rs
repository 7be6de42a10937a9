//! The store trusts nothing and pipe touches nothing outside the project: symlinks
//! that lead out are refused before anything runs, corrupt objects are caught and
//! quarantined instead of being fed downstream, and every pre-run check is a
//! configuration error (exit 2) that leaves no run record and an untouched cache.

mod support;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{alive, expect, Test};

/// a -> b: b copies a's file, so a corrupt `a` would flow into b.
const CHAIN: &str = r#"
name: chain
stages:
  a: {uses: shell, run: echo a >> ran.log; cat data.txt > $PIPE_OUT/a, deps: [data.txt]}
  b: {uses: shell, needs: [a], run: echo b >> ran.log; cat $PIPE_INPUT_A/a > $PIPE_OUT/b}
"#;

/// Every path under the cache with its size and mtime: "untouched" means this is unchanged.
fn snapshot(root: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut all = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            }
            all.push((entry.path(), meta.len(), meta.modified().unwrap()));
        }
    }
    all.sort();
    all
}

fn object(t: &Test, instance: &str) -> PathBuf {
    let record = t.last_record();
    let stage = record["stages"].as_array().unwrap().iter().find(|s| s["instance"] == instance).unwrap().clone();
    t.cache().join("objects").join(stage["key"].as_str().unwrap())
}

/// Overwrites a file of a sealed object, as a disk error or a careless hand would.
fn damage(file: &Path, contents: &str) {
    fs::set_permissions(file, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(file, contents).unwrap();
}

#[test]
fn an_out_through_a_symlink_leading_outside_is_refused_before_anything_is_deleted() {
    let t = Test::new().file("outside/sentinel.txt", "precious\n").file("proj/data.txt", "1\n");
    symlink("../outside", t.path().join("proj/link")).unwrap();
    t.write(
        "proj/p.yaml",
        "name: s\nstages:\n  a:\n    uses: shell\n    run: echo hi > link/sentinel.txt\n    outs: [link/sentinel.txt]\n",
    );
    let ran = t.command(&["run", "p.yaml"]).current_dir(t.path().join("proj")).output().unwrap();
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("p.yaml:6: stage `a`: `outs`: `link/sentinel.txt` resolves through a symbolic link"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(t.path().join("outside/sentinel.txt")).unwrap(), "precious\n");
    assert!(!t.path().join("proj/cache").exists(), "no run record, no cache");
}

#[test]
fn deps_through_links_must_stay_inside_and_links_inside_are_followed() {
    let t = Test::new().file("outside/secret.txt", "s\n").file("proj/data/x.txt", "1\n");
    symlink("../outside/secret.txt", t.path().join("proj/secret")).unwrap();
    symlink("data", t.path().join("proj/alias")).unwrap();
    let run = |yaml: &str| {
        t.write("proj/p.yaml", yaml);
        support::Ran::from(t.command(&["run", "p.yaml"]).current_dir(t.path().join("proj")).output().unwrap())
    };
    run("name: d\nstages:\n  a: {uses: shell, run: cat secret > $PIPE_OUT/a, deps: [secret]}\n")
        .code(2)
        .stderr_has("p.yaml:3: stage `a`: `deps`: `secret` resolves through a symbolic link to ");
    run("name: d\nstages:\n  a: {uses: shell, run: cat alias/x.txt > $PIPE_OUT/a, deps: [alias/x.txt]}\n").success();
    // A link inside a dep directory is refused too, before anything runs.
    symlink("../../outside", t.path().join("proj/data/escape")).unwrap();
    run("name: d\nstages:\n  a: {uses: shell, run: ls data > $PIPE_OUT/a, deps: [data]}\n")
        .code(2)
        .stderr_has("a symbolic link; pipe handles regular files only");
}

#[test]
fn links_a_command_makes_are_never_followed_into_the_store() {
    let t = Test::new().file("outside/sentinel.txt", "precious\n");
    let t = t.file("proj/p.yaml", "name: l\nstages:\n  a: {uses: shell, run: ln -s ../outside/sentinel.txt out.txt, outs: [out.txt]}\n  b: {uses: shell, run: ln -s /etc/passwd $PIPE_OUT/pw}\n");
    let ran = support::Ran::from(t.command(&["run", "p.yaml"]).current_dir(t.path().join("proj")).output().unwrap());
    ran.code(1)
        .stderr_has("out.txt: a symbolic link")
        .stderr_has("pw: a symbolic link")
        .stderr_has("2 stage(s) failed");
    assert_eq!(fs::read_to_string(t.path().join("outside/sentinel.txt")).unwrap(), "precious\n");
    assert!(fs::metadata("/etc/passwd").unwrap().permissions().mode() & 0o200 != 0, "/etc/passwd was not sealed");
    assert!(fs::read_dir(t.path().join("proj/cache/objects")).map_or(true, |mut d| d.next().is_none()));
}

#[test]
fn a_corrupt_artifact_is_quarantined_and_recomputed_never_fed_downstream() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let a = object(&t, "a");
    let mode = fs::metadata(a.join("a")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444, "committed files are read-only");
    assert_eq!(fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o555, "and so is the object directory");
    damage(&a.join("a"), "evil\n");
    t.run(&["run", "p.yaml"])
        .success()
        .stderr_has(&format!("warning: object {} is corrupt: a: blake3 ", a.file_name().unwrap().to_string_lossy()))
        .stderr_has("it will be recomputed");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "cached")]));
    assert_eq!(fs::read_to_string(object(&t, "b").join("b")).unwrap(), "good\n");
    assert_eq!(fs::read_to_string(a.join("a")).unwrap(), "good\n");
    assert_eq!(t.cache_entries("quarantine").len(), 1);
    t.run(&["gc"]).success().stdout_has("1 leftover(s)");
    assert!(t.cache_entries("quarantine").is_empty());
}

/// A team's cache shared read-only: an object touched since it was stamped is hashed and
/// served; a corrupt one is left where it is (this user cannot move it), named once and taken
/// as missing, and a command its owner runs quarantines it.
#[test]
fn a_cache_its_user_cannot_write_serves_status_past_a_touched_or_corrupt_object() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let a = object(&t, "a");
    let shared = |mode| fs::set_permissions(t.cache(), fs::Permissions::from_mode(mode)).unwrap();
    // The same bytes with another mtime, as a copy without -p leaves them.
    let file = fs::File::options().write(true).open(a.join("a")).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000)).unwrap();
    shared(0o555);
    t.run_unprivileged(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    shared(0o755);
    damage(&a.join("a"), "evil\n");
    shared(0o555);
    let status = t.run_unprivileged(&["status", "p.yaml"]).success().stdout_has("2 of 2 stage instance(s) stale");
    let said = status.stderr.matches("left in place, as this cache is read-only to you").count();
    assert_eq!(said, 1, "{}", status.stderr);
    assert!(a.exists() && t.cache_entries("quarantine").is_empty());
    shared(0o755);
    t.run(&["status", "p.yaml"]).success().stderr_has("moved to ");
    assert_eq!(t.cache_entries("quarantine").len(), 1);
}

#[test]
fn a_file_slipped_into_an_object_or_a_changed_execute_bit_is_caught_before_a_stage_reads_it() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let a = object(&t, "a");
    // Same files, same sizes and mtimes: only the listing shows the stray one.
    fs::set_permissions(&a, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(a.join("extra.txt"), "stray\n").unwrap();
    t.run(&["run", "p.yaml", "--force", "--stage", "b"])
        .success()
        .stderr_has("extra.txt: not in the manifest")
        .stderr_has("it will be recomputed");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "ran")]));
    assert!(!object(&t, "a").join("extra.txt").exists());
    fs::set_permissions(a.join("a"), fs::Permissions::from_mode(0o555)).unwrap();
    t.run(&["run", "p.yaml"]).success().stderr_has("a: executable, which the manifest does not say");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "cached")]));
}

#[test]
fn an_empty_directory_slipped_into_an_object_is_caught_by_verify_and_before_a_stage_reads_it() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let a = object(&t, "a");
    // No file changes: only listing the directories shows it, nested or at the top.
    fs::set_permissions(&a, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir_all(a.join("stray/deeper")).unwrap();
    t.run(&["verify", "--all"]).code(1).stdout_has("stray/deeper: an empty directory the manifest does not list");
    t.run(&["run", "p.yaml"])
        .success()
        .stderr_has("stray/deeper: an empty directory the manifest does not list")
        .stderr_has("it will be recomputed");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "cached")]));
    assert!(!object(&t, "a").join("stray").exists());
    t.run(&["verify", "--all"]).success().stdout_has("0 corrupt");

    // A stamp from before stamps listed empty directories (none written) may be on an object
    // from before manifests listed them, which can hold one: it passes, and is not recomputed.
    let a = object(&t, "a");
    fs::set_permissions(&a, fs::Permissions::from_mode(0o755)).unwrap();
    let mut stamp: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(a.join("stamp.json")).unwrap()).unwrap();
    assert_eq!(stamp.as_object_mut().unwrap().remove("empty_dirs"), Some(serde_json::json!([])));
    fs::set_permissions(a.join("stamp.json"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(a.join("stamp.json"), stamp.to_string()).unwrap();
    fs::create_dir(a.join("logs")).unwrap();
    let ran = t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    assert!(!ran.stderr.contains("it will be recomputed"), "{}", ran.stderr);
    t.run(&["verify", "--all"]).success().stdout_has("0 corrupt");
}

/// `mk` leaves an empty directory in its out and in its artifact, and an executable out
/// that `use` runs from both places.
const SHAPE: &str = r#"
name: shape
stages:
  mk:
    uses: shell
    run: "mkdir -p logs $PIPE_OUT/ckpt; printf '#!/bin/sh\necho hello\n' > tool.sh; chmod +x tool.sh"
    outs: [logs, tool.sh]
  use:
    uses: shell
    needs: [mk]
    run: ls -d logs $PIPE_INPUT_MK/ckpt | wc -l > $PIPE_OUT/seen; ./tool.sh >> $PIPE_OUT/seen; $PIPE_INPUT_MK/tool.sh >> $PIPE_OUT/seen
"#;

#[test]
fn empty_directories_and_execute_bits_survive_the_store_checkout_and_a_remote() {
    let (a, b) = (Test::new().pipeline(SHAPE), Test::new().pipeline(SHAPE));
    let remote = format!("--remote=file://{}/remote", a.path().display());
    a.run(&["run", "p.yaml", "--push", &remote]).success();
    let seen = fs::read_to_string(object(&a, "use").join("seen")).unwrap();
    assert_eq!(seen, "2\nhello\nhello\n");
    let mk = object(&a, "mk");
    assert_eq!(fs::metadata(mk.join("tool.sh")).unwrap().permissions().mode() & 0o777, 0o555);
    let manifest = fs::read_to_string(mk.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"empty_dirs\": [\n    \"ckpt\",\n    \"logs\"\n  ]"), "{manifest}");
    fs::remove_file(a.path().join("tool.sh")).unwrap();
    fs::remove_dir(a.path().join("logs")).unwrap();
    a.run(&["checkout", "p.yaml"]).success().stderr_has("restored logs").stderr_has("restored tool.sh");
    assert_eq!(fs::metadata(a.path().join("tool.sh")).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(a.path().join("logs").is_dir());
    // Another machine: mk comes from the remote, and use runs there as it ran here.
    b.run(&["run", "p.yaml", &remote, "--stage", "mk"]).success().stdout_has("1 pulled");
    assert!(b.path().join("logs").is_dir() && object(&b, "mk").join("ckpt").is_dir());
    b.run(&["run", "p.yaml", "--force", "--stage", "use"]).success();
    assert_eq!(fs::read_to_string(object(&b, "use").join("seen")).unwrap(), seen);
    b.run(&["verify", "--all"]).success().stdout_has("0 corrupt");
    // An object that lost its empty directory is corrupt, as one that lost a file.
    let ckpt = object(&b, "mk").join("ckpt");
    fs::set_permissions(object(&b, "mk"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir(ckpt).unwrap();
    b.run(&["verify", "--all"]).code(1).stdout_has("ckpt: an empty directory of the manifest, missing");
}

#[test]
fn the_cheap_check_costs_no_rehash_and_a_matching_stamp_hides_nothing_from_verify() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    t.run(&["verify", "p.yaml"]).success().stdout_has("verified 2 object(s), 10 file(s)").stdout_has("0 corrupt");
    // Same size, same mtime: invisible to the stat check, caught by the re-hash.
    support::rot(&object(&t, "b").join("b"), b"evil\n");
    let key = object(&t, "b").file_name().unwrap().to_string_lossy().into_owned();
    t.run(&["verify", "--all"])
        .code(1)
        .stdout_has(&format!("corrupt {key} b: blake3 "))
        .stdout_has("1 corrupt")
        .stderr_has("`pipe verify --repair` quarantines them");
    let json = t.run(&["verify", "--all", "--repair", "--json"]).code(1);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["corrupt"][0]["key"], key.as_str());
    assert!(report["corrupt"][0]["quarantined"].as_str().unwrap().contains("/quarantine/"));
    t.run(&["verify", "--all"]).success().stdout_has("verified 1 object(s)");
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "cached"), ("b", "ran")]));
    t.run(&["verify"]).code(2).stderr_has("--all");
    // A lock file from another store (or a stage that writes other bytes each time) names
    // another artifact for an intact object: reported, never quarantined.
    let lock = fs::read_to_string(t.path().join("p.lock")).unwrap();
    let artifact = t.last_record()["stages"][1]["artifact"].as_str().unwrap().to_string();
    t.write("p.lock", &lock.replace(&artifact, &"0".repeat(64)));
    let quarantined = t.cache_entries("quarantine");
    t.run(&["verify", "p.yaml", "--repair"])
        .code(1)
        .stdout_has(&format!("differs {key}: artifact hash {artifact}, the lock file says 0000"))
        .stdout_has("0 corrupt, 1 differing from the lock file")
        .stderr_has("1 intact object(s) differ from the lock file");
    assert_eq!(t.cache_entries("quarantine"), quarantined, "the intact object stays");
    // A clone with the lock file and no store yet: nothing is corrupt, what to fetch is listed.
    let clone = Test::new().pipeline(CHAIN).file("p.lock", &lock);
    clone
        .run(&["verify", "p.yaml"])
        .success()
        .stdout_has(&format!("missing {key} (named by the lock file, not in the store)"))
        .stdout_has("0 corrupt, 2 missing (`pipe pull` or `pipe run` brings them)");
}

#[test]
fn an_input_rotted_without_a_change_of_size_or_mtime_is_never_read_by_a_stage() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let key = object(&t, "a").file_name().unwrap().to_string_lossy().into_owned();
    support::rot(&object(&t, "a").join("a"), b"evil\n");
    // b's command changes, so b runs on a's cached artifact, which passes the stat check.
    t.write("p.yaml", &CHAIN.replace("cat $PIPE_INPUT_A/a >", "cat $PIPE_INPUT_A/a $PIPE_INPUT_A/a >"));
    t.run(&["run", "p.yaml"])
        .code(1)
        .stdout_has("0 ran, 0 cached, 2 failed")
        .stderr_has(&format!(
            "error: stage `b`: its input from `a` failed its re-hash, so `b` did not run: object {key} is corrupt: a: \
             blake3 "
        ))
        .stderr_has("; moved to ")
        .stderr_has("the next `pipe run` computes `a` again");
    // a is not recorded as found: its object is gone to quarantine.
    assert_eq!(t.statuses(), expect(&[("a", "failed"), ("b", "failed")]));
    let a = &t.last_record()["stages"][0];
    assert!(a["error"].as_str().unwrap().starts_with("its artifact failed its re-hash when `b` was to read it"), "{a}");
    assert_eq!(t.lines("ran.log"), ["a", "b"], "b's command never ran");
    assert_eq!(t.cache_entries("quarantine").len(), 1);
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "ran")]));
    assert_eq!(fs::read_to_string(object(&t, "b").join("b")).unwrap(), "good\ngood\n");
}

#[test]
fn model_limits_and_an_ablation_reference_are_checked_before_any_stage_runs() {
    let tiny = include_str!("pipelines/tiny.yaml");
    let sweep = include_str!("pipelines/tiny_ablations.yaml");
    let t = Test::new().file("tiny.yaml", tiny).file("sweep.yaml", sweep);
    let cases: [(&str, &str, &str); 4] = [
        ("sweep.yaml", "ablate.reference={pooling: max}", "--set ablate.reference: stage `ablate`: `reference`: no variant has pooling=max; variants: `evaluate[pooling=cls]`, `evaluate[pooling=mean]`"),
        ("tiny.yaml", "train.num_layers=5", "stage `train`: `num_layers`: must be 1..=2 for pipe-fixtures/tiny-bert, got 5"),
        ("tiny.yaml", "tokenize.max_len=200", "stage `tokenize`: `max_len`: 200 is more than the 128 positions"),
        ("tiny.yaml", "params.model=tiny-copy", "stage `train`: `model`: `tiny-copy` (tokenize's) is a local directory"),
    ];
    fs::create_dir(t.path().join("tiny-copy")).unwrap();
    fs::write(t.path().join("tiny-copy/tokenizer.json"), "{}").unwrap();
    for (file, set, message) in cases {
        t.run_hub(&["run", file, "--set", set]).code(2).stderr_has(message);
        t.run_hub(&["status", file, "--set", set]).code(2).stderr_has(message);
        assert!(!t.cache().exists(), "{set}: nothing ran, no record");
    }
}

#[test]
fn every_pre_run_check_exits_2_with_file_and_line_and_leaves_the_cache_untouched() {
    let t = Test::new().pipeline(CHAIN).file("data.txt", "good\n");
    t.run(&["run", "p.yaml"]).success();
    let before = snapshot(&t.cache());
    let cases: [(&str, &[&str], &str); 11] = [
        ("name: x\nstages:\n  a: {uses: shell, run: [}\n", &[], "p.yaml:3"),
        ("name: x\nstages: {}\n", &[], "p.yaml:2: `stages:` is empty"),
        ("name: x\nstages:\n  a:\n    uses: shell\n    neds: [b]\n", &[], "p.yaml:5: stage `a`: unknown key `neds`"),
        (
            "name: x\nstages:\n  a:\n    uses: split\n    with:\n      train_dev_split: lots\n",
            &[],
            "p.yaml:6: stage `a`: invalid params",
        ),
        (
            "name: x\nstages:\n  a: {uses: shell, run: x, needs: [b]}\n  b: {uses: shell, run: x, needs: [a]}\n",
            &[],
            "cycle",
        ),
        (
            "name: x\nstages:\n  a:\n    uses: shel\n    run: x\n",
            &[],
            "p.yaml:4: stage `a`: unknown stage kind `shel` (did you mean `shell`?); known kinds: ablate, ",
        ),
        (CHAIN, &["--set", "a.nope"], "--set"),
        (CHAIN, &["--set", "params.nope=1"], "params.nope"),
        (
            "name: x\nstages:\n  a:\n    uses: shell\n    run: x\n    deps: [missing.txt]\n",
            &[],
            "p.yaml:6: stage `a`: `deps`: `missing.txt` cannot be read",
        ),
        ("name: x\nstages:\n  a:\n    uses: shell\n    run: x\n    outs: [../x]\n", &[], "p.yaml:6: stage `a`"),
        ("name: x\nstages:\n  a:\n    uses: shell\n    run: x\n    deps: [/etc/passwd]\n", &[], "p.yaml:6: stage `a`"),
    ];
    for (yaml, extra, expected) in cases {
        t.write("bad.yaml", yaml);
        let mut args = vec!["run", "bad.yaml"];
        args.extend(extra);
        let ran = t.run(&args).code(2);
        assert!(ran.stderr.contains(&expected.replace("p.yaml", "bad.yaml")), "{yaml}: {}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
        assert_eq!(snapshot(&t.cache()), before, "{yaml}: the cache changed");
        assert!(!t.path().join("bad.lock").exists());
    }
    // A dep that an upstream stage's out produces need not exist beforehand.
    let made = "name: m\nstages:\n  make: {uses: shell, run: echo 1 > made.txt, outs: [made.txt]}\n  use: {uses: shell, needs: [make], run: cat made.txt > $PIPE_OUT/u, deps: [made.txt]}\n";
    t.write("made.yaml", made);
    t.run(&["run", "made.yaml"]).success().stdout_has("2 ran");
}

#[test]
fn a_process_the_command_leaves_in_the_background_is_ended_with_it() {
    let t = Test::new()
        .pipeline("name: t\nstages:\n  a: {uses: shell, run: 'sleep 600 & echo $! > bg.pid; echo A > $PIPE_OUT/a'}\n");
    let mut child = t.spawn(&["run", "p.yaml"]);
    // Not a timing: without the kill the run would end after the sleep's 600 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run waited for the background `sleep 600`");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    let pid = t.lines("bg.pid")[0].clone();
    assert!(!alive(&pid), "sleep {pid} outlived the stage");
}

#[test]
fn sigterm_stops_the_run_like_ctrl_c_and_records_it_as_interrupted() {
    let t = Test::new().pipeline(
        "name: t\nstages:\n  a: {uses: shell, run: echo A > $PIPE_OUT/a}\n  b: {uses: shell, needs: [a], run: 'sleep 60 & echo $! > sleep.pid; wait'}\n  c: {uses: shell, needs: [b], run: touch $PIPE_OUT/c}\n",
    );
    let child = t.spawn(&["run", "p.yaml"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !t.path().join("sleep.pid").exists() {
        assert!(Instant::now() < deadline, "stage b never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("interrupted b") && !stderr.contains("failed b"), "{stderr}");
    let pid = t.lines("sleep.pid")[0].clone();
    while alive(&pid) {
        assert!(Instant::now() < deadline, "the stage's `sleep 60` outlived the terminated pipe");
        std::thread::sleep(Duration::from_millis(20));
    }
    let record = t.last_record();
    assert_eq!(record["interrupted"], true, "{record}");
    assert_eq!(t.statuses(), expect(&[("a", "ran"), ("b", "interrupted"), ("c", "skipped")]));
    assert!(t.cache_entries("tmp").is_empty(), "no half-made artifact is left: {:?}", t.cache_entries("tmp"));
    assert_eq!(t.cache_entries("objects").len(), 1);
    t.run(&["runs"]).success().stdout_has(" interrupted ");
}

#[test]
fn ctrl_c_stops_a_training_between_steps_and_keeps_what_ran_before() {
    // Five epochs of the full training split: minutes for the tiny model, so a train
    // stage that finished before honouring the stop would be recorded as ran.
    let t = Test::new().pipeline(
        "name: t\nstages:\n  download: {uses: download, with: {dataset: stanfordnlp/sst2}}\n  split: {uses: split, needs: [download]}\n  tokenize: {uses: tokenize, needs: [split], with: {model: pipe-fixtures/tiny-bert, max_len: 64}}\n  train: {uses: train, needs: [tokenize], with: {epochs: 5}}\n  evaluate: {uses: evaluate, needs: [train, tokenize, split]}\n",
    );
    let mut child = t
        .command(&["run", "p.yaml"])
        .env("HF_HOME", pipe_stages::testkit::use_offline_hub())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pipe starts");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(stderr).map_while(Result::ok);
    assert!(lines.any(|l| l.contains("running train")), "the train stage never started");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: sends a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    // Drain the rest so that pipe never blocks on a full pipe.
    let rest: Vec<String> = lines.collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{}", rest.join("\n"));
    let statuses = t.statuses();
    assert_eq!(
        statuses,
        expect(&[
            ("download", "ran"),
            ("split", "ran"),
            ("tokenize", "ran"),
            ("train", "interrupted"),
            ("evaluate", "skipped")
        ]),
        "{}",
        rest.join("\n")
    );
    assert!(t.cache_entries("tmp").is_empty(), "no half-made artifact is left: {:?}", t.cache_entries("tmp"));
    assert_eq!(t.cache_entries("objects").len(), 3, "the three finished stages stay cached");
}
