//! DVC's implied DAG: a stage depends on every stage with an out equal to, or a
//! parent or child directory of, one of its deps (as `dvc/repo/graph.py` does).
//! A dep inside an upstream out is the upstream's artifact and is not hashed again;
//! a dep directory that holds an upstream out is hashed too (it may hold more).
//! Frozen stages are not run, so their outs are plain files to their readers.

use pipe_stages::workspace::{overlap, within};

use super::stage::Stage;

/// Where a stage's deps lead.
#[derive(Debug, Default, PartialEq)]
pub struct Wiring {
    /// Upstream stages, by index, in file order.
    pub needs: Vec<usize>,
    /// Frozen stages whose outs it reads: DVC's edges, which `--downstream` of them follows.
    pub frozen: Vec<usize>,
    /// Deps whose contents enter the key.
    pub hashed: Vec<String>,
    /// Deps inside an upstream out: that upstream's artifact enters the key instead.
    pub reads: Vec<String>,
}

/// The wiring of each stage; errors name the stage at fault, the key and the message.
pub fn wire(stages: &[Stage]) -> Result<Vec<Wiring>, (usize, &'static str, String)> {
    for (j, b) in stages.iter().enumerate() {
        for out in &b.outs {
            if let Some(dep) = b.deps.iter().find(|d| overlap(d, out)) {
                let how = if dep == out { "is also a dep".to_string() } else { format!("overlaps its dep `{dep}`") };
                return Err((
                    j,
                    "outs",
                    format!("out `{out}` {how} of the same stage (a stage cannot read what it writes)"),
                ));
            }
            if let Some(twice) = b.outs.iter().filter(|o| overlap(o, out)).nth(1) {
                return Err((j, "outs", format!("outs `{out}` and `{twice}` overlap")));
            }
            for (i, a) in stages[..j].iter().enumerate() {
                if let Some(other) = a.outs.iter().find(|o| overlap(o, out)) {
                    let how = if other == out {
                        "is also an out of".to_string()
                    } else {
                        format!("overlaps out `{other}` of")
                    };
                    return Err((
                        j,
                        "outs",
                        format!("out `{out}` {how} stage `{}`: two stages cannot write the same path", stages[i].name),
                    ));
                }
            }
        }
    }
    Ok(stages
        .iter()
        .map(|stage| {
            let mut wiring = Wiring::default();
            for dep in &stage.deps {
                let mut hash = false;
                let mut from_upstream = false;
                for (j, up) in stages.iter().enumerate() {
                    for out in &up.outs {
                        let inside = within(dep, out);
                        if !inside && !within(out, dep) {
                            continue;
                        }
                        // A frozen stage never runs: its out is a plain file, hashed as it is.
                        if inside && !up.frozen {
                            from_upstream = true;
                        } else {
                            hash = true;
                        }
                        let edges = if up.frozen { &mut wiring.frozen } else { &mut wiring.needs };
                        if !edges.contains(&j) {
                            edges.push(j);
                        }
                    }
                }
                if hash || !from_upstream {
                    wiring.hashed.push(dep.clone());
                } else {
                    wiring.reads.push(dep.clone());
                }
            }
            wiring.needs.sort_unstable();
            wiring.frozen.sort_unstable();
            wiring
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(name: &str, def: serde_json::Value) -> Stage {
        let mut def = def.as_object().unwrap().clone();
        def.insert("cmd".into(), json!("true"));
        super::super::stage::parse(name.into(), &def).unwrap()
    }

    #[test]
    fn deps_inside_outs_are_edges_and_dirs_holding_outs_are_hashed_too() {
        let stages = [
            stage("prep", json!({"deps": ["raw.csv"], "outs": ["data/prepared"]})),
            stage("feat", json!({"deps": ["data/prepared/train.tsv", "src"], "outs": ["data/features"]})),
            stage("all", json!({"deps": ["data", "raw.csv"]})),
        ];
        let w = wire(&stages).unwrap();
        assert_eq!(w[0], Wiring { needs: vec![], frozen: vec![], hashed: vec!["raw.csv".into()], reads: vec![] });
        assert_eq!(
            w[1],
            Wiring {
                needs: vec![0],
                frozen: vec![],
                hashed: vec!["src".into()],
                reads: vec!["data/prepared/train.tsv".into()]
            }
        );
        assert_eq!(
            w[2],
            Wiring { needs: vec![0, 1], frozen: vec![], hashed: vec!["data".into(), "raw.csv".into()], reads: vec![] }
        );
    }

    #[test]
    fn shared_outs_and_own_deps_are_errors_and_frozen_outs_are_files() {
        let twice = [stage("a", json!({"outs": ["o"]})), stage("b", json!({"outs": ["o/x"]}))];
        let (at, key, message) = wire(&twice).unwrap_err();
        assert_eq!((at, key), (1, "outs"));
        assert_eq!(message, "out `o/x` overlaps out `o` of stage `a`: two stages cannot write the same path");
        let own = [stage("a", json!({"deps": ["o"], "outs": ["o"]}))];
        assert!(wire(&own).unwrap_err().2.contains("out `o` is also a dep of the same stage"));
        let frozen = [
            stage("a", json!({"outs": ["o"], "frozen": true})),
            stage("b", json!({"deps": ["o/x"], "outs": ["p"]})),
            stage("c", json!({"deps": ["p", "o"]})),
        ];
        let w = wire(&frozen).unwrap();
        assert_eq!(w[1], Wiring { needs: vec![], frozen: vec![0], hashed: vec!["o/x".into()], reads: vec![] });
        assert_eq!(w[2], Wiring { needs: vec![1], frozen: vec![0], hashed: vec!["o".into()], reads: vec!["p".into()] });
    }
}
