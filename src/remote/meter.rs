//! Transfer progress in bytes and files: a bar on a terminal, and always a summary
//! line at the end (`pulled 12 files, 3.4 MiB (3565158 bytes) in 0.52s; 5 skipped (...)`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use pipe_stages::tree::FileHash;

const BAR: &str = "{prefix:.bold} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {msg} {bytes_per_sec} {elapsed:>4}";

pub struct Meter {
    /// None for a quiet meter: no bar, no summary line.
    verb: Option<&'static str>,
    bar: Option<ProgressBar>,
    started: Instant,
    files: u64,
    done: AtomicU64,
    bytes: AtomicU64,
    skipped: AtomicU64,
}

/// What a transfer moved, for the summary line and the tests' parsing of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub skipped: u64,
    pub seconds: f64,
}

impl Meter {
    /// `verb` is `pushed` or `pulled`; `moving` are the files that may move, `kept` those of
    /// artifacts the destination holds whole already, counted as skipped at once.
    pub fn new<'f>(verb: &'static str, moving: impl Iterator<Item = &'f FileHash>, kept: &[&'f FileHash]) -> Meter {
        let (files, bytes) = moving.chain(kept.iter().copied()).fold((0, 0), |(n, b), f| (n + 1, b + f.size));
        let bar = (std::io::stderr().is_terminal() && files > 0).then(|| {
            let bar = ProgressBar::new(bytes);
            let style = ProgressStyle::with_template(BAR).unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(verb);
            bar
        });
        let meter = Meter { verb: Some(verb), bar, files, ..Meter::quiet() };
        meter.show();
        kept.iter().for_each(|f| meter.file(f.size, false));
        meter
    }

    /// Counts without showing anything (a download inside `pipe run`, which reports per stage).
    pub fn quiet() -> Meter {
        Meter {
            verb: None,
            bar: None,
            started: Instant::now(),
            files: 0,
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// One file moved (`moved`) or found already there, with its size.
    pub fn file(&self, size: u64, moved: bool) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if moved {
            self.bytes.fetch_add(size, Ordering::Relaxed);
        } else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(bar) = &self.bar {
            bar.inc(size);
        }
        self.show();
    }

    fn show(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("files {}/{}", self.done.load(Ordering::Relaxed), self.files));
        }
    }

    pub fn finish(self) -> Totals {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let skipped = self.skipped.into_inner();
        let totals = Totals {
            files: self.done.into_inner() - skipped,
            bytes: self.bytes.into_inner(),
            skipped,
            seconds: self.started.elapsed().as_secs_f64(),
        };
        let Some(verb) = self.verb else { return totals };
        eprintln!(
            "{verb} {} files, {} ({} bytes) in {:.2}s; {} skipped (already there, or the same content as another)",
            totals.files,
            HumanBytes(totals.bytes),
            totals.bytes,
            totals.seconds,
            totals.skipped
        );
        totals
    }
}
