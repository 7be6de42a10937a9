//! Black-box tests of the remote cache (`pipe push`, `pull`, `run --remote`, `status
//! --remote`) against a real WebDAV server (Debian's nginx, started by
//! scripts/webdav-server.sh) and `file://` directories. S3, GCS and Azure go through the
//! same library code; with no server of theirs here, their tests cover what pipe adds:
//! the URL and credential handling and the error messages.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use support::{by_instance, expect, Ran, Test};

/// `make` writes two identical files (stored once on the remote) and one unique; `count` reads them.
const SHARED: &str = r#"
name: shared
stages:
  make:
    uses: shell
    run: echo make >> ran.log; mkdir -p out; printf 'alpha\n' > out/a.txt; printf 'alpha\n' > out/same.txt; printf 'beta\n' > $PIPE_OUT/b.txt
    outs: [out]
  count:
    uses: shell
    needs: [make]
    run: echo count >> ran.log; cat $PIPE_INPUT_MAKE/out/*.txt | wc -l > n.txt
    outs: [n.txt]
"#;

/// 300 files of 64 KiB: enough requests that a push is caught half way.
const BIG: &str = "name: big\nstages:\n  big:\n    uses: shell\n    run: for i in $(seq 300); do head -c 65536 /dev/urandom > $PIPE_OUT/f$i; done\n";

/// A WebDAV server: the one `.ci/run` started ($PIPE_WEBDAV_URL, $PIPE_WEBDAV_ROOT), else
/// a private one for this test, stopped when dropped. Each test works under its own path.
struct Server {
    url: String,
    root: PathBuf,
    private: Option<tempfile::TempDir>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/webdav-server.sh")
}

impl Server {
    fn start(name: &str) -> Server {
        let unique = format!("{name}-{}", std::process::id());
        if let (Ok(url), Ok(root)) = (std::env::var("PIPE_WEBDAV_URL"), std::env::var("PIPE_WEBDAV_ROOT")) {
            return Server { url: format!("{url}/{unique}"), root: PathBuf::from(root).join(unique), private: None };
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(script()).arg("start").arg(dir.path()).output().expect("bash runs the script");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "these tests need nginx with WebDAV (apt-get install nginx-light libnginx-mod-http-dav-ext): scripts/webdav-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let field = |k: &str| text.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap().to_string();
        Server {
            url: format!("{}/{unique}", field("PIPE_WEBDAV_URL=")),
            root: PathBuf::from(field("PIPE_WEBDAV_ROOT=")).join(unique),
            private: Some(dir),
        }
    }

    /// Files under the test's path on the server, relative, sorted.
    fn files(&self, sub: &str) -> Vec<String> {
        files_under(&self.root, sub)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.private {
            let _ = Command::new(script()).arg("stop").arg(dir.path()).status();
        }
    }
}

/// A remote on the WebDAV server and one in a `file://` directory, for tests that run on both.
struct Remotes {
    server: Server,
    dir: tempfile::TempDir,
}

impl Remotes {
    fn start(name: &str) -> Remotes {
        Remotes { server: Server::start(name), dir: tempfile::tempdir().unwrap() }
    }

    /// Each remote's URL and the directory that holds its objects.
    fn each(&self) -> [(String, PathBuf); 2] {
        let local = self.dir.path().join("remote");
        [(self.server.url.clone(), self.server.root.clone()), (format!("file://{}", local.display()), local)]
    }
}

/// Files under `root/sub`, relative to `root`, sorted; none where it does not exist.
fn files_under(root: &Path, sub: &str) -> Vec<String> {
    let mut found = Vec::new();
    walk(&root.join(sub), root, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, root, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// A workspace with SHARED and a project file naming the remote (writable).
fn project(url: &str) -> Test {
    Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote:\n  url: {url}\n  read_only: false\n"))
}

/// `pipe` in the workspace, its remote from the project file alone (not the caller's $PIPE_REMOTE).
fn pipe(t: &Test, args: &[&str]) -> Command {
    let mut command = t.command(args);
    command.env_remove("PIPE_REMOTE");
    command
}

fn run_env(t: &Test, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = pipe(t, args);
    for (k, v) in env {
        command.env(k, v);
    }
    Ran::from(command.output().expect("pipe runs"))
}

fn run(t: &Test, args: &[&str]) -> Ran {
    run_env(t, args, &[])
}

/// Starts `pipe` without waiting, its output kept.
fn spawn(t: &Test, args: &[&str]) -> Child {
    pipe(t, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("pipe starts")
}

/// Sends `signal` to a child (SIGSTOP, SIGCONT, SIGKILL).
fn signal(child: &Child, signal: i32) {
    // SAFETY: a plain kill(2) to a child that has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// `pipe` under libfaketime, its clock moved by `offset` (`+2h`): Debian's `faketime`.
fn run_with_clock(t: &Test, offset: &str, args: &[&str]) -> Ran {
    let found = Command::new("faketime").args(["-f", "+0", "true"]).status().is_ok_and(|s| s.success());
    assert!(found, "no working `faketime` to move pipe's clock: apt-get install faketime (scripts/test.sh does)");
    let pipe = pipe(t, args);
    let mut command = Command::new("faketime");
    command.args(["-f", offset]).arg(pipe.get_program()).args(pipe.get_args());
    command.current_dir(pipe.get_current_dir().unwrap());
    for (key, value) in pipe.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    Ran::from(command.output().expect("faketime runs"))
}

/// The clock difference gc noted is two hours, to the second that whole-second stamps allow.
fn assert_near_7200(ran: &Ran) {
    let noted = ran.stderr.split("the remote's clock is ").nth(1).and_then(|r| r.split(' ').next());
    let seconds: i64 = noted.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no clock note\n{}", ran.stderr));
    assert!((seconds - 7200).abs() <= 1, "{}", ran.stderr);
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn push_then_pull_into_an_empty_cache_gives_the_same_artifacts_and_runs_nothing() {
    let server = Server::start("roundtrip");
    let a = project(&server.url);
    run(&a, &["run", "p.yaml"]).success().stdout_has("2 ran, 0 cached");
    run(&a, &["push", "p.yaml"]).success().stdout_has("2 artifact(s) pushed").stderr_has("pushed");
    let blobs = server.files("cas");
    // make: a.txt = same.txt, b.txt, 4 metadata files; count: n.txt, 4 metadata files.
    assert_eq!(server.files("ac").len(), 2);
    assert!(blobs.len() < 2 * 4 + 4, "identical files are stored once: {blobs:?}");
    run(&a, &["push", "p.yaml"]).success().stdout_has("0 artifact(s) pushed to").stdout_has("2 already there");

    let b = project(&server.url);
    run(&b, &["status", "p.yaml", "--remote"]).success().stdout_has("remote  stale").stdout_has("count");
    run(&b, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled").stderr_has("restored n.txt");
    assert_eq!(std::fs::read_to_string(b.path().join("out/a.txt")).unwrap(), "alpha\n");
    run(&b, &["status", "p.yaml", "--remote"]).success().stdout_has("both    fresh");
    // The pull is a run record (gc keeps what records name) and the lock file's state.
    let pulled = b.last_record();
    assert_eq!(support::statuses(&pulled), expect(&[("count", "pulled"), ("make", "pulled")]));
    assert!(std::fs::read_to_string(b.path().join("p.lock")).unwrap().contains("\"status\": \"pulled\""));
    run(&b, &["gc"]).success();
    run(&b, &["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    assert!(b.lines("ran.log").is_empty(), "nothing was computed in the second workspace");
    assert_eq!(by_instance(&b.last_record(), "artifact"), by_instance(&a.last_record(), "artifact"));
    run(&b, &["pull", "p.yaml"]).success().stdout_has("0 artifact(s) pulled").stdout_has("2 already in the store");
}

#[test]
fn run_with_remote_downloads_instead_of_computing_and_push_uploads_what_ran() {
    let server = Server::start("runremote");
    let a = project(&server.url);
    run(&a, &["run", "p.yaml", "--push"]).success().stdout_has("2 ran").stdout_has("2 artifact(s) pushed");
    let b = project(&server.url);
    run(&b, &["run", "p.yaml", "--remote"]).success().stdout_has("0 ran, 0 cached, 2 pulled").stderr_has("pulled make");
    assert!(b.lines("ran.log").is_empty(), "the stages' commands never ran");
    assert_eq!(b.statuses(), expect(&[("make", "pulled"), ("count", "pulled")]));
    assert_eq!(
        std::fs::read_to_string(b.path().join("n.txt")).unwrap(),
        std::fs::read_to_string(a.path().join("n.txt")).unwrap()
    );
}

fn key_of_make(t: &Test) -> String {
    by_instance(&t.last_record(), "key")["make"].clone()
}

#[test]
fn a_corrupted_byte_on_the_server_is_refused_and_nothing_enters_the_store() {
    let server = Server::start("corrupt");
    let a = project(&server.url);
    run(&a, &["run", "p.yaml", "--push"]).success();
    let b_txt = blake3::hash(b"beta\n").to_hex().to_string();
    let blob = server.root.join("cas").join(&b_txt[..2]).join(&b_txt);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();

    let b = project(&server.url);
    let ran = run(&b, &["pull", "p.yaml"])
        .code(1)
        .stderr_has("file `b.txt`")
        .stderr_has(&format!("is damaged; delete it and the entry ac/{}.json there", key_of_make(&a)))
        .stderr_has("nothing entered the store")
        .stderr_has("delete each damaged blob and its entry on the remote (named above), then `pipe push`");
    assert!(!ran.stderr.contains("uploads the missing files again"), "{}", ran.stderr);
    assert!(ran.stderr.contains(&format!("blake3 {b_txt}")), "{}", ran.stderr);
    // `count`'s own files are intact, so it may enter; `make`'s artifact may not.
    let make = key_of_make(&a);
    assert!(!b.cache_entries("objects").contains(&make), "the corrupted artifact did not enter the store");
    assert!(b.cache_entries("tmp").is_empty(), "the download was discarded: {:?}", b.cache_entries("tmp"));
    // Required (--remote): the run fails. From the config only: a warning, then computed locally.
    run(&b, &["run", "p.yaml", "--remote"]).code(1).stderr_has("nothing entered the store");
    assert!(b.lines("ran.log").is_empty());
    b.write(".pipe.yaml", &format!("remote: {{url: '{}', read: true}}\n", server.url));
    run(&b, &["run", "p.yaml"])
        .success()
        .stdout_has("1 ran, 1 cached")
        .stderr_has("computing locally without the remote");
    // The way out the error gives: blob and entry deleted there, pushed again from a store that has them.
    std::fs::remove_file(&blob).unwrap();
    std::fs::remove_file(server.root.join(format!("ac/{make}.json"))).unwrap();
    run(&a, &["push", "p.yaml"]).success();
    let c = project(&server.url);
    run(&c, &["pull", "p.yaml"]).success();
    assert!(c.cache_entries("objects").contains(&make));
}

#[test]
fn an_interrupted_push_leaves_no_visible_artifact_and_the_next_push_completes() {
    let server = Server::start("interrupt");
    let a =
        Test::new().pipeline(BIG).file(".pipe.yaml", &format!("remote: {{url: '{}', read_only: false}}\n", server.url));
    run(&a, &["run", "p.yaml"]).success();
    let mut child = spawn(&a, &["push", "p.yaml", "-j", "1"]);
    while server.files("cas").len() < 20 {
        assert!(child.try_wait().unwrap().is_none(), "the push finished before it could be interrupted");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = server.files("cas").len();
    assert!(partial < 304, "interrupted half way: {partial} files");
    assert!(server.files("ac").is_empty(), "no entry, so no visible artifact");
    let b = Test::new().pipeline(BIG).file(".pipe.yaml", &format!("remote: {{url: '{}'}}\n", server.url));
    run(&b, &["status", "p.yaml", "--remote"]).success().stdout_has("missing");

    let done = run(&a, &["push", "p.yaml"]).success().stdout_has("1 artifact(s) pushed");
    let already: usize = done.stderr.split("; ").nth(1).and_then(|s| s.split(' ').next()?.parse().ok()).unwrap();
    assert!(already >= partial, "the files that made it are not sent again\n{}", done.stderr);
    assert_eq!(server.files("ac").len(), 1);
}

#[test]
fn a_file_larger_than_a_part_goes_up_streamed_to_a_file_remote_and_whole_over_http_and_round_trips() {
    // 20 MiB: more than two 8 MiB parts, so a file:// remote takes a multipart upload
    // (staged, renamed when complete) and nginx, which has none, one PUT.
    let pipeline = "name: large\nstages:\n  large:\n    uses: shell\n    run: head -c 20971520 /dev/urandom > $PIPE_OUT/weights.bin\n";
    let a = Test::new().pipeline(pipeline);
    run(&a, &["run", "p.yaml"]).success();
    let object = a.cache_entries("objects").pop().expect("one object");
    let original = std::fs::read(a.path().join("cache/objects").join(&object).join("weights.bin")).unwrap();
    let blob = format!("cas/{}/{}", &blake3::hash(&original).to_hex()[..2], blake3::hash(&original).to_hex());

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start("large");
    for url in [format!("file://{}/r", dir.path().display()), server.url.clone()] {
        let remote = format!("--remote={url}");
        let pushed = run(&a, &["push", "p.yaml", &remote, "-j", "2"]);
        if url.starts_with("http") {
            pushed.code(2).stderr_has("read-only");
            let writable = format!("remote: {{url: '{url}', read_only: false}}\n");
            std::fs::write(a.path().join(".pipe.yaml"), writable).unwrap();
            run(&a, &["push", "p.yaml"]).success().stdout_has("1 artifact(s) pushed");
        } else {
            pushed.success().stdout_has("1 artifact(s) pushed");
            let mut staged = Vec::new();
            walk(&dir.path().join("r"), dir.path(), &mut staged);
            assert!(staged.iter().all(|f| !f.contains('#')), "a completed upload leaves no staging file: {staged:?}");
            assert_eq!(std::fs::read(dir.path().join("r").join(&blob)).unwrap(), original);
        }
        let b = Test::new().pipeline(pipeline);
        run(&b, &["pull", "p.yaml", &remote]).success().stdout_has("1 artifact(s) pulled");
        run(&b, &["run", "p.yaml"]).success().stdout_has("0 ran, 1 cached");
        let pulled = std::fs::read(b.path().join("cache/objects").join(&object).join("weights.bin")).unwrap();
        assert!(pulled == original, "{url}: the pulled file differs");
    }
    assert_eq!(std::fs::read(server.root.join(&blob)).unwrap(), original);
}

#[test]
fn two_concurrent_pushes_of_one_key_both_succeed_and_leave_one_consistent_object() {
    let server = Server::start("concurrent");
    let (a, b) = (project(&server.url), project(&server.url));
    run(&a, &["run", "p.yaml"]).success();
    run(&b, &["run", "p.yaml"]).success();
    let spawned: Vec<_> = [&a, &b].iter().map(|t| t.spawn(&["push", "p.yaml"])).collect();
    for child in spawned {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(server.files("ac").len(), 2);
    let c = project(&server.url);
    run(&c, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled");
    run(&c, &["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    assert_eq!(by_instance(&c.last_record(), "artifact"), by_instance(&a.last_record(), "artifact"));
}

#[test]
fn a_server_that_is_down_is_an_error_naming_the_url_without_its_password() {
    let url = format!("http://alice:hunter22@127.0.0.1:{}/cache", closed_port());
    let t = project(&url);
    run(&t, &["run", "p.yaml"]).success();
    let ran = run(&t, &["push", "p.yaml"]).code(1).stderr_has(&url.replace("hunter22", "***"));
    assert!(!ran.stderr.contains("hunter22"), "{}", ran.stderr);
    let ran = run(&t, &["pull", "p.yaml"]).code(1);
    assert!(!ran.stderr.contains("hunter22") && ran.stderr.contains("alice:***@"), "{}", ran.stderr);
    // Not required: warn and compute. Required (--remote): fail.
    let fresh = Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: {{url: '{url}', read: true}}\n"));
    run(&fresh, &["run", "p.yaml"]).success().stdout_has("2 ran").stderr_has("computing locally without the remote");
    run(&fresh, &["--cache", "other", "run", "p.yaml", "--remote"]).code(1).stderr_has("alice:***@");
}

#[test]
fn a_file_remote_round_trips_and_http_is_read_only_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/usb-disk", dir.path().display());
    let a = Test::new().pipeline(SHARED);
    run(&a, &["run", "p.yaml"]).success();
    run(&a, &["push", "--all", &format!("--remote={url}")]).success().stdout_has("2 artifact(s) pushed");
    let b = Test::new().pipeline(SHARED);
    run_env(&b, &["pull", "p.yaml"], &[("PIPE_REMOTE", &url)]).success().stdout_has("2 artifact(s) pulled");
    run(&b, &["run", "p.yaml"]).success().stdout_has("0 ran, 2 cached");
    run(&b, &["push", "--run", "latest", &format!("--remote={url}")]).success().stdout_has("2 already there");

    let http = Test::new().pipeline(SHARED);
    run(&http, &["run", "p.yaml"]).success();
    run(&http, &["push", "p.yaml", "--remote=http://127.0.0.1:9/c"]).code(2).stderr_has("read-only");
    run(&http, &["push", "p.yaml"]).code(2).stderr_has("no remote configured");
    run(&http, &["pull", "p.yaml", "--remote=s4://bucket/x"]).code(2).stderr_has("did you mean `s3`");
}

#[test]
fn push_all_from_a_store_whose_objects_cannot_be_listed_is_an_error_not_nothing_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/usb-disk", dir.path().display());
    let a = Test::new().pipeline(SHARED);
    std::fs::create_dir(a.cache()).unwrap();
    std::fs::write(a.cache().join("objects"), "not a directory").unwrap();
    let objects = a.cache().join("objects");
    (run(&a, &["push", "--all", &format!("--remote={url}")]).code(1))
        .stderr_has(&format!("{}: Not a directory", objects.display()));
    run(&a, &["verify", "--all"]).code(1).stderr_has("Not a directory");
}

#[test]
fn pull_into_a_cache_its_user_cannot_write_names_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let url = format!("file://{}/usb-disk", dir.path().display());
    let a = Test::new().pipeline(SHARED);
    run(&a, &["run", "p.yaml"]).success();
    run(&a, &["push", "--all", &format!("--remote={url}")]).success();
    let b = Test::new().pipeline(SHARED);
    std::fs::create_dir(b.cache()).unwrap();
    std::fs::set_permissions(b.cache(), std::fs::Permissions::from_mode(0o555)).unwrap();
    (b.run_unprivileged(&["pull", "p.yaml", &format!("--remote={url}")]).code(2))
        .stderr_has(&format!("cache {} is read-only", b.cache().display()));
}

#[test]
fn cloud_remotes_name_the_url_and_never_print_their_credentials() {
    let port = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let gcs_key = format!(
        r#"{{"private_key": "gcs-private-key-do-not-print", "private_key_id": "id", "client_email": "ci@example.iam", "gcs_base_url": "{endpoint}", "disable_oauth": true}}"#
    );
    // (remote URL, its credentials in the environment, the secret that must never be printed)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 3] = [
        (
            "s3://team-bucket/pipe",
            vec![
                ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID"),
                ("AWS_SECRET_ACCESS_KEY", "aws-secret-do-not-print"),
                ("AWS_ENDPOINT", &endpoint),
                ("AWS_ALLOW_HTTP", "true"),
                ("AWS_REGION", "us-east-1"),
            ],
            "aws-secret-do-not-print",
        ),
        ("gs://team-bucket/pipe", vec![("GOOGLE_SERVICE_ACCOUNT_KEY", &gcs_key)], "gcs-private-key-do-not-print"),
        (
            "az://container/pipe",
            vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
                ("AZURE_STORAGE_ACCOUNT_KEY", "YXp1cmUtc2VjcmV0LWRvLW5vdC1wcmludA=="),
                ("AZURE_STORAGE_USE_EMULATOR", "true"),
                ("AZURITE_BLOB_STORAGE_URL", &endpoint),
            ],
            "YXp1cmUtc2VjcmV0LWRvLW5vdC1wcmludA==",
        ),
    ];
    let t = Test::new().pipeline(SHARED);
    run(&t, &["run", "p.yaml"]).success();
    for (url, env, secret) in cases {
        let flag = format!("--remote={url}");
        for command in ["push", "status"] {
            let ran = run_env(&t, &[command, "p.yaml", &flag], &env);
            assert!(ran.code == 1 || ran.code == 2, "{url}: {}", ran.stderr);
            assert!(ran.stderr.contains(&format!("remote {url}")), "{command} {url}: {}", ran.stderr);
            assert!(!ran.stderr.contains(secret), "{command} {url}: {}", ran.stderr);
        }
    }
}

#[test]
fn remote_gc_removes_what_the_pipelines_no_longer_use_keeps_recent_uploads_and_drops_broken_entries() {
    let remotes = Remotes::start("gc");
    for (url, root) in &remotes.each() {
        let listed = |sub: &str| files_under(root, sub);
        let blob = |text: &str| {
            let b3 = blake3::hash(text.as_bytes()).to_hex().to_string();
            format!("cas/{}/{b3}", &b3[..2])
        };
        let a = project(url);
        run(&a, &["run", "p.yaml", "--push"]).success();
        let old_count = by_instance(&a.last_record(), "key")["count"].clone();
        // count changes (n.txt "2\n" -> "12\n"); its old artifact is no longer used.
        let changed = SHARED.replace("wc -l > n.txt", "wc -c > n.txt");
        a.write("p.yaml", &changed);
        run(&a, &["run", "p.yaml", "--push"]).success().stdout_has("1 ran, 1 cached");
        assert_eq!(listed("ac").len(), 3, "{url}");
        let before = listed("cas");
        assert!(before.contains(&blob("2\n")) && before.contains(&blob("12\n")), "{url}: {before:?}");

        // Everything is younger than the default hour, which a push in flight needs.
        run(&a, &["gc", "--remote", "p.yaml"]).success().stdout_has("removed 0 entries and 0 file(s)");
        run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s", "--dry-run"])
            .success()
            .stdout_has("would remove 1 entry and")
            .stdout_has("kept 2 entries");
        assert_eq!((listed("ac").len(), listed("cas")), (3, before.clone()), "{url}: a dry run removes nothing");
        run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"]).success().stdout_has("removed 1 entry and");
        let (entries, files) = (listed("ac"), listed("cas"));
        assert!(!entries.contains(&format!("ac/{old_count}.json")) && entries.len() == 2, "{url}: {entries:?}");
        assert!(!files.contains(&blob("2\n")) && files.contains(&blob("12\n")), "{url}: {files:?}");
        assert!(files.len() < before.len() && files.contains(&blob("beta\n")), "{url}: {files:?}");

        // What the pipeline uses still pulls whole into an empty workspace.
        let b = project(url);
        b.write("p.yaml", &changed);
        run(&b, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled");
        assert_eq!(std::fs::read_to_string(b.path().join("n.txt")).unwrap().trim(), "12");
        // Edited but not run again: its lock file still names what the last run made, which stays.
        a.write("p.yaml", &SHARED.replace("wc -l > n.txt", "wc -w > n.txt"));
        run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"]).success().stdout_has("removed 0 entries");
        a.write("p.yaml", &changed);

        // A kept entry whose file is gone cannot be pulled (a pull takes no lock, so one that read
        // an entry just before gc removed its files ends so too): it goes, the next run computes
        // it, and the next push restores it.
        std::fs::remove_file(root.join(blob("beta\n"))).unwrap();
        let d = project(url);
        d.write("p.yaml", &changed);
        run(&d, &["pull", "p.yaml"]).code(1).stderr_has("(file `b.txt`), which the remote does not hold");
        let make = by_instance(&a.last_record(), "key")["make"].clone();
        assert!(!d.cache_entries("objects").contains(&make) && d.cache_entries("tmp").is_empty(), "{url}");
        run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"])
            .success()
            .stdout_has("removed 1 entry (1 of them broken: a file missing");
        assert_eq!(listed("ac").len(), 1, "{url}");
        run(&d, &["run", "p.yaml", "--remote"]).success().stdout_has("1 ran, ");
        assert_eq!(d.lines("ran.log"), ["make"], "{url}");
        run(&a, &["push", "p.yaml"]).success().stdout_has("1 artifact(s) pushed").stdout_has("1 already there");
        let c = project(url);
        c.write("p.yaml", &changed);
        run(&c, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled");
    }

    let a = project(&remotes.server.url);
    run(&a, &["gc", "--remote"]).code(2).stderr_has("name the pipeline files whose artifacts stay on the remote");
    run(&a, &["gc", "p.yaml"]).code(2).stderr_has("add --remote");
    run(&a, &["gc", "--keep-recent", "1h"]).code(2).stderr_has("add --remote");
    run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "1.5h"]).code(2).stderr_has("s, m, h or d");
    // An http remote is read-only unless the project says otherwise.
    let reader =
        Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: {{url: '{}'}}\n", remotes.server.url));
    run(&reader, &["gc", "--remote", "p.yaml"]).code(2).stderr_has("read-only");
    let down = format!("http://127.0.0.1:{}/cache", closed_port());
    run(&project(&down), &["gc", "--remote", "p.yaml"]).code(1).stderr_has(&format!("remote {down}"));
    let missing = format!("file://{}/nowhere", remotes.dir.path().display());
    run(&a, &["gc", &format!("--remote={missing}"), "p.yaml"]).code(2).stderr_has("no such directory");
    assert!(!remotes.dir.path().join("nowhere").exists(), "gc creates no remote");
}

#[test]
fn remote_gc_counts_the_grace_on_the_remotes_clock_not_this_machines() {
    let remotes = Remotes::start("clock");
    for (url, _) in &remotes.each() {
        let a = project(url);
        run(&a, &["run", "p.yaml", "--push"]).success();
        a.write("p.yaml", &SHARED.replace("wc -l > n.txt", "wc -c > n.txt"));
        run(&a, &["run", "p.yaml", "--push"]).success().stdout_has("1 ran, 1 cached");
        // By a clock two hours fast the unused entry is older than the hour's grace; by the
        // remote's, which stamped it, it was uploaded just now, so a push may still need it.
        let fast = run_with_clock(&a, "+2h", &["gc", "--remote", "p.yaml"])
            .success()
            .stdout_has("removed 0 entries and 0 file(s)")
            .stderr_has("s behind this machine's; --keep-recent counts on the remote's");
        assert_near_7200(&fast);
        // By a clock two hours slow everything is recent; by the remote's, 0s keeps nothing.
        let slow = run_with_clock(&a, "-2h", &["gc", "--remote", "p.yaml", "--keep-recent", "0s"])
            .success()
            .stdout_has("removed 1 entry and")
            .stderr_has("s ahead of this machine's");
        assert_near_7200(&slow);
    }
}

#[test]
fn remote_gc_refuses_while_a_push_holds_its_lock_and_a_push_waits_while_gc_holds_one() {
    let remotes = Remotes::start("locks");
    for (url, root) in &remotes.each() {
        let locks = || files_under(root, "locks");
        let a = Test::new().pipeline(BIG).file(".pipe.yaml", &format!("remote: {{url: '{url}', read_only: false}}\n"));
        run(&a, &["run", "p.yaml"]).success();
        let push_holding_its_lock = || {
            let mut push = spawn(&a, &["push", "p.yaml", "-j", "1"]);
            // Written whole: file:// stages an object under another name first.
            while !locks().iter().any(|l| l.ends_with(".json")) {
                assert!(push.try_wait().unwrap().is_none(), "{url}: the push ended before its lock was seen");
                std::thread::sleep(Duration::from_millis(1));
            }
            push
        };
        let gc = || run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"]);

        // A push killed while it holds its lock: its process is gone, so the lock is dead.
        let mut killed = push_holding_its_lock();
        signal(&killed, libc::SIGKILL);
        killed.wait().unwrap();
        gc().success().stderr_has("note: removed the lock locks/push-").stderr_has("that process is gone");
        assert_eq!(locks(), Vec::<String>::new(), "{url}");

        // Ctrl-C: the push removes its lock as it ends.
        let interrupted = push_holding_its_lock();
        signal(&interrupted, libc::SIGINT);
        Ran::from(interrupted.wait_with_output().unwrap()).code(130);
        assert_eq!(locks(), Vec::<String>::new(), "{url}");

        // A push stopped while it holds its lock is alive: gc removes nothing.
        let stopped = push_holding_its_lock();
        signal(&stopped, libc::SIGSTOP);
        let before = files_under(root, "cas");
        gc().code(1)
            .stderr_has(&format!("pipe push on host {}", hostname()))
            .stderr_has(&format!("(pid {}, since", stopped.id()))
            .stderr_has("is in flight");
        assert_eq!(files_under(root, "cas"), before, "{url}: gc removed nothing");
        signal(&stopped, libc::SIGCONT);
        Ran::from(stopped.wait_with_output().unwrap()).success().stdout_has("1 artifact(s) pushed");
        assert_eq!(locks(), Vec::<String>::new(), "{url}: each lock goes when its holder ends");
        gc().success().stdout_has("removed 0 entries and 0 file(s)");

        // A gc at work elsewhere (its lock as another host writes it) keeps a push waiting
        // until the lock goes stale: not rewritten for ten minutes.
        let lock = root.join("locks/gc-1-1.json");
        let holder = r#"{"op": "gc", "host": "elsewhere", "pid": 1, "since": "2026-12-06T16:00:00.000Z"}"#;
        std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
        std::fs::write(&lock, holder).unwrap();
        let mut waiting = spawn(&a, &["push", "p.yaml"]);
        std::thread::sleep(Duration::from_secs(3));
        assert!(waiting.try_wait().unwrap().is_none(), "{url}: the push waits for gc");
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&lock).unwrap().set_modified(old).unwrap();
        Ran::from(waiting.wait_with_output().unwrap())
            .success()
            .stdout_has("0 artifact(s) pushed")
            .stderr_has("waiting for pipe gc on host elsewhere (pid 1, since 2026-12-06T16:00:00.000Z) to finish")
            .stderr_has("note: removed the lock locks/gc-1-1.json of pipe gc on host elsewhere")
            .stderr_has("not rewritten for 3");
        assert_eq!(locks(), Vec::<String>::new(), "{url}");
    }
}

fn hostname() -> String {
    String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap().trim().to_string()
}

#[test]
fn remote_gc_removes_the_upload_a_killed_push_left_staged_in_a_file_remote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("remote");
    // One file of 128 MiB: a multipart upload, staged as `<blob>#<n>` until it completes.
    let pipeline =
        "name: huge\nstages:\n  huge:\n    uses: shell\n    run: head -c 134217728 /dev/urandom > $PIPE_OUT/f\n";
    let a = Test::new()
        .pipeline(pipeline)
        .file(".pipe.yaml", &format!("remote: {{url: 'file://{}', read_only: false}}\n", root.display()));
    run(&a, &["run", "p.yaml"]).success();
    let staged = || files_under(&root, "cas").into_iter().filter(|f| f.contains('#')).collect::<Vec<_>>();
    // Stopped first, then killed only while its upload is still staged: the last part can
    // land between a look and a kill. Then the upload is complete, and the push is tried again.
    for attempt in 1.. {
        let mut push = spawn(&a, &["push", "p.yaml"]);
        while staged().is_empty() {
            assert!(push.try_wait().unwrap().is_none(), "the push ended before it could be killed");
            std::thread::sleep(Duration::from_millis(1));
        }
        signal(&push, libc::SIGSTOP);
        let caught = !staged().is_empty();
        signal(&push, libc::SIGKILL);
        push.wait().unwrap();
        if caught {
            break;
        }
        assert!(attempt < 5, "the upload completed before the push could be stopped, {attempt} times");
        std::fs::remove_dir_all(&root).unwrap();
    }
    // The big file's multipart upload, and maybe a small file's put (staged the same way
    // until its rename) that the kill caught too.
    let left = staged().len();
    assert!(left >= 1, "the killed push left its upload staged");

    // Within the grace a push may still be writing it; a dry run only counts it.
    let kept = run(&a, &["gc", "--remote", "p.yaml"]).success();
    assert!(!kept.stdout.contains("unfinished"), "{}", kept.stdout);
    run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s", "--dry-run"])
        .success()
        .stdout_has(&format!("would remove {left} unfinished upload(s) ("));
    assert_eq!(staged().len(), left);
    run(&a, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"])
        .success()
        .stdout_has(&format!("removed {left} unfinished upload(s) ("))
        .stdout_has("that interrupted pushes left staged");
    assert_eq!(staged(), Vec::<String>::new());
    run(&a, &["push", "p.yaml"]).success().stdout_has("1 artifact(s) pushed");
}

/// A workspace with SHARED run once and a project file naming a `file://` remote under it.
fn ran_with_file_remote() -> (Test, PathBuf) {
    let t = Test::new().pipeline(SHARED);
    let root = t.path().join("remote");
    t.write(".pipe.yaml", &format!("remote: file://{}\n", root.display()));
    run(&t, &["run", "p.yaml"]).success();
    (t, root)
}

#[test]
fn remote_urls_and_settings_that_are_wrong_say_what_is_wrong_and_where_it_was_written() {
    let (t, root) = ran_with_file_remote();
    // (--remote value, what the error says); none of these schemes is unknown, so none is suggested.
    let cases = [
        (
            "file://",
            "--remote `file://`: names no directory (it would be the filesystem root); write file:///absolute/path",
        ),
        ("file:relative", "--remote `file:relative`: not an absolute path; write file:///absolute/path"),
        ("file://relative/path", "a file URL takes no host, yet this one names `relative`"),
        ("s3://", "--remote `s3://`: no bucket; write s3://bucket/prefix"),
        ("http://", "--remote `http://`: not a URL (empty host); write http(s)://host/path"),
    ];
    for (url, message) in cases {
        let ran = run(&t, &["push", "p.yaml", &format!("--remote={url}")]).code(2).stderr_has(message);
        assert!(!ran.stderr.contains("did you mean"), "{url}: {}", ran.stderr);
    }
    assert!(!t.path().join("ac").exists() && !root.exists(), "nothing was written");
    run_env(&t, &["push", "p.yaml"], &[("PIPE_REMOTE", "bogus")]).code(2).stderr_has("PIPE_REMOTE `bogus`: not a URL");
    run(&t, &["push", "p.yaml", "-j", "0"]).code(2).stderr_has("'--jobs <N>': 0: nothing would ever start");
    // An empty path segment is one slash.
    let doubled = format!("--remote=file://{}//r1", t.path().display());
    run(&t, &["push", "p.yaml", &doubled])
        .success()
        .stdout_has(&format!("pushed to file://{}/r1,", t.path().display()));
    assert_eq!(files_under(&t.path().join("r1"), "ac").len(), 2);

    for (yaml, message) in [
        ("remote: {url: 42}\n", ".pipe.yaml:1: remote.url `42`: not a URL"),
        ("remote:\n  url: file:///tmp/x\n  jobs: 0\n", ".pipe.yaml:3: remote.jobs: invalid value: integer `0`"),
        (
            "remote:\n  url: file:///tmp/x\n  jobs: -3\n",
            "expected the number of transfers at once, a whole number from 1",
        ),
        (
            "remote:\n  url: file:///tmp/x\n  write: true\n  read_only: true\n",
            ".pipe.yaml:4: remote.read_only: `read_only: true` refuses every upload, yet `write: true`",
        ),
    ] {
        t.write(".pipe.yaml", yaml);
        run(&t, &["push", "p.yaml"]).code(2).stderr_has(message);
    }
    // Set by the user, not the http default: the refusal says where.
    t.write(".pipe.yaml", &format!("remote: {{url: 'file://{}', read_only: true}}\n", root.display()));
    let ran =
        run(&t, &["push", "p.yaml"]).code(2).stderr_has(".pipe.yaml sets `remote.read_only: true`; set it to false");
    assert!(!ran.stderr.contains("http"), "{}", ran.stderr);
}

#[test]
fn an_unreadable_entry_counts_as_absent_a_push_replaces_it_and_gc_removes_it_whoever_uses_it() {
    let (a, root) = ran_with_file_remote();
    run(&a, &["push", "p.yaml"]).success();
    let entry = root.join(format!("ac/{}.json", key_of_make(&a)));
    std::fs::write(&entry, "<html>oops</html>").unwrap();
    let named = format!("entry ac/{}.json does not parse (expected value at line 1 column 1)", key_of_make(&a));
    run(&a, &["status", "p.yaml", "--remote"])
        .success()
        .stdout_has("local   fresh")
        .stdout_has("both    fresh")
        .stderr_has(&named)
        .stderr_has("counts as not on the remote; `pipe push` from a store that has it replaces the entry");
    run(&a, &["push", "p.yaml"])
        .success()
        .stderr_has(&format!("note: remote file://{}: {named}: this push replaces it", root.display()))
        .stdout_has("1 artifact(s) pushed")
        .stdout_has("1 already there");
    let b = Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: file://{}\n", root.display()));
    run(&b, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled");

    // Broken again: gc removes it though the pipeline named uses its key.
    std::fs::write(&entry, "").unwrap();
    run(&a, &["gc", "--remote", "p.yaml"]).success().stdout_has("removed 1 entry (1 of them broken");
    assert!(!entry.exists() && files_under(&root, "ac").len() == 1);
}

#[test]
fn push_exits_1_when_something_asked_for_was_not_pushed_after_pushing_the_rest() {
    let (a, root) = ran_with_file_remote();
    // count is stale: make goes up, count is named, and the push fails.
    a.write("p.yaml", &SHARED.replace("wc -l > n.txt", "wc -c > n.txt"));
    run(&a, &["push", "p.yaml"])
        .code(1)
        .stdout_has("1 artifact(s) pushed")
        .stderr_has("count has no artifact under its current key")
        .stderr_has("1 artifact(s) not pushed");
    assert_eq!(files_under(&root, "ac").len(), 1);
    // make's object is found corrupt and quarantined: nothing of it goes up, and --all says so.
    a.write("p.yaml", SHARED);
    run(&a, &["run", "p.yaml"]).success();
    let object = a.cache().join("objects").join(key_of_make(&a));
    let b_txt = object.join("b.txt");
    let mut perms = std::fs::metadata(&b_txt).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&b_txt, perms).unwrap();
    std::fs::write(&b_txt, "changed by hand\n").unwrap();
    std::fs::remove_file(root.join(format!("ac/{}.json", key_of_make(&a)))).unwrap();
    run(&a, &["push", "--all"])
        .code(1)
        .stdout_has("1 artifact(s) pushed")
        .stderr_has(&format!("--all: object {} is not in the store", key_of_make(&a)))
        .stderr_has("1 artifact(s) not pushed");
}

/// The files moved and skipped that the summary line starting with `verb` (`pushed `) counts.
fn counts(stderr: &str, verb: &str) -> (u64, u64) {
    let line = stderr.lines().find(|l| l.starts_with(verb)).unwrap_or_else(|| panic!("{stderr}"));
    let number = |at: &str| line.split(at).next().unwrap().rsplit(' ').next().unwrap().parse::<u64>().unwrap();
    (number(" files,"), number(" skipped"))
}

#[test]
fn push_and_pull_count_files_alike_a_second_file_of_one_content_as_skipped() {
    let (a, root) = ran_with_file_remote();
    let pushed = run(&a, &["push", "p.yaml"]).success();
    let b = Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: file://{}\n", root.display()));
    let pulled = run(&b, &["pull", "p.yaml"]).success();
    let (pushed, pulled) = (counts(&pushed.stderr, "pushed "), counts(&pulled.stderr, "pulled "));
    assert_eq!(pushed, pulled);
    assert!(pushed.1 >= 1, "out/a.txt and out/same.txt are one content: {pushed:?}");
}

#[test]
fn a_push_counts_a_key_shared_by_instances_once_and_the_files_already_there_as_skipped() {
    let t = Test::new()
        .pipeline("name: t\nstages:\n  b: {uses: shell, matrix: {x: [1, 2]}, run: \"echo s > $PIPE_OUT/b\"}\n");
    t.write(".pipe.yaml", &format!("remote: file://{}\n", t.path().join("remote").display()));
    run(&t, &["run", "p.yaml"]).success();
    let first =
        run(&t, &["push", "p.yaml"]).success().stdout_has("1 artifact(s) pushed to").stdout_has(", 0 already there");
    let (files, skipped) = counts(&first.stderr, "pushed ");
    assert_eq!(skipped, 0, "{}", first.stderr);
    // Again: nothing moves, and every file of the artifact is skipped as already there.
    let again =
        run(&t, &["push", "p.yaml"]).success().stdout_has("0 artifact(s) pushed to").stdout_has(", 1 already there");
    assert_eq!(counts(&again.stderr, "pushed "), (0, files), "{}", again.stderr);
    // A pull that has nothing to fetch tells no transfer, only what the store holds.
    std::fs::remove_dir_all(t.cache()).unwrap();
    let pulled = run(&t, &["pull", "p.yaml"]).success().stdout_has("1 artifact(s) pulled from");
    assert_eq!(pulled.stderr.matches("pulled ").count(), 1, "{}", pulled.stderr);
    let again = run(&t, &["pull", "p.yaml"])
        .success()
        .stdout_has("0 artifact(s) pulled from")
        .stdout_has(", 1 already in the store");
    assert!(!again.stderr.contains("pulled "), "{}", again.stderr);
    // Stale, the two instances still share one key: one artifact is not pushed.
    t.write("p.yaml", "name: t\nstages:\n  b: {uses: shell, matrix: {x: [1, 2]}, run: \"echo t > $PIPE_OUT/b\"}\n");
    run(&t, &["push", "p.yaml"]).code(1).stderr_has("error: 1 artifact(s) not pushed");
}

#[test]
fn an_unreadable_lock_is_judged_by_its_age_and_dead_locks_are_removed_by_push_too() {
    let (a, root) = ran_with_file_remote();
    run(&a, &["push", "p.yaml"]).success();
    let locks = root.join("locks");
    let age = |path: &Path, seconds: u64| {
        let then = SystemTime::now() - Duration::from_secs(seconds);
        std::fs::File::options().write(true).open(path).unwrap().set_modified(then).unwrap();
    };
    // Young: it may be a push at work, so gc refuses, naming the file and the way out.
    let empty = locks.join("push-8-4.json");
    std::fs::write(&empty, "").unwrap();
    run(&a, &["gc", "--remote", "p.yaml"])
        .code(1)
        .stderr_has("a pipe push whose lock does not parse (EOF while parsing")
        .stderr_has("lock locks/push-8-4.json")
        .stderr_has("if no pipe is at work on this remote, delete it");
    // Two days old: dead, like a lock not rewritten for 10 minutes.
    age(&empty, 2 * 86_400);
    run(&a, &["gc", "--remote", "p.yaml"]).success().stderr_has("note: removed the lock locks/push-8-4.json");
    assert!(!empty.exists());
    // A push removes dead locks, a broken gc lock and another push's alike.
    let garbage = locks.join("gc-1-1.json");
    let dead_push = locks.join("push-1-1.json");
    std::fs::write(&garbage, "garbage").unwrap();
    let holder = r#"{"op": "push", "host": "elsewhere", "pid": 1, "since": "2026-12-06T16:00:00.000Z"}"#;
    std::fs::write(&dead_push, holder).unwrap();
    age(&garbage, 3600);
    age(&dead_push, 3600);
    run(&a, &["push", "p.yaml"])
        .success()
        .stderr_has("note: removed the lock locks/gc-1-1.json of a pipe gc whose lock does not parse")
        .stderr_has("note: removed the lock locks/push-1-1.json of pipe push on host elsewhere");
    assert_eq!(files_under(&root, "locks"), Vec::<String>::new());
}

#[test]
fn a_dry_run_with_a_remote_says_pull_where_the_run_pulls_and_refuses_what_the_run_refuses() {
    let a = Test::new().pipeline(SHARED);
    let url = format!("file://{}", a.path().join("remote").display());
    run(&a, &["run", "p.yaml"]).success();
    run(&a, &["push", "p.yaml", &format!("--remote={url}")]).success();

    let b = Test::new().pipeline(SHARED);
    let dry = run(&b, &["run", "p.yaml", "--dry-run", &format!("--remote={url}")]).success();
    let would = |stdout: &str, stage: &str| {
        let row = stdout.lines().find(|l| l.starts_with(&format!("{stage} "))).unwrap_or_default();
        row.split_whitespace().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(
        (would(&dry.stdout, "make"), would(&dry.stdout, "count")),
        ("pull".into(), "pull".into()),
        "{}",
        dry.stdout
    );
    let forced = run(&b, &["run", "p.yaml", "--dry-run", "--force", &format!("--remote={url}")]).success();
    assert_eq!(would(&forced.stdout, "make"), "run", "{}", forced.stdout);
    assert_eq!(b.cache_entries("objects"), Vec::<String>::new());
    run(&b, &["run", "p.yaml", &format!("--remote={url}")]).success().stdout_has("2 pulled");

    let c = Test::new().pipeline(SHARED);
    let gone = format!("file://{}", c.path().join("nowhere").display());
    run(&c, &["run", "p.yaml", "--dry-run", &format!("--remote={gone}")]).code(2).stderr_has("no such directory");
    c.write(".pipe.yaml", &format!("remote: {{url: '{url}', rread: true}}\n"));
    run(&c, &["run", "p.yaml", "--dry-run"]).code(2).stderr_has("unknown key `rread` (did you mean `read`?)");
}

#[test]
fn pull_fetches_a_key_two_instances_share_once_and_a_stage_reading_an_upstreams_out_after_it() {
    // b's instances differ in an axis the command does not use: one key. `use` reads gen's
    // out in the workspace: its key is known once that out is back.
    let yaml = "name: t\nstages:\n  b: {uses: shell, matrix: {x: [1, 2]}, run: 'echo same > $PIPE_OUT/b'}\n  gen: {uses: shell, run: 'echo hi > out.txt', outs: [out.txt]}\n  use: {uses: shell, needs: [gen], deps: [out.txt], run: 'cat out.txt > $PIPE_OUT/u'}\n";
    let a = Test::new().pipeline(yaml);
    let url = format!("file://{}", a.path().join("remote").display());
    a.write(".pipe.yaml", &format!("remote: {{url: '{url}', read_only: false}}\n"));
    run(&a, &["run", "p.yaml"]).success();
    run(&a, &["push", "p.yaml"]).success();

    let b = Test::new().pipeline(yaml).file(".pipe.yaml", &format!("remote: '{url}'\n"));
    // Before anything is here, `use` waits for gen, which would run: not broken.
    run(&b, &["status", "p.yaml", "--why"]).success().stdout_has("upstream `gen` is stale");
    let dry = run(&b, &["run", "p.yaml", "--dry-run"]).success();
    assert!(!dry.stdout.contains("fail"), "{}", dry.stdout);
    let mut pull = spawn(&b, &["pull", "p.yaml"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while pull.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            pull.kill().unwrap();
            panic!("pipe pull hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pulled = Ran::from(pull.wait_with_output().unwrap()).success().stdout_has("3 artifact(s) pulled");
    assert!(!pulled.stderr.contains("neither side"), "{}", pulled.stderr);
    assert_eq!(b.lines("out.txt"), ["hi"]);
    run(&b, &["run", "p.yaml"]).success().stdout_has("0 ran, 4 cached");
}

/// Deletes the blob of make's b.txt, which no other file shares, from the remote under
/// `root`; its path there.
fn lose_b_txt(root: &Path) -> String {
    let b3 = blake3::hash(b"beta\n").to_hex().to_string();
    let blob = format!("cas/{}/{b3}", &b3[..2]);
    std::fs::remove_file(root.join(&blob)).unwrap();
    blob
}

#[test]
fn an_entry_whose_file_is_gone_from_the_remote_is_not_there_for_status_pull_names_it_and_push_uploads_it_again() {
    let remotes = Remotes::start("gap");
    for (url, root) in &remotes.each() {
        let a = project(url);
        run(&a, &["run", "p.yaml", "--push"]).success();
        let (make, count) = (key_of_make(&a), by_instance(&a.last_record(), "key")["count"].clone());
        // Its entry stays, naming a file the remote no longer holds.
        let blob = lose_b_txt(root);
        let gap = format!("entry ac/{make}.json lists {blob} (file `b.txt`), which the remote does not hold");

        let b = project(url);
        run(&b, &["status", "p.yaml", "--remote"])
            .success()
            .stdout_has("missing stale")
            .stdout_has("remote  stale")
            .stdout_has(&gap);
        run(&a, &["status", "p.yaml", "--remote"]).success().stdout_has("local   fresh").stdout_has("both    fresh");
        // count comes down, make is named; nothing of make enters the store.
        run(&b, &["pull", "p.yaml"])
            .code(1)
            .stdout_has("1 artifact(s) pulled")
            .stderr_has(&format!("key {make}: not pulled: remote {url}: {gap}"));
        assert_eq!(b.cache_entries("objects"), vec![count.clone()], "{url}");
        assert!(b.cache_entries("tmp").is_empty(), "{url}: {:?}", b.cache_entries("tmp"));
        assert_eq!(support::statuses(&b.last_record()), expect(&[("count", "pulled")]), "{url}");

        // The store that has make uploads the missing file again rather than trust the entry.
        run(&a, &["push", "p.yaml"])
            .success()
            .stderr_has(&format!("note: remote {url}: {gap}: this push uploads it again"))
            .stdout_has("1 artifact(s) pushed")
            .stdout_has("1 already there");
        assert!(root.join(&blob).is_file(), "{url}");
        run(&b, &["pull", "p.yaml"]).success().stdout_has("1 artifact(s) pulled");
        run(&b, &["status", "p.yaml", "--remote"]).success().stdout_has("both    fresh").stdout_has("make");
    }
}

#[test]
fn a_directory_where_an_entry_belongs_is_named_by_every_command_and_the_rest_of_a_push_goes_up() {
    let (a, root) = ran_with_file_remote();
    let make = key_of_make(&a);
    let entry = root.join(format!("ac/{make}.json"));
    std::fs::create_dir_all(entry.join("x")).unwrap();
    let named = format!("entry ac/{make}.json is a directory, not a file");
    // Not empty: nothing of it is removed; count goes up, make is named, and the push fails.
    run(&a, &["push", "p.yaml"])
        .code(1)
        .stderr_has(&format!("key {make}: not pushed: {} is a directory", entry.display()))
        .stderr_has("1 of 2 artifact(s) not pushed")
        .stderr_has("1 pushed, 0 already there");
    assert_eq!(files_under(&root, "ac").len(), 1);
    assert!(entry.join("x").is_dir());
    run(&a, &["status", "p.yaml", "--remote"]).success().stdout_has("local   fresh").stderr_has(&named);
    let b = Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: file://{}\n", root.display()));
    run(&b, &["pull", "p.yaml"]).success().stderr_has(&named).stderr_has("make is on neither side");
    run(&a, &["gc", "--remote", "p.yaml"])
        .success()
        .stderr_has(&format!("{} is a directory", entry.display()))
        .stdout_has("removed 0 entries");

    // Empty: the push replaces it with the entry.
    std::fs::remove_dir(entry.join("x")).unwrap();
    run(&a, &["push", "p.yaml"]).success().stderr_has(&named).stdout_has("1 artifact(s) pushed");
    assert!(entry.is_file());
    // And gc removes an empty one as a broken entry.
    std::fs::remove_file(&entry).unwrap();
    std::fs::create_dir(&entry).unwrap();
    run(&a, &["gc", "--remote", "p.yaml"]).success().stdout_has("removed 1 entry (1 of them broken");
    assert!(!entry.exists());
}

#[test]
fn pull_and_checkout_walk_a_chain_whose_stages_read_their_upstreams_outs() {
    let yaml = "name: chain\nstages:\n  a: {uses: shell, run: 'echo hello > a.txt', outs: [a.txt]}\n  b: {uses: shell, needs: [a], run: 'tr a-z A-Z < a.txt > b.txt', deps: [a.txt], outs: [b.txt]}\n  c: {uses: shell, needs: [b], run: 'cat b.txt b.txt > c.txt', deps: [b.txt], outs: [c.txt]}\n";
    let a = Test::new().pipeline(yaml);
    let url = format!("file://{}", a.path().join("remote").display());
    a.write(".pipe.yaml", &format!("remote: {{url: '{url}', read_only: false}}\n"));
    run(&a, &["run", "p.yaml", "--push"]).success();
    // checkout: b's key is known once a.txt is back, c's once b.txt is.
    for out in ["a.txt", "b.txt", "c.txt"] {
        std::fs::remove_file(a.path().join(out)).unwrap();
    }
    run(&a, &["checkout", "p.yaml"]).success().stdout_has("3 restored");
    assert_eq!(a.lines("c.txt"), ["HELLO", "HELLO"]);

    let b = Test::new().pipeline(yaml).file(".pipe.yaml", &format!("remote: '{url}'\n"));
    // Before a is here the remote cannot be asked about b and c: `-`, not `missing`.
    let status = run(&b, &["status", "p.yaml", "--remote"]).success();
    assert_eq!(status.stdout.lines().filter(|l| l.starts_with("-       stale  -")).count(), 2, "{}", status.stdout);
    // Nor can gc --remote tell which entries b and c use, with no lock file naming them: it removes nothing.
    let entries = files_under(&a.path().join("remote"), "ac");
    run(&b, &["gc", "--remote", "p.yaml", "--keep-recent", "0s"])
        .code(1)
        .stderr_has("the keys of b wait for upstream outs the workspace lacks")
        .stderr_has("Nothing was removed");
    assert_eq!(files_under(&a.path().join("remote"), "ac"), entries);
    // With a already in the store (its out not in the workspace), pull still walks on.
    run(&b, &["run", "p.yaml", "--stage", "a"]).success();
    std::fs::remove_file(b.path().join("a.txt")).unwrap();
    let pulled = run(&b, &["pull", "p.yaml"]).success().stdout_has("2 artifact(s) pulled");
    assert!(!pulled.stderr.contains("neither side"), "{}", pulled.stderr);
    assert_eq!(b.lines("c.txt"), ["HELLO", "HELLO"]);

    // A damaged blob: what came down before it is recorded (gc keeps it), and the pull fails.
    let c = Test::new().pipeline(yaml).file(".pipe.yaml", &format!("remote: '{url}'\n"));
    let b_txt = blake3::hash(b"HELLO\n").to_hex().to_string();
    std::fs::write(a.path().join("remote/cas").join(&b_txt[..2]).join(&b_txt), "XXXXX\n").unwrap();
    run(&c, &["pull", "p.yaml"]).code(1).stdout_has("1 artifact(s) pulled").stderr_has("is damaged");
    assert_eq!(c.statuses(), expect(&[("a", "pulled")]));
    assert_eq!(c.last_record()["ok"], false);
    c.run(&["runs"]).success().stdout_has("PULLED");
    run(&c, &["gc"]).success().stdout_has("removed 0 object(s)");
}

#[test]
fn remote_gc_leaves_what_a_directory_where_an_entry_belongs_holds_and_counts_it_as_nothing_removed() {
    let (a, root) = ran_with_file_remote();
    run(&a, &["push", "p.yaml"]).success().stdout_has("2 artifact(s) pushed");
    // A key no pipeline uses: gc would remove its entry, were it one.
    let entry = root.join(format!("ac/{}.json", "7e".repeat(32)));
    std::fs::create_dir(&entry).unwrap();
    std::fs::write(entry.join("notes.txt"), "important\n").unwrap();
    let named = format!("{} is a directory where the entry of key", entry.display());
    for dry in [true, false] {
        let args = [&["gc", "--remote", "p.yaml", "--keep-recent", "0s"][..], if dry { &["--dry-run"] } else { &[] }];
        run(&a, &args.concat())
            .success()
            .stdout_has(if dry { "would remove 0 entries" } else { "removed 0 entries" })
            .stderr_has(&named);
        assert_eq!(std::fs::read_to_string(entry.join("notes.txt")).unwrap(), "important\n", "dry run: {dry}");
        assert_eq!(files_under(&root, "ac").len(), 3, "dry run: {dry}: the two entries and the note stay");
    }
}

#[test]
fn run_with_remote_computes_a_stage_whose_entry_lists_a_file_the_remote_lost_and_still_pulls_the_next() {
    let remotes = Remotes::start("rungap");
    for (url, root) in &remotes.each() {
        let a = project(url);
        run(&a, &["run", "p.yaml", "--push"]).success();
        let make = key_of_make(&a);
        // count's entry and files stay whole.
        let blob = lose_b_txt(root);
        let gap = format!(
            "warning: stage `make`: remote {url}: entry ac/{make}.json lists {blob} (file `b.txt`), which the remote does not hold"
        );
        // Required (--remote) or from the config alone: make is a miss, computed; count is still pulled.
        let required = project(url);
        let optional =
            Test::new().pipeline(SHARED).file(".pipe.yaml", &format!("remote: {{url: '{url}', read: true}}\n"));
        for (t, args) in [(&required, &["run", "p.yaml", "--remote"][..]), (&optional, &["run", "p.yaml"][..])] {
            let ran = run(t, args).success().stdout_has("1 ran, 0 cached, 1 pulled").stderr_has(&gap);
            assert!(!ran.stderr.contains("without the remote"), "{url}: {}", ran.stderr);
            assert_eq!(t.lines("ran.log"), ["make"], "{url}");
            assert_eq!(t.statuses(), expect(&[("make", "ran"), ("count", "pulled")]), "{url}");
        }
    }
}

#[test]
fn a_full_file_remote_is_an_error_naming_the_file_a_push_could_not_write_and_the_lock_gc_could_not() {
    let t = Test::new().pipeline(
        "name: full\nstages:\n  big: {uses: shell, run: 'head -c 600000 /dev/urandom > $PIPE_OUT/big.bin'}\n",
    );
    let disk = t.small_disk("remote", 512 << 10);
    let root = t.path().join("remote");
    t.write(".pipe.yaml", &format!("remote: file://{}\n", root.display()));
    run(&t, &["run", "p.yaml"]).success();
    run(&t, &["push", "p.yaml"])
        .code(1)
        .stderr_has("not pushed: file `big.bin`: remote file://")
        .stderr_has("No space left on device")
        .stderr_has("1 of 1 artifact(s) not pushed");
    assert_eq!(files_under(&root, "ac"), Vec::<String>::new(), "an entry went up without its file");
    assert!(Command::new("sh").arg("-c").arg(disk.fill_leaving(0)).status().unwrap().success());
    // gc writes its lock before anything else: on a full remote, that is what fails.
    run(&t, &["gc", "--remote", "p.yaml"])
        .code(1)
        .stderr_has("cannot write its lock `locks/gc-")
        .stderr_has("No space left on device");
}

#[test]
fn a_pull_into_a_full_cache_says_the_cache_here_failed_not_the_remote() {
    let t = Test::new().pipeline(
        "name: full\nstages:\n  big: {uses: shell, run: 'head -c 600000 /dev/urandom > $PIPE_OUT/big.bin'}\n",
    );
    t.write(".pipe.yaml", &format!("remote: file://{}\n", t.path().join("remote").display()));
    run(&t, &["run", "p.yaml"]).success();
    run(&t, &["push", "p.yaml"]).success();
    let _disk = t.small_disk("small", 256 << 10);
    let pulled = run(&t, &["--cache", "small", "pull", "p.yaml"])
        .code(1)
        .stderr_has("big.bin: No space left on device")
        .stderr_has("1 artifact(s) not pulled from file://")
        .stderr_has("writing into the cache here failed (above)");
    assert!(!pulled.stderr.contains("pipe push"), "the advice blames the remote: {}", pulled.stderr);
    assert_eq!(files_under(&t.path().join("small"), "objects"), Vec::<String>::new());
}
