//! What a run shows while it works: one indicatif bar per running stage on a
//! terminal, plain lines otherwise (logs, CI, tests).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Reporter {
    bars: Option<MultiProgress>,
}

/// The progress handle a running stage reports through.
pub enum StageBar {
    Bar(ProgressBar),
    Plain,
}

const SPINNER: &str = "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}";
const BAR: &str = "{spinner:.cyan} {prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {wide_msg} {elapsed:>4}<{eta}";

fn style(template: &str) -> ProgressStyle {
    // The templates are constants; a typo in them falls back to a plain spinner.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()).progress_chars("=> ")
}

impl Reporter {
    pub fn new() -> Reporter {
        Reporter { bars: std::io::stderr().is_terminal().then(MultiProgress::new) }
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
                StageBar::Plain
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
        if let StageBar::Bar(bar) = self {
            bar.set_style(style(BAR));
            bar.set_length(len);
        }
    }

    fn set_position(&self, pos: u64) {
        if let StageBar::Bar(bar) = self {
            bar.set_position(pos);
        }
    }

    fn set_message(&self, msg: &str) {
        if let StageBar::Bar(bar) = self {
            bar.set_message(msg.to_string());
        }
    }
}
