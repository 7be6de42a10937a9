//! The plan: the pipeline's stages expanded into concrete instances (one per
//! matrix combination) in a DAG, with params interpolated and resolved by the
//! stage kind. Building it touches nothing on disk, so a bad file leaves the
//! cache untouched.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use petgraph::Direction;
use pipe_stages::shell::DvcStage;
use pipe_stages::Registry;
use serde_json::Value;

use crate::executor::ExecutorKind;
use crate::interpolate::{interpolate, Scope};
use crate::matrix::{self, Combo};
use crate::resources::Resources;
use crate::spec::{Frozen, Pipeline, StageSpec};
use crate::{suggest, Error};

/// One concrete unit of work.
#[derive(Debug, Clone)]
pub struct Instance {
    /// `train[dropout=0.1,pooling=mean]`, or the stage name.
    pub name: String,
    pub stage: String,
    pub kind: String,
    pub version: u32,
    /// Own and inherited matrix values.
    pub matrix: Combo,
    /// Resolved params (defaults filled in): part of the key.
    pub params: Value,
    pub seed: u64,
    /// Upstream instances (indices into [`Plan::instances`]): `needs` first, then `gather`.
    pub inputs: Vec<usize>,
    /// The stage's own `resources:` (executors fill in the defaults).
    pub resources: Resources,
    /// Workspace paths read from upstream outs ([`crate::spec::StageSpec::reads`]).
    pub reads: Vec<String>,
    pub reuse: Reuse,
    /// [`crate::spec::StageSpec::dvc`].
    pub dvc: Option<DvcStage>,
}

/// Which earlier artifacts of an instance's key a run, `status` and `checkout` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reuse {
    /// Any in the store or on the remote.
    Any,
    /// Only that of the key the lock file names (none without one). DVC keeps no run-cache for
    /// a stage with `persist` outs, or without outs or deps: it runs one again whenever its
    /// inputs differ from `dvc.lock`'s, even back to an earlier state, so that a `persist`
    /// out goes on from what the workspace holds instead of an earlier run's copy.
    Locked(Option<String>),
}

impl Reuse {
    pub fn allows(&self, key: &str) -> bool {
        match self {
            Reuse::Any => true,
            Reuse::Locked(locked) => locked.as_deref() == Some(key),
        }
    }
}

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    pub workdir: PathBuf,
    /// In topological order: every instance comes after its inputs.
    pub instances: Vec<Instance>,
    /// The pipeline's `resources:` defaults and `executor:` setting.
    pub resources: Resources,
    pub executor: Option<ExecutorKind>,
    /// Stages that never run (dvc.yaml's `frozen: true`): `--stage` names them without error.
    pub frozen: Vec<Frozen>,
    graph: DiGraph<usize, ()>,
}

/// Which instances a run processes, and which of them `--force` applies to.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Selected instances and their upstream.
    pub run: Vec<bool>,
    /// The instances named by `--stage` (with `--downstream`, their dependents too).
    pub targets: Vec<bool>,
}

pub fn build(pipeline: &Pipeline, registry: &Registry) -> Result<Plan, Error> {
    let names: Vec<&str> = pipeline.stage_names().collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut stages = DiGraph::<usize, ()>::new();
    let nodes: Vec<NodeIndex> = (0..names.len()).map(|i| stages.add_node(i)).collect();
    for (i, spec) in pipeline.stages.iter().enumerate() {
        if registry.get(&spec.uses).is_none() {
            return Err(Error::Config(format!(
                "{}: stage `{}`: unknown stage kind `{}`{}; known kinds: {}",
                pipeline.at(&spec.name, Some("uses")),
                spec.name,
                spec.uses,
                suggest::hint(&spec.uses, registry.kinds()),
                registry.kinds().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut seen = BTreeSet::new();
        for (field, up) in upstream(spec) {
            // Only on error: finding the line scans the file, once per edge would be quadratic.
            let at = || pipeline.at(&spec.name, Some(field));
            let j = *index.get(up.as_str()).ok_or_else(|| {
                Error::Config(format!(
                    "{}: stage `{}`: `{field}`: unknown stage `{up}`{}",
                    at(),
                    spec.name,
                    suggest::hint(up, names.iter().copied())
                ))
            })?;
            if !seen.insert(j) {
                return Err(Error::Config(format!("{}: stage `{}` lists `{up}` twice", at(), spec.name)));
            }
            stages.add_edge(nodes[j], nodes[i], ());
        }
    }
    let order = stage_order(pipeline, &stages)?;
    let mut plan = Plan {
        name: pipeline.name.clone(),
        file: pipeline.file.clone(),
        workdir: pipeline.workdir.clone(),
        instances: Vec::new(),
        resources: pipeline.resources.clone(),
        executor: pipeline.executor,
        frozen: pipeline.frozen.clone(),
        graph: DiGraph::new(),
    };
    let mut of_stage: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for i in order {
        of_stage[i] = expand(pipeline, registry, &pipeline.stages[i], &index, &of_stage, &mut plan.instances)?;
    }
    let uncached: Vec<usize> = (0..names.len()).filter(|&i| !pipeline.stages[i].run_cache).collect();
    if !uncached.is_empty() {
        let locked = crate::lockfile::load(&pipeline.file)?.stages;
        for &u in uncached.iter().flat_map(|&i| &of_stage[i]) {
            let inst = &mut plan.instances[u];
            inst.reuse = Reuse::Locked(locked.get(&inst.name).map(|entry| entry.key.clone()));
        }
    }
    let nodes: Vec<NodeIndex> = (0..plan.instances.len()).map(|i| plan.graph.add_node(i)).collect();
    for (i, inst) in plan.instances.iter().enumerate() {
        for &u in &inst.inputs {
            plan.graph.add_edge(nodes[u], nodes[i], ());
        }
    }
    Ok(plan)
}

fn upstream(spec: &StageSpec) -> impl Iterator<Item = (&'static str, &String)> {
    spec.needs.iter().map(|n| ("needs", n)).chain(spec.gather.iter().map(|g| ("gather", g)))
}

/// Kahn's algorithm, taking the earliest stage in file order whenever several
/// are ready, so the order is stable and reads like the file. Stages left over
/// lie on or behind a cycle, which is then walked back to name its path.
fn stage_order(pipeline: &Pipeline, graph: &DiGraph<usize, ()>) -> Result<Vec<usize>, Error> {
    let mut missing: Vec<usize> =
        graph.node_indices().map(|n| graph.neighbors_directed(n, Direction::Incoming).count()).collect();
    let mut ready: BTreeSet<usize> = (0..missing.len()).filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for next in graph.neighbors_directed(NodeIndex::new(i), Direction::Outgoing) {
            missing[next.index()] -= 1;
            if missing[next.index()] == 0 {
                ready.insert(next.index());
            }
        }
    }
    if order.len() == missing.len() {
        return Ok(order);
    }
    // Every left-over stage has a left-over upstream; following them must repeat.
    let mut path = vec![(0..missing.len()).find(|&i| missing[i] > 0).unwrap_or_default()];
    loop {
        let last = *path.last().unwrap_or(&0);
        let up = graph
            .neighbors_directed(NodeIndex::new(last), Direction::Incoming)
            .map(|n| n.index())
            .find(|&u| missing[u] > 0)
            .unwrap_or(last);
        if let Some(start) = path.iter().position(|&p| p == up) {
            let cycle: Vec<String> =
                path[start..].iter().chain([&up]).map(|&i| format!("`{}`", pipeline.stages[i].name)).collect();
            let first = &pipeline.stages[up].name;
            return Err(Error::Config(format!(
                "{}: cycle in `needs`: {}",
                pipeline.at(first, Some("needs")),
                cycle.join(" needs ")
            )));
        }
        path.push(up);
    }
}

/// The instances of one stage: every consistent combination of its `needs`
/// instances, crossed with its own matrix. Gathered stages contribute all their
/// instances that agree with the combination.
/// The workspace paths an instance reads from its upstreams' outs: `listed` (the DVC front end
/// finds them) and its deps that lie inside a declared out of one of its `inputs`.
fn upstream_reads(
    registry: &Registry,
    instances: &[Instance],
    inputs: &[usize],
    listed: &[String],
    paths: Result<pipe_stages::workspace::Paths, pipe_stages::StageError>,
) -> Result<Vec<String>, String> {
    let mut reads = listed.to_vec();
    let deps = paths.map_err(|e| e.to_string())?.deps;
    for &u in inputs {
        let up = &instances[u];
        let Some(stage) = registry.get(&up.kind) else { continue };
        let outs = stage.workspace(&up.params).map_err(|e| format!("stage `{}`: {e}", up.name))?.outs;
        let inside = deps.iter().filter(|d| outs.iter().any(|o| pipe_stages::workspace::within(d, o)));
        for dep in inside {
            if !reads.contains(dep) {
                reads.push(dep.clone());
            }
        }
    }
    Ok(reads)
}

fn expand(
    pipeline: &Pipeline,
    registry: &Registry,
    spec: &StageSpec,
    index: &HashMap<&str, usize>,
    of_stage: &[Vec<usize>],
    instances: &mut Vec<Instance>,
) -> Result<Vec<usize>, Error> {
    let config = |key: Option<&str>, message: String| {
        Error::Config(format!("{}: stage `{}`: {message}", pipeline.at(&spec.name, key), spec.name))
    };
    let mut partial: Vec<(Combo, Vec<usize>)> = vec![(Combo::new(), Vec::new())];
    for up in &spec.needs {
        let mut next = Vec::new();
        for (combo, inputs) in &partial {
            for &u in &of_stage[index[up.as_str()]] {
                if let Some(merged) = matrix::merge(combo, &instances[u].matrix) {
                    next.push((merged, inputs.iter().copied().chain([u]).collect()));
                }
            }
        }
        partial = next;
    }
    let own = matrix::expand(spec.matrix.as_ref(), &spec.exclude).map_err(|m| config(Some("matrix"), m))?;
    if spec.seed.is_some() && own.iter().any(|c| c.contains_key(matrix::SEED)) {
        return Err(config(Some("seed"), "`seed:` and a `seed` matrix axis both set the seed; keep one".into()));
    }
    let stage =
        registry.get(&spec.uses).ok_or_else(|| config(Some("uses"), format!("unknown stage kind `{}`", spec.uses)))?;
    let raw = Value::Object(spec.with.clone());
    let mut made = Vec::new();
    for (upstream, needs) in &partial {
        for combo in own.iter().filter_map(|o| matrix::merge(upstream, o)) {
            let mut inputs = needs.clone();
            for g in &spec.gather {
                let all = &of_stage[index[g.as_str()]];
                inputs.extend(all.iter().copied().filter(|&u| matrix::merge(&combo, &instances[u].matrix).is_some()));
            }
            let scope = Scope { params: &pipeline.params, matrix: &combo };
            let with = interpolate(&raw, &scope).map_err(|m| config(Some("with"), m))?;
            let params = stage.resolve(&with).map_err(|e| {
                let (key, message) = match e {
                    pipe_stages::StageError::Param { key, message } => (key, message),
                    other => (String::new(), other.to_string()),
                };
                let line_key = Some(key.as_str()).filter(|k| spec.with.contains_key(*k)).or(Some("with"));
                // serde's message names the key only for unknown and missing fields.
                let named = if key.is_empty() || message.contains(&format!("`{key}`")) {
                    String::new()
                } else {
                    format!("`{key}`: ")
                };
                config(line_key, format!("invalid params ({}): {named}{}", spec.uses, suggest::explain(&message)))
            })?;
            let seed = matrix::seed(&combo).map_err(|m| config(Some("matrix"), m))?;
            let reads = upstream_reads(registry, instances, &inputs, &spec.reads, stage.workspace(&params))
                .map_err(|m| config(Some("deps"), m))?;
            let name = matrix::instance_name(&spec.name, &combo);
            if instances.iter().any(|i| i.name == name) {
                return Err(config(Some("matrix"), format!("instance `{name}` would be made twice")));
            }
            instances.push(Instance {
                name,
                stage: spec.name.clone(),
                kind: spec.uses.clone(),
                version: stage.version(),
                matrix: combo,
                params,
                seed: seed.or(spec.seed).unwrap_or(pipeline.seed),
                inputs,
                resources: spec.resources.clone(),
                reads,
                reuse: Reuse::Any,
                dvc: spec.dvc.clone(),
            });
            made.push(instances.len() - 1);
        }
    }
    if made.is_empty() {
        return Err(config(
            Some("needs"),
            "no combination of its upstream matrix instances agrees on shared matrix keys".into(),
        ));
    }
    Ok(made)
}

/// Matrix instances named by some of their values: `train[pooling=cls, lr=1e-3]` picks
/// `train[lr=0.001,pooling=cls]` (values in any order, as YAML writes them), and
/// `train[pooling=cls]` every `train` instance with `pooling=cls`.
pub(crate) struct Selector {
    stage: String,
    values: Combo,
}

impl Selector {
    /// `stage[key=value, ...]` (a value with a comma quoted: `opt="a,b"`); None for a name
    /// without `[`, an error saying what is wrong for a malformed one.
    pub(crate) fn parse(name: &str) -> Option<Result<Selector, String>> {
        let (stage, rest) = name.split_once('[')?;
        let Some(values) = rest.strip_suffix(']') else { return Some(Err("no `]` at its end".into())) };
        if values.trim().is_empty() {
            return Some(Err("no key=value between `[` and `]`".into()));
        }
        let mut combo = Combo::new();
        for pair in split_outside_quotes(values) {
            let Some((k, v)) = pair.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
                return Some(Err(format!("`{}` is not key=value", pair.trim())));
            };
            let v = v.trim();
            let value = serde_yaml_ng::from_str::<Value>(v).unwrap_or_else(|_| Value::from(v));
            if combo.insert(k.trim().to_string(), value).is_some() {
                return Some(Err(format!("`{}` is given twice", k.trim())));
            }
        }
        Some(Ok(Selector { stage: stage.to_string(), values: combo }))
    }

    /// Whether an instance of `stage` with matrix values `combo` has every value named.
    pub(crate) fn picks(&self, stage: &str, combo: &Combo) -> bool {
        stage == self.stage && self.values.iter().all(|(k, v)| combo.get(k) == Some(v))
    }

    /// Whether it picks the instance named `name` (`train[lr=0.001,pooling=cls]`).
    pub(crate) fn picks_name(&self, name: &str) -> bool {
        matches!(Selector::parse(name), Some(Ok(s)) if self.picks(&s.stage, &s.values))
    }
}

/// The DVC group a stage name belongs to (`sweep` of `sweep@0.1-8`), or the name itself.
fn group(stage: &str) -> &str {
    stage.split_once('@').map_or(stage, |(group, _)| group)
}

/// `a=1, opt="x,y"` split at the commas outside quotes.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (at, c) in text.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (',', None) => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

impl Plan {
    /// Instances of a stage (by stage name, or DVC group name `train` for `train@0`), one
    /// instance, or those a [`Selector`] picks.
    pub fn matching(&self, name: &str) -> Vec<usize> {
        let name = self.unprefixed(name);
        let of = |i: &Instance| i.stage == name || i.name == name || group(&i.stage) == name;
        let found: Vec<usize> = (0..self.instances.len()).filter(|&i| of(&self.instances[i])).collect();
        match Selector::parse(name) {
            Some(Ok(s)) if found.is_empty() => (0..self.instances.len())
                .filter(|&i| s.picks(&self.instances[i].stage, &self.instances[i].matrix))
                .collect(),
            _ => found,
        }
    }

    /// Why `name` selects nothing, for `--stage` and `pipe show`: a malformed selector, the
    /// instances of a stage none of which has the values named, or the nearest stage name.
    pub fn not_found(&self, name: &str) -> String {
        let bare = self.unprefixed(name);
        let file = self.file.display();
        let selector = Selector::parse(bare);
        let stage = match &selector {
            Some(Err(problem)) => return format!("{problem}; name instances as `stage[key=value, ...]`"),
            Some(Ok(s)) => s.stage.as_str(),
            // `sweep@0.7-8`: DVC's name of an instance of group `sweep`.
            None => group(bare),
        };
        // A stage, or a DVC group.
        let of: Vec<&str> =
            self.instances.iter().filter(|i| group(&i.stage) == stage).map(|i| i.name.as_str()).collect();
        if !of.is_empty() {
            return format!("no instance of `{stage}` in {file} has these values; its instances: {}", of.join(", "));
        }
        let known: BTreeSet<&str> = self.instances.iter().map(|i| group(&i.stage)).collect();
        format!("no such stage in {file}{}", suggest::hint(stage, known.iter().copied()))
    }

    /// `name` without a `dvc.yaml:` (or `./dvc.yaml:`) prefix naming this plan's file, as DVC
    /// addresses a stage of a file.
    fn unprefixed<'a>(&self, name: &'a str) -> &'a str {
        let Some(file) = self.file.file_name().map(|f| f.to_string_lossy()) else { return name };
        let name = name.strip_prefix("./").unwrap_or(name);
        name.strip_prefix(&format!("{file}:")).unwrap_or(name)
    }

    /// `--stage` names (and with `downstream`, their dependents) plus their upstream.
    /// No names selects everything.
    pub fn select(&self, names: &[String], downstream: bool) -> Result<Selection, Error> {
        let n = self.instances.len();
        if names.is_empty() {
            return Ok(Selection { run: vec![true; n], targets: vec![true; n] });
        }
        let mut targets = vec![false; n];
        for name in names {
            let mut found = self.matching(name);
            let bare = self.unprefixed(name);
            let frozen: Vec<&Frozen> =
                self.frozen.iter().filter(|f| f.name == bare || group(&f.name) == bare).collect();
            if found.is_empty() && !frozen.is_empty() {
                eprintln!("note: --stage {name}: the stage is frozen (`frozen: true`): it never runs, as in dvc repro");
            }
            if downstream {
                for reader in frozen.iter().flat_map(|f| &f.readers) {
                    found.extend(self.matching(reader));
                }
            }
            if found.is_empty() && frozen.is_empty() {
                return Err(Error::Config(format!("--stage {name}: {}", self.not_found(name))));
            }
            for i in found {
                targets[i] = true;
                if downstream {
                    let mut dfs = Dfs::new(&self.graph, NodeIndex::new(i));
                    while let Some(d) = dfs.next(&self.graph) {
                        targets[d.index()] = true;
                    }
                }
            }
        }
        let mut run = targets.clone();
        let reversed = Reversed(&self.graph);
        for i in (0..n).filter(|&i| targets[i]) {
            let mut dfs = Dfs::new(reversed, NodeIndex::new(i));
            while let Some(u) = dfs.next(reversed) {
                run[u.index()] = true;
            }
        }
        Ok(Selection { run, targets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use std::path::Path;

    fn plan(yaml: &str) -> Result<Plan, Error> {
        build(&spec::parse(Path::new("x.yaml"), yaml.to_string())?, &Registry::builtin())
    }

    #[test]
    fn matrix_fans_out_downstream_and_gather_collects() {
        let p = plan(
            "name: m\nstages:\n  a: {uses: shell, run: 'true'}\n  t:\n    uses: shell\n    needs: [a]\n    matrix: {x: [1, 2], y: [p, q]}\n    run: echo ${matrix.x}\n  e: {uses: shell, needs: [t], run: 'true'}\n  g: {uses: shell, gather: [e], run: 'true'}\n",
        )
        .unwrap();
        let names: Vec<&str> = p.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names.len(), 1 + 4 + 4 + 1, "{names:?}");
        assert!(names.contains(&"e[x=2,y=q]"), "{names:?}");
        assert_eq!(p.instances.last().unwrap().inputs.len(), 4);
        assert_eq!(p.instances[1].params["run"], "echo 1");
        // Instances by their values in any order, stages as DVC addresses them in a file.
        let name = |i: usize| p.instances[i].name.as_str();
        assert_eq!(p.matching("t[y=q,x=2]").iter().map(|&i| name(i)).collect::<Vec<_>>(), ["t[x=2,y=q]"]);
        assert_eq!(p.matching("x.yaml:e").len(), 4);
        assert_eq!(p.matching("./x.yaml:e").len(), 4);
        assert!(p.matching("t[y=r,x=2]").is_empty());
        // Some of the values: every instance that has them (downstream instances inherit them).
        let names = |sel: &str| p.matching(sel).iter().map(|&i| name(i).to_string()).collect::<Vec<_>>();
        assert_eq!(names("t[y=q]"), ["t[x=1,y=q]", "t[x=2,y=q]"]);
        assert_eq!(names("e[x=2]"), ["e[x=2,y=p]", "e[x=2,y=q]"]);
        assert!(names("t[z=1]").is_empty() && names("a[x=1]").is_empty());
        // A malformed selector selects nothing and says why.
        for (bad, why) in [
            ("t[]", "no key=value"),
            ("t[x]", "`x` is not key=value"),
            ("t[x=1", "no `]`"),
            ("t[x=1,x=2]", "`x` is given twice"),
        ] {
            assert!(p.matching(bad).is_empty(), "{bad}");
            assert!(p.not_found(bad).starts_with(why), "{bad}: {}", p.not_found(bad));
        }
        assert!(p.not_found("t[x=3]").ends_with("its instances: t[x=1,y=p], t[x=1,y=q], t[x=2,y=p], t[x=2,y=q]"));
        // Values as YAML writes them, spaces after commas: the name holds the parsed value.
        let p = plan(
            "name: m\nstages:\n  t:\n    uses: shell\n    matrix: {lr: [1e-3, 2.0e-5], on: [true]}\n    run: 'true'\n",
        )
        .unwrap();
        let name = |i: usize| p.instances[i].name.as_str();
        assert_eq!(
            p.matching("t[on=true, lr=1e-3]").iter().map(|&i| name(i)).collect::<Vec<_>>(),
            ["t[lr=0.001,on=true]"]
        );
        assert_eq!(p.matching("t[lr=2.0e-5,on=true]").len(), 1);
        // A value with a comma, quoted.
        let p =
            plan("name: m\nstages:\n  g:\n    uses: shell\n    matrix: {opt: ['a,b', c], f: [1]}\n    run: 'true'\n")
                .unwrap();
        assert_eq!(p.matching("g[opt=\"a,b\"]").len(), 1);
        assert_eq!(p.matching("g[f=1, opt='a,b']").len(), 1);
    }

    #[test]
    fn cycles_and_unknown_needs_name_the_path() {
        let err = plan("name: c\nstages:\n  a: {uses: shell, run: x, needs: [c]}\n  b: {uses: shell, run: x, needs: [a]}\n  c: {uses: shell, run: x, needs: [b]}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle in `needs`: `") && err.matches(" needs ").count() == 3, "{err}");
        let err = plan("name: c\nstages:\n  a: {uses: shell, run: x, needs: [bb]}\n  b: {uses: shell, run: x}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml:3: stage `a`: `needs`: unknown stage `bb` (did you mean `b`?)"), "{err}");
    }
}
