//! What a run shows while it works: one indicatif bar per running stage on a
//! terminal, plain lines otherwise (logs, CI, tests) — there the stage's progress
//! message is printed now and then, so a long stage shows its epoch, loss and ETA.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::mutex::lock;

pub struct Reporter {
    bars: Option<MultiProgress>,
    /// Every line the stages' commands write goes to stderr (a cluster job's log), not a summary.
    whole_output: bool,
}

/// The progress handle a running stage reports through.
pub enum StageBar {
    Bar(ProgressBar),
    Plain(Mutex<Plain>),
}

/// A message repeated in a log at most this often (when it changed)...
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// ...or this often when its shape changed (a new phase: next epoch, evaluating, ...).
const PLAIN_PHASE_EVERY: Duration = Duration::from_secs(1);

/// The progress of one stage as occasional log lines.
pub struct Plain {
    instance: String,
    started: Instant,
    message: String,
    position: u64,
    length: Option<u64>,
    /// When the last line was printed, and its message's shape.
    printed: Option<(Instant, String)>,
    /// The command's output lines are printed as they come, not as occasional messages.
    whole_output: bool,
}

const SPINNER: &str = "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}";
const BAR: &str = "{spinner:.cyan} {prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {wide_msg} {elapsed:>4}<{eta}";

fn style(template: &str) -> ProgressStyle {
    // The templates are constants; a typo in them falls back to a plain spinner.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()).progress_chars("=> ")
}

impl Reporter {
    pub fn new() -> Reporter {
        Reporter { bars: std::io::stderr().is_terminal().then(MultiProgress::new), whole_output: false }
    }

    /// For a cluster job (`pipe job`): no terminal watches it, its stderr is its log, so
    /// every line its command writes goes there.
    pub fn whole_output() -> Reporter {
        Reporter { bars: None, whole_output: true }
    }

    pub fn started(&self, instance: &str) -> StageBar {
        match &self.bars {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style(SPINNER));
                bar.set_prefix(instance.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                StageBar::Bar(bar)
            }
            None => {
                eprintln!("running {instance}");
                let plain = Plain { whole_output: self.whole_output, ..Plain::new(instance, Instant::now()) };
                StageBar::Plain(Mutex::new(plain))
            }
        }
    }

    pub fn finished(&self, bar: StageBar, line: &str) {
        if let StageBar::Bar(bar) = bar {
            bar.finish_and_clear();
            if let Some(multi) = &self.bars {
                multi.remove(&bar);
            }
        }
        self.line(line);
    }

    /// A line above the bars (or on stderr).
    pub fn line(&self, line: &str) {
        match &self.bars {
            // println fails only when stderr is gone; there is nowhere left to report to.
            Some(multi) => drop(multi.println(line)),
            None => eprintln!("{line}"),
        }
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::new()
    }
}

impl pipe_stages::Progress for StageBar {
    fn set_length(&self, len: u64) {
        match self {
            StageBar::Bar(bar) => {
                bar.set_style(style(BAR));
                bar.set_length(len);
            }
            StageBar::Plain(plain) => lock(plain).length = Some(len),
        }
    }

    fn set_position(&self, pos: u64) {
        match self {
            StageBar::Bar(bar) => bar.set_position(pos),
            StageBar::Plain(plain) => {
                let mut plain = lock(plain);
                plain.position = pos;
                plain.print_if_due(Instant::now());
            }
        }
    }

    fn set_message(&self, msg: &str) {
        match self {
            StageBar::Bar(bar) => bar.set_message(msg.to_string()),
            StageBar::Plain(plain) => {
                let mut plain = lock(plain);
                plain.message = msg.to_string();
                plain.print_if_due(Instant::now());
            }
        }
    }

    fn output(&self, line: &str) {
        match self {
            StageBar::Plain(plain) if lock(plain).whole_output => eprintln!("{line}"),
            _ => self.set_message(line.trim()),
        }
    }
}

impl Plain {
    fn new(instance: &str, started: Instant) -> Plain {
        Plain {
            instance: instance.to_string(),
            started,
            message: String::new(),
            position: 0,
            length: None,
            printed: None,
            whole_output: false,
        }
    }

    fn print_if_due(&mut self, now: Instant) {
        if let Some(line) = self.due(now) {
            eprintln!("{line}");
        }
    }

    /// The line to print now, if any: the first message at once, then a message of a
    /// new shape after a second, and any other change every ten seconds.
    fn due(&mut self, now: Instant) -> Option<String> {
        if self.message.is_empty() {
            return None;
        }
        let shape = shape(&self.message);
        let wait = match &self.printed {
            None => Duration::ZERO,
            Some((_, last)) if *last != shape => PLAIN_PHASE_EVERY,
            Some(_) => PLAIN_EVERY,
        };
        if self.printed.as_ref().is_some_and(|(at, _)| now.duration_since(*at) < wait) {
            return None;
        }
        self.printed = Some((now, shape));
        let count = self.length.map(|len| format!(" [{}/{len}]", self.position)).unwrap_or_default();
        let elapsed = now.duration_since(self.started).as_secs();
        Some(format!("    ... {} {}m{:02}s: {}{count}", self.instance, elapsed / 60, elapsed % 60, self.message))
    }
}

/// A message with its numbers taken out: `epoch 1/3 step 40/600` and `epoch 2/3 step 1/600`
/// have one shape; `epoch 1/3: evaluating on dev` another.
fn shape(message: &str) -> String {
    message.chars().filter(|c| !c.is_ascii_digit()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_come_at_once_then_on_new_phases_and_every_ten_seconds() {
        let t0 = Instant::now();
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        let mut p = Plain::new("train", t0);
        assert_eq!(p.due(at(0.0)), None, "nothing to say yet");
        p.length = Some(600);
        p.position = 1;
        p.message = "epoch 1/3 step 1/600 loss 0.6931 eta 9m59s".into();
        assert_eq!(p.due(at(0.5)).unwrap(), "    ... train 0m00s: epoch 1/3 step 1/600 loss 0.6931 eta 9m59s [1/600]");
        p.message = "epoch 1/3 step 2/600 loss 0.6900 eta 9m58s".into();
        assert_eq!(p.due(at(5.0)), None, "same phase within ten seconds");
        assert!(p.due(at(10.6)).unwrap().contains("step 2/600"));
        p.message = "epoch 1/3: evaluating on dev".into();
        assert_eq!(p.due(at(11.0)), None, "a new phase waits a second");
        assert!(p.due(at(11.7)).unwrap().ends_with("evaluating on dev [1/600]"));
        p.message = "epoch 2/3 step 201/600 loss 0.5000 eta 5m00s".into();
        p.position = 201;
        assert!(p.due(at(75.0)).unwrap().starts_with("    ... train 1m15s: epoch 2/3 step 201/600"));
    }
}
