//! Generated inputs for everything that reads user text before a run: the YAML spec
//! parser, `--set` and `${...}` interpolation. A mutation corpus built from the real
//! pipelines (bytes cut, YAML tokens spliced in, lines duplicated, swapped and
//! re-indented) goes through the engine in process, and every 25th case through the
//! `pipe` binary too: no panic, and every failure is a configuration error (exit 2).

mod support;

use std::path::Path;

use pipe::plan;
use pipe::preflight;
use pipe::{overrides, spec};
use pipe_stages::Registry;
use support::Test;

const CASES: usize = 6000;
const EVERY_CLI: usize = 25;

/// Pieces of YAML and of pipe's own syntax that mutations splice in.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "\n  ",
    "\n    ",
    "\t",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "!!binary ",
    "~",
    "null",
    "true",
    "1e309",
    "-0",
    "0x1F",
    "${",
    "}",
    "${params.",
    "${matrix.",
    "${params.model}",
    "${matrix.pooling}",
    "${nope.x}",
    "$${x}",
    "needs: [",
    "gather: [",
    "matrix: {",
    "exclude: [{",
    "uses: shell",
    "uses: train",
    "with: {",
    "run: ",
    "deps: [",
    "outs: [",
    "../",
    "/etc/",
    "seed: ",
    "-1",
    "18446744073709551616",
    "stages:",
    "params:",
    "name: ",
    "? ",
    "|",
    ">",
    "---\n",
    "...\n",
    "<<: *a",
    "\u{0}",
    "é",
    "\u{feff}",
];

const SETS: &[&str] = &[
    "train.lr=3e-5",
    "params.model=x",
    "train.epochs=",
    "=1",
    "train=1",
    "train.=1",
    ".lr=1",
    "params.=2",
    "params.seed=[1, 2]",
    "train.with.x={a: 1}",
    "evaluate.batch_size=-3",
    "train.pooling=${matrix.pooling}",
    "a.run=echo ${params.v}",
    "a.deps=[../x]",
    "a.outs=/etc/passwd",
    "train.lr=[",
    "x.y.z.w=~",
    "params.v=*a",
];

/// xorshift64*: a fixed seed gives the same cases on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    for dir in ["pipelines", "tests/pipelines"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir)).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        texts.extend(
            files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .map(|p| std::fs::read_to_string(p).unwrap()),
        );
    }
    assert!(texts.len() >= 4, "the real pipelines are the corpus");
    texts
}

/// One to four mutations of `text` (at char boundaries, so the result stays UTF-8).
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut s = text.to_string();
    for _ in 0..=rng.below(4) {
        let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let at = bounds[rng.below(bounds.len())];
        match rng.below(6) {
            0 => {
                let end = bounds[(bounds.iter().position(|&b| b == at).unwrap() + rng.below(40)).min(bounds.len() - 1)];
                s.replace_range(at..end, "");
            }
            1 | 2 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            3 | 4 => {
                let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
                if lines.is_empty() {
                    continue;
                }
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                match rng.below(3) {
                    0 => lines.swap(i, j),
                    1 => lines.insert(i, lines[j].clone()),
                    _ => lines[i] = format!("{}{}", " ".repeat(rng.below(7)), lines[i].trim_start()),
                }
                s = lines.join("\n");
            }
            _ => s.truncate(at),
        }
    }
    s
}

/// A `--set`: one of the samples, or a sample mutated.
fn set(rng: &mut Rng) -> String {
    let base = SETS[rng.below(SETS.len())];
    if rng.below(2) == 0 {
        base.to_string()
    } else {
        mutate(base, rng)
    }
}

/// The engine's path from text to a checked plan; every error must be a configuration error.
fn load(dir: &Path, yaml: &str, sets: &[String], registry: &Registry) -> Result<(), pipe::Error> {
    let mut pipeline = spec::parse(&dir.join("p.yaml"), yaml.to_string())?;
    let parsed = sets.iter().map(|s| overrides::parse(s)).collect::<Result<Vec<_>, _>>()?;
    overrides::apply(&mut pipeline, &parsed)?;
    let plan = plan::build(&pipeline, registry)?;
    let selection = plan.select(&[], false)?;
    preflight::check(&pipeline, &plan, registry, &selection.run, &dir.join("cache"))
}

#[test]
fn mutated_pipelines_and_sets_give_exit_0_or_2_and_never_panic() {
    let registry = Registry::builtin();
    let corpus = corpus();
    let t = Test::new();
    let hf = t.path().join("hf");
    std::fs::create_dir(&hf).unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let started = std::time::Instant::now();
    let (mut ok, mut config, mut cli) = (0, 0, 0);
    for case in 0..CASES {
        let yaml = mutate(&corpus[rng.below(corpus.len())], &mut rng);
        let sets: Vec<String> = (0..rng.below(3)).map(|_| set(&mut rng)).collect();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(t.path(), &yaml, &sets, &registry)));
        match outcome {
            Err(_) => panic!("case {case} panicked on\n{yaml}\n--set {sets:?}"),
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                assert_eq!(e.exit_code(), 2, "case {case}: {e}\n{yaml}\n--set {sets:?}");
                config += 1;
            }
        }
        if case % EVERY_CLI == 0 {
            t.write("p.yaml", &yaml);
            let mut args = vec!["run".to_string(), "p.yaml".into(), "--dry-run".into()];
            args.extend(sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]));
            let out = t
                .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .env("HF_HOME", &hf)
                .env("HF_HUB_OFFLINE", "1")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 2)) && !stderr.contains("panicked"),
                "case {case}: {code:?} {stderr}\n{yaml}"
            );
            cli += 1;
        }
    }
    assert!(!t.cache().exists(), "a dry run or a bad file writes nothing");
    // The corpus must reach the planner, not only the YAML parser's error paths.
    assert!(ok > CASES / 50 && config > CASES / 2, "ok {ok}, config errors {config}");
    eprintln!(
        "{CASES} cases ({ok} valid, {config} config errors, {cli} through the binary) in {:.1?}",
        started.elapsed()
    );
}

#[test]
fn interpolation_of_generated_strings_never_panics() {
    let scope_params = serde_json::json!({"model": "m", "n": 3, "list": [1, 2], "map": {"a": null}});
    let params = scope_params.as_object().unwrap();
    let matrix = [("pooling".to_string(), serde_json::json!("cls"))].into_iter().collect();
    let scope = pipe::interpolate::Scope { params, matrix: &matrix };
    let mut rng = Rng(42);
    for _ in 0..CASES {
        let pieces: Vec<&str> = (0..rng.below(8)).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        let text = pieces.concat();
        let value = serde_json::json!({"a": text, "b": [text.clone(), {"c": text}]});
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pipe::interpolate::interpolate(&value, &scope)));
        assert!(result.is_ok(), "interpolating {text:?} panicked");
    }
}
