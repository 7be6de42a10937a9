//! Freshness without running anything: walks the plan in order, computing each
//! instance's key from its upstream artifacts where those are in the store.
//! Used by `status`, `show` and `run --dry-run`.

use pipe_stages::workspace::{overlap, Paths};
use pipe_stages::Registry;
use serde_json::Value;

use crate::key::KeyParts;
use crate::plan::Plan;
use crate::store::{Artifact, Store};
use crate::workspace::{self, Drift};
use crate::Error;

pub enum State {
    /// Its artifact is in the store.
    Fresh(Artifact),
    /// It would run. The key is known when every upstream is fresh.
    Stale { key: Option<String> },
    /// Its key cannot be computed (a dep is missing, say).
    Broken(String),
}

pub struct Probe {
    pub state: State,
    /// Known when the key is: what `--why` compares with the last build.
    pub parts: Option<KeyParts>,
    /// While a stale upstream keeps the key unknown: the parts known so far (the inputs
    /// with known artifacts), so `--why` still names the instance's own changes.
    pub partial: Option<KeyParts>,
    /// Upstream instances and their artifact hashes where fresh (or known from the remote).
    pub inputs: Vec<(String, Option<String>)>,
    /// The artifact hash the remote holds for the key, when a remote was consulted.
    pub remote: Option<String>,
    /// Outs of fresh upstream instances this one reads that a run puts back into the
    /// workspace first (missing, or another run's): `out` (out of `instance`). The key
    /// waits for them, as what the workspace holds now is not what the run will hash.
    pub pending: Vec<String>,
    /// The upstream instances whose outs those are: what `checkout` puts back first.
    pub waits_on: Vec<usize>,
    /// How its declared outs stand in the workspace, where a downstream probe compared
    /// them (for [`Probe::pending`]): `status` reuses it rather than hash them again.
    pub outs: Option<Vec<(String, Drift)>>,
}

/// Looks a key up on a remote: its artifact hash there, if any.
pub type RemoteLookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, Error>;

impl Probe {
    /// A probe whose key is not known.
    fn keyless(state: State, inputs: Vec<(String, Option<String>)>) -> Probe {
        Probe {
            state,
            parts: None,
            partial: None,
            inputs,
            remote: None,
            pending: Vec::new(),
            waits_on: Vec::new(),
            outs: None,
        }
    }

    /// What keeps its key unknown, for messages: upstream outs to be back in the
    /// workspace, or upstreams with no artifact; None when nothing does.
    pub fn waits_for(&self) -> Option<String> {
        if !self.pending.is_empty() {
            return Some(format!("{} to be back in the workspace", self.pending.join(", ")));
        }
        let unbuilt: Vec<String> =
            self.inputs.iter().filter(|(_, a)| a.is_none()).map(|(u, _)| format!("`{u}`")).collect();
        (!unbuilt.is_empty()).then(|| format!("upstream {}", unbuilt.join(", ")))
    }

    pub fn artifact(&self) -> Option<&Artifact> {
        match &self.state {
            State::Fresh(a) => Some(a),
            _ => None,
        }
    }
}

/// Probes the instances marked in `which` (their upstream must be marked too).
pub fn probe(plan: &Plan, registry: &Registry, store: &Store, which: &[bool]) -> Result<Vec<Option<Probe>>, Error> {
    probe_via(plan, registry, store, which, None)
}

/// [`probe`], also asking `remote` for every key it can compute: an artifact found only
/// there lets the keys downstream of it be computed too (what `pipe pull` downloads).
pub fn probe_via(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    which: &[bool],
    remote: Option<RemoteLookup>,
) -> Result<Vec<Option<Probe>>, Error> {
    let mut probes: Vec<Option<Probe>> = Vec::with_capacity(plan.instances.len());
    for (i, inst) in plan.instances.iter().enumerate() {
        if !which[i] {
            probes.push(None);
            continue;
        }
        let inputs: Vec<(String, Option<String>)> = inst
            .inputs
            .iter()
            .map(|&u| {
                let up = probes[u].as_ref();
                let hash = up.and_then(Probe::artifact).map(|a| a.hash.clone()).or_else(|| up?.remote.clone());
                (plan.instances[u].name.clone(), hash)
            })
            .collect();
        let (pending, waits_on) = pending(plan, registry, store, &mut probes, i)?;
        if !pending.is_empty() {
            probes.push(Some(Probe { pending, waits_on, ..Probe::keyless(State::Stale { key: None }, inputs) }));
            continue;
        }
        let fingerprint = match registry.get(&inst.kind) {
            Some(stage) => stage.fingerprint(&inst.params, &plan.workdir).map_err(|e| e.to_string()),
            None => Err(format!("unknown stage kind `{}`", inst.kind)),
        };
        let probe = match fingerprint {
            // The file is missing because the upstream that writes it has not run: as any
            // instance downstream of a stale one, its key waits for that run.
            Err(_) if reads_unbuilt_upstream(plan, registry, &probes, i) => {
                Probe::keyless(State::Stale { key: None }, inputs)
            }
            Err(message) => Probe::keyless(State::Broken(message), inputs),
            Ok(fingerprint) => known(plan, store, i, inputs, fingerprint, remote)?,
        };
        probes.push(Some(probe));
    }
    Ok(probes)
}

/// The workspace paths instance `i` declares (none for a stage kind without them).
fn paths(plan: &Plan, registry: &Registry, i: usize) -> Paths {
    let inst = &plan.instances[i];
    registry.get(&inst.kind).and_then(|s| s.workspace(&inst.params).ok()).unwrap_or_default()
}

/// Whether instance `i`'s deps read an out of an upstream with no artifact in the store yet
/// (a run or a pull brings it).
fn reads_unbuilt_upstream(plan: &Plan, registry: &Registry, probes: &[Option<Probe>], i: usize) -> bool {
    let deps = paths(plan, registry, i).deps;
    let unbuilt = |u: &&usize| probes[**u].as_ref().is_some_and(|p| p.artifact().is_none());
    plan.instances[i]
        .inputs
        .iter()
        .filter(unbuilt)
        .any(|&u| paths(plan, registry, u).outs.iter().any(|out| deps.iter().any(|dep| overlap(dep, out))))
}

/// The outs of instance `i`'s fresh upstreams that its deps read and a run would put back
/// first ([`Probe::pending`]), and those upstreams ([`Probe::waits_on`]); each upstream's
/// comparison is kept in its [`Probe::outs`].
fn pending(
    plan: &Plan,
    registry: &Registry,
    store: &Store,
    probes: &mut [Option<Probe>],
    i: usize,
) -> Result<(Vec<String>, Vec<usize>), Error> {
    let inst = &plan.instances[i];
    let deps = paths(plan, registry, i).deps;
    let (mut pending, mut waits_on) = (Vec::new(), Vec::new());
    if deps.is_empty() {
        return Ok((pending, waits_on));
    }
    for &u in &inst.inputs {
        let Some(Probe { state: State::Fresh(artifact), outs, .. }) = probes[u].as_mut() else { continue };
        if outs.is_none() {
            *outs = Some(workspace::drift(plan, registry, store, u, artifact)?);
        }
        for (out, _) in outs.iter().flatten().filter(|(_, d)| matches!(d, Drift::Missing | Drift::Earlier)) {
            if deps.iter().any(|dep| overlap(dep, out)) {
                pending.push(format!("`{out}` (out of `{}`)", plan.instances[u].name));
                if waits_on.last() != Some(&u) {
                    waits_on.push(u);
                }
            }
        }
    }
    Ok((pending, waits_on))
}

fn known(
    plan: &Plan,
    store: &Store,
    i: usize,
    inputs: Vec<(String, Option<String>)>,
    fingerprint: Value,
    remote: Option<RemoteLookup>,
) -> Result<Probe, Error> {
    let artifacts: Option<Vec<String>> = inputs.iter().map(|(_, a)| a.clone()).collect();
    let Some(artifacts) = artifacts else {
        let known: Vec<String> = inputs.iter().map(|(_, a)| a.clone().unwrap_or_default()).collect();
        let mut partial = KeyParts::of(plan, i, &known, fingerprint);
        partial.inputs.retain(|input| !input.artifact.is_empty());
        return Ok(Probe { partial: Some(partial), ..Probe::keyless(State::Stale { key: None }, inputs) });
    };
    let parts = KeyParts::of(plan, i, &artifacts, fingerprint);
    let key = parts.key();
    let reuse = &plan.instances[i].reuse;
    let on_remote = match remote {
        Some(lookup) if reuse.allows(&key) => lookup(&key)?,
        _ => None,
    };
    let state = match store.lookup(&key)? {
        Some(artifact) if reuse.allows(&key) => State::Fresh(artifact),
        _ => State::Stale { key: Some(key) },
    };
    Ok(Probe { parts: Some(parts), remote: on_remote, ..Probe::keyless(state, inputs) })
}
