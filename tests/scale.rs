//! Engine costs that grow with the size of an out or of a pipeline: each must stay linear.

mod support;

use std::time::{Duration, Instant};

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

/// The fastest of three `pipe status` of a chain of `n` stages (never run: the pre-run
/// checks and the probe are what is timed).
fn status_time(n: usize) -> Duration {
    let t = Test::new().pipeline(&chain(n));
    (0..3)
        .map(|_| {
            let started = Instant::now();
            t.run(&["status", "p.yaml"]).success().stdout_has(&format!("{n} of {n} stage instance(s) stale"));
            started.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn status_of_a_long_chain_takes_time_in_proportion_to_its_length() {
    // Linear is 4x; the quadratic checks this guards against made it 13x (0.44 s against 5.7 s).
    let (short, long) = (status_time(500), status_time(2000));
    let ratio = long.as_secs_f64() / short.as_secs_f64();
    assert!(ratio < 8.0, "500 stages: {short:?}, 2,000 stages: {long:?} ({ratio:.1}x)");
}
