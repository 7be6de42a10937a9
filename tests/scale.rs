//! Engine costs that grow with the size of an out or of a pipeline, counted in system calls
//! (their times are in bench/README.md: tests assert no timings).

mod support;

use std::process::Command;

use support::Test;

/// A chain of `n` shell stages, each copying its upstream's out.
fn chain(n: usize) -> String {
    let mut yaml = String::from("name: chain\nstages:\n  s0: {uses: shell, run: echo 0 > o0.txt, outs: [o0.txt]}\n");
    for i in 1..n {
        let j = i - 1;
        yaml.push_str(&format!(
            "  s{i}: {{uses: shell, needs: [s{j}], run: cat o{j}.txt > o{i}.txt, deps: [o{j}.txt], outs: [o{i}.txt]}}\n"
        ));
    }
    yaml
}

/// How often `pipe run p.yaml` in `t` calls each of `syscalls`, by strace's count
/// (scripts/test.sh installs strace).
fn syscalls(t: &Test, syscalls: &[&str]) -> Vec<usize> {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is not installed: it counts the system calls here (Debian: apt-get install strace; scripts/test.sh does)"
    );
    let log = t.path().join("strace.log");
    let ran = Command::new("strace")
        .args(["-f", "-c", "-e", &format!("trace={}", syscalls.join(",")), "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_pipe"))
        .args(["run", "p.yaml"])
        .current_dir(t.path())
        .env_remove("PIPE_CACHE")
        .output()
        .expect("strace runs");
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let table = std::fs::read_to_string(&log).unwrap();
    // "% time  seconds  usecs/call  calls  [errors]  syscall": calls is the fourth column.
    let calls = |name: &str| {
        let row = table.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.last() == Some(&name));
        row.map_or(0, |f| f[3].parse().unwrap())
    };
    syscalls.iter().map(|s| calls(s)).collect()
}

#[test]
#[cfg(target_os = "linux")]
fn an_out_of_many_files_is_synced_at_once_not_file_by_file() {
    let t = Test::new().pipeline(
        "name: many\nstages:\n  a: {uses: shell, run: 'mkdir out; for i in $(seq 2000); do echo $i > out/f$i; done', outs: [out]}\n",
    );
    // An fsync each took 10 s for 10,000 files; the record, stamp and lock file keep theirs.
    let [fsync, syncfs] = syscalls(&t, &["fsync", "syncfs"])[..] else { unreachable!("two counts") };
    assert!(fsync < 100 && syncfs == 1, "{fsync} fsync, {syncfs} syncfs");
    assert_eq!(std::fs::read_dir(t.path().join("out")).unwrap().count(), 2000);
}

#[test]
#[cfg(target_os = "linux")]
fn a_run_journals_each_instance_instead_of_rewriting_its_record() {
    let t = Test::new().pipeline(&chain(100));
    // One rename per instance commits its artifact; the record took one more each when it
    // was rewritten whole after every instance (O(n²) bytes: 1 GB for 2,000 stages).
    let renames: usize = syscalls(&t, &["rename", "renameat", "renameat2"]).iter().sum();
    assert!(renames < 120, "{renames} renames for 100 instances");
    assert_eq!(t.cache_entries("runs").len(), 1, "the finished record alone, its journal removed");
}
