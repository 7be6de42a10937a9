//! The no-op budget, measured (not asserted): a fully cached run of a 10-stage
//! pipeline as a whole `pipe` process. Run with `cargo bench --bench noop`;
//! prints the median of 21 runs after one warm-up.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::Test;

fn main() {
    let mut yaml = String::from("name: noop\nstages:\n");
    let mut t = Test::new();
    for i in 0..10 {
        let needs = if i > 0 { format!(", needs: [s{}]", i - 1) } else { String::new() };
        yaml.push_str(&format!(
            "  s{i}: {{uses: shell, run: 'cat data{i}.txt > $PIPE_OUT/out{i}.txt', deps: [data{i}.txt]{needs}}}\n"
        ));
        t = t.file(&format!("data{i}.txt"), &format!("data {i}\n").repeat(100));
    }
    let t = t.pipeline(&yaml);
    t.run(&["run", "p.yaml"]).success().stdout_has("10 ran");
    t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 10 cached");
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let start = Instant::now();
            t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 10 cached");
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "no-op run of a fully cached 10-stage pipeline: median {:.1} ms (min {:.1}, max {:.1}, 21 runs)",
        times[10].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[20].as_secs_f64() * 1e3
    );
}
