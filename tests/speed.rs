//! The no-op budget: a fully cached run of a 10-stage pipeline, as a whole
//! process, must take under 50 ms (median of 11 runs).

mod support;

use std::time::{Duration, Instant};

use support::Test;

#[test]
fn a_fully_cached_10_stage_run_takes_under_50_ms() {
    let mut yaml = String::from("name: noop\nstages:\n");
    let mut t = Test::new();
    for i in 0..10 {
        let needs = if i > 0 { format!(", needs: [s{}]", i - 1) } else { String::new() };
        yaml.push_str(&format!("  s{i}: {{uses: shell, run: 'cat data{i}.txt > $PIPE_OUT/out{i}.txt', deps: [data{i}.txt]{needs}}}\n"));
        t = t.file(&format!("data{i}.txt"), &format!("data {i}\n").repeat(100));
    }
    let t = t.pipeline(&yaml);
    t.run(&["run", "p.yaml"]).success().stdout_has("10 ran");
    let mut times: Vec<Duration> = (0..11)
        .map(|_| {
            let start = Instant::now();
            t.run(&["run", "p.yaml"]).success().stdout_has("0 ran, 10 cached");
            start.elapsed()
        })
        .collect();
    times.sort();
    assert!(times[5] < Duration::from_millis(50), "median no-op run took {:?} (all: {times:?})", times[5]);
}
