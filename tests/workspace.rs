//! Black-box tests of workspace outs: `pipe run` and `pipe checkout` put the declared
//! outs of cached shell stages back into the pipeline's directory.

mod support;

use support::Test;

/// `counts` declares a file out, `parts` a directory out; both log their runs to ran.log.
const OUTS: &str = r#"
name: outs
params:
  n: 1
stages:
  counts:
    uses: shell
    run: echo counts >> ran.log; wc -l < data.txt > counts.txt; echo ${params.n} >> counts.txt
    deps: [data.txt]
    outs: [counts.txt]
  parts:
    uses: shell
    needs: [counts]
    run: echo parts >> ran.log; mkdir -p parts/deep; cp $PIPE_INPUT_COUNTS/counts.txt parts/deep/c; echo x > parts/x
    outs: [parts/]
"#;

fn outs() -> Test {
    Test::new().pipeline(OUTS).file("data.txt", "a\nb\nc\n")
}

fn read(t: &Test, rel: &str) -> String {
    std::fs::read_to_string(t.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn run_restores_a_deleted_out_of_a_cached_stage() {
    let t = outs();
    t.run(&["run", "p.yaml"]).success().stdout_has("2 ran, 0 cached");
    let counts = read(&t, "counts.txt");
    std::fs::remove_file(t.path().join("counts.txt")).unwrap();
    std::fs::remove_dir_all(t.path().join("parts")).unwrap();
    t.run(&["status", "p.yaml"])
        .success()
        .stdout_has("0 of 2 stage instance(s) stale")
        .stdout_has("`parts/` is not in the workspace: `pipe run` or `pipe checkout` restores it");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached").stderr_has("restored counts.txt (out of counts)");
    assert_eq!(read(&t, "counts.txt"), counts);
    assert_eq!(read(&t, "parts/deep/c"), counts);
    assert_eq!(read(&t, "parts/x"), "x\n");
    assert_eq!(t.lines("ran.log").len(), 2, "nothing ran again");
}

#[test]
fn an_out_changed_by_hand_is_reported_and_kept_unless_forced() {
    let t = outs();
    t.run(&["run", "p.yaml"]).success();
    let counts = read(&t, "counts.txt");
    t.write("counts.txt", "my notes\n");
    t.run(&["status", "p.yaml"]).success().stdout_has(
        "`counts.txt` was changed by hand: `pipe run` keeps it; `pipe checkout --force p.yaml` restores `counts`'s",
    );
    // A stale stage rewrites its outs: status says so before the edit is lost.
    t.run(&["status", "p.yaml", "--set", "params.n=5"])
        .success()
        .stdout_has("`counts.txt` was changed by hand: running `counts` replaces it");
    t.run(&["run", "p.yaml"]).success().stderr_has("warning: counts.txt (out of counts) differs");
    assert_eq!(read(&t, "counts.txt"), "my notes\n");
    t.run(&["checkout", "p.yaml"]).code(1).stdout_has("1 changed by hand and kept");
    assert_eq!(read(&t, "counts.txt"), "my notes\n");
    t.run(&["checkout", "p.yaml", "--force"]).success().stderr_has("overwrote counts.txt");
    assert_eq!(read(&t, "counts.txt"), counts);
    t.run(&["checkout", "p.yaml"]).success().stdout_has("0 restored, 0 overwritten, 2 already current");
}

#[test]
fn switching_back_to_a_cached_param_replaces_pipes_own_earlier_out() {
    let t = outs();
    t.run(&["run", "p.yaml"]).success();
    let first = read(&t, "counts.txt");
    t.run(&["run", "p.yaml", "--set", "params.n=2"]).success().stdout_has("2 ran");
    assert_ne!(read(&t, "counts.txt"), first);
    t.run(&["status", "p.yaml"]).success().stdout_has("`counts.txt` holds another run's output");
    // Not the user's work: the out of the artifact the lock file recorded last.
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached").stderr_has("restored counts.txt");
    assert_eq!(read(&t, "counts.txt"), first);
}

#[test]
fn an_older_lock_file_brings_back_its_outs_pipe_wrote_them_for_another_run() {
    let t = outs();
    t.run(&["run", "p.yaml"]).success();
    let (first, lock) = (read(&t, "counts.txt"), read(&t, "p.lock"));
    t.run(&["run", "p.yaml", "--set", "params.n=2"]).success();
    // `git checkout` of the older lock file: the outs are pipe's, of the newer run.
    t.write("p.lock", &lock);
    t.run(&["status", "p.yaml"]).success().stdout_has("`counts.txt` holds another run's output");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached").stderr_has("restored counts.txt");
    assert_eq!(read(&t, "counts.txt"), first);
    assert_eq!(read(&t, "parts/deep/c"), first);
}

#[test]
fn checkout_restores_one_stage_and_names_stages_not_in_the_store() {
    let t = outs();
    t.run(&["checkout", "p.yaml"]).success().stderr_has("counts is not in the store");
    t.run(&["run", "p.yaml"]).success();
    std::fs::remove_file(t.path().join("counts.txt")).unwrap();
    std::fs::remove_dir_all(t.path().join("parts")).unwrap();
    t.run(&["checkout", "p.yaml", "--stage", "parts"]).success().stdout_has("1 restored");
    assert!(t.path().join("parts/deep/c").exists());
    assert!(!t.path().join("counts.txt").exists(), "only the selected stage's outs");
}

/// A team's cache shared read-only (here one the test's user, `nobody` under root, cannot
/// write): `checkout` still puts outs back. It locks each out through the existing lock file
/// opened read-only, which a run writing that out also locks; where none was ever made it
/// goes on without one.
#[test]
fn checkout_restores_outs_from_a_cache_its_user_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let t = outs();
    t.run(&["run", "p.yaml"]).success();
    let counts = read(&t, "counts.txt");
    let chmod = |rel: &str, mode: u32| {
        let path = t.cache().join(rel);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    for locks in ["made by the run", "never made"] {
        std::fs::remove_file(t.path().join("counts.txt")).unwrap();
        std::fs::remove_dir_all(t.path().join("parts")).unwrap();
        chmod("locks", 0o555);
        chmod("", 0o555);
        t.run_unprivileged(&["checkout", "p.yaml"]).success().stdout_has("2 restored");
        chmod("", 0o755);
        chmod("locks", 0o755);
        assert_eq!(read(&t, "counts.txt"), counts, "lock files {locks}");
        assert_eq!(read(&t, "parts/deep/c"), counts, "lock files {locks}");
        // The next round finds none (nor, as nothing could make it, does the one after).
        let _ = std::fs::remove_dir_all(t.cache().join("locks"));
    }
}

/// A pipeline whose only stages are `stages` (YAML lines under `stages:`), with data.txt and an
/// earlier run's cache: refused before anything runs, with `message`, nothing lost.
fn refused(stages: &str, message: &str) {
    let t = Test::new().pipeline("name: ok\nstages:\n  a: {uses: shell, run: echo a > a.txt, outs: [a.txt]}\n");
    t.run(&["run", "p.yaml"]).success();
    let records = t.cache_entries("runs");
    let yaml = format!("name: bad\nstages:\n{stages}");
    t.write("p.yaml", &yaml);
    t.write("data.txt", "mine\n");
    t.run(&["run", "p.yaml"]).code(2).stderr_has(message);
    t.run(&["run", "p.yaml", "--dry-run"]).code(2).stderr_has(message);
    t.run(&["status", "p.yaml"]).code(2).stderr_has(message);
    assert_eq!(std::fs::read_to_string(t.path().join("p.yaml")).unwrap(), yaml, "{stages}");
    assert_eq!(t.lines("data.txt"), ["mine"], "{stages}");
    assert_eq!(t.cache_entries("runs"), records, "no run record: {stages}");
    assert!(!t.cache_entries("objects").is_empty(), "the store is intact: {stages}");
}

#[test]
fn outs_that_would_remove_pipes_own_files_or_collide_are_refused_before_anything_runs() {
    let out = |path: &str| format!("  x: {{uses: shell, run: echo hi, outs: [\"{path}\"]}}\n");
    refused(&out("."), "p.yaml:3: stage `x`: `outs`: `.` is the pipeline's directory");
    refused(&out("./"), "`./` is the pipeline's directory");
    refused(&out("cache"), "`cache` is pipe's cache");
    refused(&out("cache/objects"), "`cache/objects` lies in pipe's cache");
    refused(&out("p.yaml"), "`p.yaml` is the pipeline file");
    refused(&out("p.lock"), "`p.lock` is the pipeline's lock file");
    refused(
        "  x: {uses: shell, run: echo 1 > o, outs: [o]}\n  y: {uses: shell, run: echo 2 > o/g, outs: [o/g]}\n",
        "stage `x`: `outs`: `o` overlaps out `o/g` of `y`: two stages cannot write the same path",
    );
    refused(
        "  x: {uses: shell, run: 'echo $PIPE_INSTANCE > o', outs: [o], matrix: {n: [1, 2]}}\n",
        "stage `x[n=1]`: `outs`: `o` overlaps out `o` of `x[n=2]`",
    );
    refused(
        "  x: {uses: shell, run: sort data.txt > data.txt, deps: [data.txt], outs: [data.txt]}\n",
        "`data.txt` overlaps the stage's own dep `data.txt`: a stage cannot read what it writes",
    );
}

#[test]
fn a_dep_another_stage_writes_needs_that_stage_and_no_dep_holds_the_cache_or_lock_file() {
    refused(
        "  gen: {uses: shell, run: echo 1 > gen.txt, outs: [gen.txt]}\n  \
         read: {uses: shell, run: cat gen.txt, deps: [gen.txt]}\n",
        "p.yaml:4: stage `read`: `deps`: `gen.txt` overlaps out `gen.txt` of `gen`, which this stage does not need: \
         add `needs: [gen]`",
    );
    refused("  x: {uses: shell, run: ls, deps: [.]}\n", "`.` holds the pipeline's lock file");
    refused("  x: {uses: shell, run: ls, deps: [cache/runs]}\n", "`cache/runs` lies in pipe's cache");
    let t = Test::new().pipeline(
        "name: ok\nstages:\n  gen: {uses: shell, run: echo 1 > gen.txt, outs: [gen.txt]}\n  \
         read: {uses: shell, needs: [gen], run: cat gen.txt > $PIPE_OUT/c, deps: [gen.txt]}\n",
    );
    t.run(&["run", "p.yaml"]).success().stdout_has("2 ran");
}

#[test]
fn overlaps_are_judged_where_paths_lead_and_other_tools_files_are_no_outs() {
    let t = Test::new().file("data/in.txt", "mine\n");
    std::os::unix::fs::symlink("data", t.path().join("alias")).unwrap();
    let refuse = |stages: &str, message: &str| {
        t.write("p.yaml", &format!("name: x\nstages:\n{stages}"));
        t.run(&["run", "p.yaml"]).code(2).stderr_has(message);
    };
    refuse(
        "  a: {uses: shell, run: echo A > data/o.txt, outs: [data/o.txt]}\n  b: {uses: shell, run: echo B > alias/o.txt, outs: [alias/o.txt]}\n",
        "`data/o.txt` overlaps out `alias/o.txt` of `b`",
    );
    refuse(
        "  c: {uses: shell, run: cat alias/in.txt > data/in.txt, deps: [alias/in.txt], outs: [data/in.txt]}\n",
        "`data/in.txt` overlaps the stage's own dep `alias/in.txt`",
    );
    refuse(
        "  b: {uses: shell, run: ls data, deps: [data]}\n  c: {uses: shell, needs: [b], run: echo > data/c.txt, outs: [data/c.txt]}\n",
        "`data` overlaps out `data/c.txt` of `c`, which runs after this stage (it needs it)",
    );
    for tool in [".git", ".dvc", ".pipe.yaml"] {
        refuse(&format!("  a: {{uses: shell, run: 'true', outs: ['{tool}']}}\n"), &format!("`{tool}` is "));
    }
    assert_eq!(t.lines("data/in.txt"), ["mine"]);
    // A cache named through a folder that does not exist yet is still the cache.
    t.write("p.yaml", "name: x\nstages:\n  a: {uses: shell, run: 'true', outs: [store]}\n");
    t.run(&["--cache", "nowhere/../store", "run", "p.yaml"]).code(2).stderr_has("`store` is pipe's cache");
}

#[test]
fn status_and_dry_run_judge_a_stage_reading_an_upstream_out_once_the_run_would_put_it_back() {
    let yaml =
        "name: r\nparams: {n: 3}\nstages:\n  a: {uses: shell, run: 'echo ${params.n} > a.txt', outs: [a.txt]}\n  \
                b: {uses: shell, needs: [a], run: 'cat a.txt > b.txt', deps: [a.txt], outs: [b.txt]}\n";
    let t = Test::new().pipeline(yaml);
    t.run(&["run", "p.yaml"]).success();
    // Missing, then another run's: what the workspace holds is not what the run will hash.
    for change in [&["--set", "params.n=4"][..], &[]] {
        match change {
            [] => std::fs::remove_file(t.path().join("a.txt")).unwrap(),
            set => {
                t.run(&[&["run", "p.yaml"][..], set].concat()).success();
            }
        }
        t.run(&["status", "p.yaml", "--why"])
            .success()
            .stdout_has("judged once `a.txt` (out of `a`) is back in the workspace: `pipe run` puts it back first");
        t.run(&["run", "p.yaml", "--dry-run"])
            .success()
            .stdout_has("run or reuse, once `a.txt` (out of `a`) is put back");
        t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    }
}

/// Outs named as the engine's artifact metadata (`params.json`), or as the directory the
/// artifact keeps such outs in (`outs.pipe`); `read` finds them there in its upstream.
const RESERVED_NAMES: &str = r#"
name: reserved
params:
  n: 1
stages:
  write:
    uses: shell
    run: |
      echo write >> ran.log; echo '{"n": ${params.n}}' > params.json; mkdir -p outs.pipe; echo ${params.n} > outs.pipe/x
    outs: [params.json, outs.pipe]
  read:
    uses: shell
    needs: [write]
    run: cat $PIPE_INPUT_WRITE/outs.pipe/params.json $PIPE_INPUT_WRITE/outs.pipe/outs.pipe/x > $PIPE_OUT/seen.txt
"#;

#[test]
fn an_out_named_as_artifact_metadata_is_kept_cached_restored_and_pushed() {
    let t = Test::new().pipeline(RESERVED_NAMES);
    t.run(&["run", "p.yaml"]).success().stdout_has("2 ran, 0 cached");
    assert_eq!(read(&t, "params.json"), "{\"n\": 1}\n");
    t.run(&["show", "p.yaml", "write"])
        .success()
        .stdout_has("outs.pipe/params.json")
        .stdout_has("outs.pipe/outs.pipe/x");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    std::fs::remove_file(t.path().join("params.json")).unwrap();
    std::fs::remove_dir_all(t.path().join("outs.pipe")).unwrap();
    t.run(&["status", "p.yaml"]).success().stdout_has("`params.json` is not in the workspace");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached").stderr_has("restored params.json (out of write)");
    assert_eq!((read(&t, "params.json"), read(&t, "outs.pipe/x")), ("{\"n\": 1}\n".into(), "1\n".into()));
    // Another run's out is told from an edit by hand.
    t.run(&["run", "p.yaml", "--set", "params.n=2"]).success().stdout_has("2 ran");
    t.run(&["status", "p.yaml"]).success().stdout_has("`params.json` holds another run's output");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached").stderr_has("restored params.json");
    t.write("params.json", "mine\n");
    t.run(&["status", "p.yaml"]).success().stdout_has("`params.json` was changed by hand");
    t.run(&["checkout", "p.yaml", "--force"]).success().stderr_has("overwrote params.json");
    let status = t.run(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    assert!(!status.stdout.contains("params.json"), "{}", status.stdout);
    t.run(&["verify", "--all"]).success();
    assert_eq!(t.lines("ran.log").len(), 2, "only the run with n=2 ran `write` again");

    let dir = tempfile::tempdir().unwrap();
    let remote = format!("--remote=file://{}/r", dir.path().display());
    t.run(&["push", "--all", &remote]).success();
    let pulled = Test::new().pipeline(RESERVED_NAMES);
    pulled.run(&["pull", "p.yaml", &remote]).success().stderr_has("restored params.json (out of write)");
    assert_eq!(read(&pulled, "params.json"), "{\"n\": 1}\n");
    pulled.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
}

/// Rots `file` of the one object holding it (see [`support::rot`]).
fn rot(t: &Test, file: &str, bytes: &str) {
    let objects = std::fs::read_dir(t.cache().join("objects")).unwrap();
    let path = objects.flatten().map(|e| e.path().join(file)).find(|p| p.exists()).expect("an object holds it");
    support::rot(&path, bytes.as_bytes());
}

#[test]
fn a_rotted_object_is_never_put_back_and_the_good_out_is_judged_by_the_manifest() {
    let t = outs();
    t.run(&["run", "p.yaml"]).success();
    let counts = read(&t, "counts.txt");
    rot(&t, "counts.txt", "4\n1\n");
    // The workspace holds what the manifest records: current, not another run's output.
    let status = t.run(&["status", "p.yaml"]).success().stdout_has("0 of 2 stage instance(s) stale");
    assert!(!status.stdout.contains("counts.txt"), "{}", status.stdout);
    t.run(&["checkout", "p.yaml", "--stage", "counts", "--force"]).success().stdout_has("1 already current");
    assert_eq!(read(&t, "counts.txt"), counts);
    let (found, expected) = (blake3::hash(b"4\n1\n").to_hex(), blake3::hash(counts.as_bytes()).to_hex());
    let corrupt = format!(
        "counts.txt: blake3 {found}, {expected} expected by its manifest: the object is corrupt and was not put \
         back into the workspace; `pipe verify --repair` quarantines it, and the next `pipe run` computes it again"
    );
    std::fs::remove_file(t.path().join("counts.txt")).unwrap();
    for command in ["checkout", "run"] {
        t.run(&[command, "p.yaml", "--stage", "counts"]).code(1).stderr_has(&corrupt);
        assert!(!t.path().join("counts.txt").exists(), "`{command}` wrote no rotted bytes");
    }
    t.write("counts.txt", "my notes\n");
    t.run(&["checkout", "p.yaml", "--stage", "counts", "--force"]).code(1).stderr_has(&corrupt);
    assert_eq!(read(&t, "counts.txt"), "my notes\n", "the workspace is left as it was");
    std::fs::remove_file(t.path().join("counts.txt")).unwrap();
    t.run(&["verify", "--all", "--repair"]).code(1);
    t.run(&["run", "p.yaml"]).success().stdout_has("1 ran");
    assert_eq!(read(&t, "counts.txt"), counts);
}

#[test]
fn a_stage_is_not_run_on_an_upstream_out_changed_by_hand() {
    let yaml = "name: w\nparams: {n: 1}\nstages:\n  a: {uses: shell, run: 'mkdir -p out; echo ${params.n} > out/a.txt', \
                outs: [out]}\n  b: {uses: shell, needs: [a], deps: [out], run: 'cat out/a.txt > b.txt', outs: [b.txt]}\n";
    let t = Test::new().pipeline(yaml);
    t.run(&["run", "p.yaml"]).success();
    t.run(&["run", "p.yaml", "--set", "params.n=2"]).success();
    t.write("out/new.txt", "extra\n");
    // a is cached (n=1) and its edited out kept; b would read the edit under a key naming a's artifact.
    t.run(&["run", "p.yaml"])
        .code(1)
        .stderr_has("warning: out (out of a) differs from its cached artifact")
        .stderr_has("error: stage `b`: not run: its dep `out` (from `a`'s outs) differs from `a`'s artifact");
    assert_eq!(read(&t, "b.txt"), "2\n", "b's out is left as it was");
    t.run(&["checkout", "p.yaml", "--force"]).success();
    t.run(&["run", "p.yaml"]).success();
    assert_eq!(read(&t, "b.txt"), "1\n");
}

#[test]
fn checkout_of_a_stage_puts_back_the_upstream_outs_its_key_waits_for() {
    let yaml = "name: w\nstages:\n  a: {uses: shell, run: 'cat src.txt > a.txt', deps: [src.txt], outs: [a.txt]}\n  \
                b: {uses: shell, needs: [a], run: 'cat a.txt a.txt > b.txt', deps: [a.txt], outs: [b.txt]}\n";
    let t = Test::new().pipeline(yaml).file("src.txt", "src\n");
    t.run(&["run", "p.yaml"]).success();
    for out in ["a.txt", "b.txt"] {
        std::fs::remove_file(t.path().join(out)).unwrap();
    }
    t.run(&["checkout", "p.yaml", "--stage", "b"])
        .success()
        .stderr_has("restored a.txt (out of a)")
        .stderr_has("restored b.txt (out of b)")
        .stdout_has("2 restored");
    assert_eq!(read(&t, "b.txt"), "src\nsrc\n");
    // Its upstream not in the store either: the message names what the key waits for.
    t.write("src.txt", "changed\n");
    for out in ["a.txt", "b.txt"] {
        std::fs::remove_file(t.path().join(out)).unwrap();
    }
    let ran = t.run(&["checkout", "p.yaml", "--stage", "b"]).success().stderr_has("b: its key waits for upstream `a`");
    assert!(!ran.stderr.contains("not in the store"), "{}", ran.stderr);
}

#[test]
fn a_full_workspace_leaves_no_temporary_beside_the_lock_file_and_the_error_names_it() {
    let t = Test::new();
    let disk = t.small_disk("ws", 1 << 20);
    t.write(
        "ws/p.yaml",
        &format!(
            "name: w\nstages:\n  a: {{uses: shell, run: 'echo a > a.txt; {}', outs: [a.txt]}}\n",
            disk.fill_leaving(0)
        ),
    );
    t.run(&["run", "ws/p.yaml"])
        .code(1)
        .stdout_has("1 ran, 0 cached, 0 failed")
        .stderr_has("ws/p.lock: No space left on device")
        .stderr_has("the run is not fully recorded");
    assert_eq!(hidden(&t.path().join("ws")), Vec::<String>::new(), "a temporary stays in the workspace");
    assert_eq!(t.statuses(), support::expect(&[("a", "ran")]), "the run record, in the cache, is written");
    disk.free();
    t.run(&["run", "ws/p.yaml"]).success().stdout_has("0 ran, 1 cached");
    assert!(t.path().join("ws/p.lock").exists());
}

#[test]
fn an_out_that_cannot_be_put_back_into_a_full_workspace_is_named_with_its_stage() {
    let t = Test::new();
    let disk = t.small_disk("ws", 1 << 20);
    t.write(
        "ws/p.yaml",
        "name: w\nstages:\n  a: {uses: shell, run: 'head -c 300000 /dev/zero > a.bin', outs: [a.bin]}\n",
    );
    t.run(&["run", "ws/p.yaml"]).success();
    std::fs::remove_file(t.path().join("ws/a.bin")).unwrap();
    assert!(std::process::Command::new("sh").arg("-c").arg(disk.fill_leaving(0)).status().unwrap().success());
    let ran = t
        .run(&["checkout", "ws/p.yaml"])
        .code(1)
        .stderr_has("cannot put back `a.bin` (out of a): ")
        .stderr_has("ws/a.bin: No space left on device");
    assert!(!ran.stderr.contains("pipe-checkout"), "the error names a temporary: {}", ran.stderr);
    assert_eq!(hidden(&t.path().join("ws")), Vec::<String>::new(), "a temporary stays in the workspace");
    disk.free();
    t.run(&["checkout", "ws/p.yaml"]).success().stderr_has("restored a.bin (out of a)");
}

/// The names in `dir` that start with a dot: where pipe's temporaries go.
fn hidden(dir: &std::path::Path) -> Vec<String> {
    let names = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned());
    names.filter(|n| n.starts_with('.')).collect()
}
