//! The Slurm commands the executor calls: `sbatch`, `squeue`, `sacct` and `scancel`.
//! Each status query is one call for all jobs, whatever their number.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};

use crate::Error;

/// One job as the controller (or the accounting database) reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL, ...
    pub state: String,
    /// Why it is pending or ended (`Dependency`, `Resources`, `DependencyNeverSatisfied`).
    pub reason: String,
    pub node: String,
    pub seconds: f64,
}

impl JobState {
    /// Still queued or running: the job may yet produce its artifact.
    pub fn live(&self) -> bool {
        const LIVE: [&str; 11] = [
            "PENDING",
            "CONFIGURING",
            "RUNNING",
            "COMPLETING",
            "SUSPENDED",
            "REQUEUED",
            "REQUEUE_HOLD",
            "REQUEUE_FED",
            "RESIZING",
            "STAGE_OUT",
            "SIGNALING",
        ];
        LIVE.contains(&self.state.as_str())
    }

    /// `PENDING (Dependency)`, `RUNNING on node1`, `FAILED (NonZeroExitCode)`.
    pub fn describe(&self) -> String {
        // sacct keeps a finished job's last pending reason (`Dependency`): news only while pending.
        let pending = self.state == "PENDING";
        let reason = Some(self.reason.as_str())
            .filter(|r| !r.is_empty() && *r != "None")
            .filter(|r| pending || (*r != "Dependency" && self.state != "COMPLETED"));
        match (self.state.as_str(), reason) {
            ("RUNNING" | "COMPLETING", _) if !self.node.is_empty() => format!("{} on {}", self.state, self.node),
            (state, Some(reason)) => format!("{state} ({reason})"),
            (state, None) => state.to_string(),
        }
    }
}

/// Where a cluster run starts: each command it calls must be on PATH, or it would fail at
/// its first submission, with a run already recorded (exit 2, nothing recorded).
pub fn require_commands() -> Result<(), Error> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = |program: &str| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    };
    match ["sbatch", "squeue", "scancel"].into_iter().find(|p| !on_path(p)) {
        Some(program) => Err(Error::Config(format!(
            "executor slurm: `{program}` is not on PATH: is this a Slurm login node with Slurm's commands on PATH? (`--executor local` runs here)"
        ))),
        None => Ok(()),
    }
}

fn run(program: &str, args: &[String], stdin: Option<&str>) -> Result<Output, Error> {
    let mut command = Command::new(program);
    command.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        Error::Config(format!(
            "cannot start `{program}` ({e}): is this a Slurm login node with Slurm's commands on PATH?"
        ))
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(Error::io(program))?;
    }
    child.wait_with_output().map_err(Error::io(program))
}

fn failed(program: &str, output: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    Error::Failed { message: format!("`{program}` failed ({}): {}", output.status, stderr.trim()), config: false }
}

/// Submits `script` (given on stdin) with `args`; returns the job id.
pub fn sbatch(script: &str, args: &[String]) -> Result<String, Error> {
    let mut all = vec!["--parsable".to_string()];
    all.extend_from_slice(args);
    let output = run("sbatch", &all, Some(script))?;
    if !output.status.success() {
        return Err(failed("sbatch", &output));
    }
    // `--parsable` prints `id` or `id;cluster`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Failed { message: format!("sbatch printed no job id: {stdout:?}"), config: false });
    }
    Ok(id)
}

pub fn scancel(ids: &[String]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let output = run("scancel", ids, None)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed("scancel", &output))
    }
}

/// Asks about jobs: where accounting works `sacct` (which knows finished jobs for
/// good), and `squeue` for the jobs it does not know (all of them without slurmdbd;
/// just-submitted ones that have not reached the database yet). `squeue` forgets
/// finished jobs after MinJobAge: a job missing from the answer is long gone.
pub struct Status {
    accounting: bool,
}

impl Default for Status {
    /// Tries `sacct` first; the first answer without accounting turns it off.
    fn default() -> Status {
        Status { accounting: true }
    }
}

impl Status {
    pub fn query(&mut self, ids: &[String]) -> Result<HashMap<String, JobState>, Error> {
        let mut states = HashMap::new();
        if ids.is_empty() {
            return Ok(states);
        }
        if self.accounting {
            let args =
                ["--noheader", "--parsable2", "--allocations", "--format=JobIDRaw,State,Reason,NodeList,ElapsedRaw"];
            let mut args: Vec<String> = args.map(String::from).to_vec();
            args.push(format!("--jobs={}", ids.join(",")));
            match run("sacct", &args, None) {
                Ok(output) if output.status.success() => states = parse_sacct(&String::from_utf8_lossy(&output.stdout)),
                // Without slurmdbd: "Slurm accounting storage is disabled". Ask the controller from now on.
                _ => self.accounting = false,
            }
        }
        let missing: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !states.contains_key(*id)).collect();
        if missing.is_empty() {
            return Ok(states);
        }
        let args = ["--noheader", "--states=all", "--format=%i|%T|%r|%N|%M"];
        let mut args: Vec<String> = args.map(String::from).to_vec();
        args.push(format!("--jobs={}", missing.join(",")));
        let output = run("squeue", &args, None)?;
        if output.status.success() {
            states.extend(parse_squeue(&String::from_utf8_lossy(&output.stdout)));
        } else if !String::from_utf8_lossy(&output.stderr).contains("Invalid job id") {
            // "Invalid job id" comes only when no id is known (squeue answers for the others when some are).
            return Err(failed("squeue", &output));
        }
        Ok(states)
    }
}

fn parse_sacct(text: &str) -> HashMap<String, JobState> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('|').collect();
            let [id, state, reason, node, elapsed] = f.as_slice() else { return None };
            // "CANCELLED by 0" -> CANCELLED
            let state = state.split_whitespace().next().unwrap_or_default().to_string();
            let node = if *node == "None assigned" { "" } else { node };
            let seconds = elapsed.parse().unwrap_or(0.0);
            Some((id.to_string(), JobState { state, reason: reason.to_string(), node: node.to_string(), seconds }))
        })
        .collect()
}

fn parse_squeue(text: &str) -> HashMap<String, JobState> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.trim().split('|').collect();
            let [id, state, reason, node, elapsed] = f.as_slice() else { return None };
            let state = JobState {
                state: state.to_string(),
                reason: reason.to_string(),
                node: node.to_string(),
                seconds: clock(elapsed),
            };
            Some((id.to_string(), state))
        })
        .collect()
}

/// squeue's `%M`: `M:SS`, `H:MM:SS` or `D-HH:MM:SS`.
fn clock(text: &str) -> f64 {
    let (days, rest) = text.split_once('-').unwrap_or(("0", text));
    let fields = rest.split(':').rev().map(|f| f.parse::<f64>().unwrap_or(0.0));
    let seconds: f64 = fields.zip([1.0, 60.0, 3600.0]).map(|(v, unit)| v * unit).sum();
    days.parse::<f64>().unwrap_or(0.0) * 86_400.0 + seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_and_sacct_lines_become_states() {
        let q = parse_squeue(
            "12|PENDING|Dependency||0:00\n13|RUNNING|None|node7|1:02:03\n14|FAILED|NonZeroExitCode|node7|2-00:00:05\n",
        );
        assert_eq!(q["12"].describe(), "PENDING (Dependency)");
        assert_eq!(q["13"].describe(), "RUNNING on node7");
        assert_eq!(q["13"].seconds, 3723.0);
        assert_eq!(q["14"].seconds, 172_805.0);
        assert!(q["12"].live() && q["13"].live() && !q["14"].live());
        let a = parse_sacct(
            "20|CANCELLED by 0|DependencyNeverSatisfied|None assigned|0\n21|OUT_OF_MEMORY|OutOfMemory|gpu3|96\n",
        );
        assert_eq!(a["20"].describe(), "CANCELLED (DependencyNeverSatisfied)");
        assert_eq!(
            a["21"],
            JobState {
                state: "OUT_OF_MEMORY".into(),
                reason: "OutOfMemory".into(),
                node: "gpu3".into(),
                seconds: 96.0
            }
        );
        assert!(!a["20"].live());
        let done =
            parse_sacct("22|COMPLETED|Dependency|gpu3|5\n23|FAILED|Dependency|gpu3|5\n24|TIMEOUT|TimeLimit|gpu3|60\n");
        assert_eq!(
            [done["22"].describe(), done["23"].describe(), done["24"].describe()],
            ["COMPLETED", "FAILED", "TIMEOUT (TimeLimit)"]
        );
        assert_eq!(clock("0:07"), 7.0);
    }
}
