//! Splits a command's output into lines for the progress display and keeps the last
//! stderr lines for a failure message, in bounded memory: a progress bar redrawn with
//! `\r` millions of times, or one line of 100 MB, costs at most [`LINE_CAP`] bytes a
//! line.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::Progress;

/// The most bytes of one line that are kept; the rest is counted and marked.
const LINE_CAP: usize = 4096;
/// How many trailing lines [`Lines::finish`] returns.
const TAIL: usize = 20;
/// How often, at most, a line ended by `\r` (a redrawn progress bar) is shown.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Lines<'p> {
    progress: &'p dyn Progress,
    line: Vec<u8>,
    /// Bytes of the current line past [`LINE_CAP`].
    cut: usize,
    /// The current line ended with `\r`: the next byte other than `\n` starts it over,
    /// as a terminal draws it.
    redrawn: bool,
    shown: Option<Instant>,
    tail: VecDeque<String>,
}

impl<'p> Lines<'p> {
    pub fn new(progress: &'p dyn Progress) -> Lines<'p> {
        Lines { progress, line: Vec::new(), cut: 0, redrawn: false, shown: None, tail: VecDeque::new() }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\n' => self.end(),
                b'\r' => {
                    if !self.line.is_empty() && self.shown.is_none_or(|at| at.elapsed() >= REDRAW) {
                        self.show();
                    }
                    self.redrawn = true;
                }
                _ => {
                    if std::mem::take(&mut self.redrawn) {
                        self.clear();
                    }
                    if self.line.len() < LINE_CAP {
                        self.line.push(byte);
                    } else {
                        self.cut += 1;
                    }
                }
            }
        }
    }

    /// The last [`TAIL`] lines, an unfinished last line included.
    pub fn finish(mut self) -> Vec<String> {
        if !self.line.is_empty() || self.cut > 0 {
            self.end();
        }
        self.tail.into()
    }

    fn end(&mut self) {
        let text = self.show();
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(text);
        self.clear();
    }

    fn show(&mut self) -> String {
        let mut text = String::from_utf8_lossy(&self.line).into_owned();
        if self.cut > 0 {
            text.push_str(&format!(" [… {} more bytes]", self.cut));
        }
        self.progress.output(&text);
        self.shown = Some(Instant::now());
        text
    }

    fn clear(&mut self) {
        self.line.clear();
        self.cut = 0;
        self.redrawn = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Shown(Mutex<Vec<String>>);

    impl Progress for Shown {
        fn set_length(&self, _: u64) {}
        fn set_position(&self, _: u64) {}
        fn set_message(&self, _: &str) {}
        fn output(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[test]
    fn a_carriage_return_redraws_the_line_and_crlf_ends_it() {
        let shown = Shown::default();
        let mut lines = Lines::new(&shown);
        lines.push(b"10%\r20%\r30%\ndone\r\nlast");
        assert_eq!(lines.finish(), ["30%", "done", "last"]);
        // The first redraw shows at once, the next only after REDRAW; a line end always.
        assert_eq!(*shown.0.lock().unwrap(), ["10%", "30%", "done", "last"]);
    }

    #[test]
    fn long_lines_and_many_lines_are_kept_in_bounded_memory() {
        let shown = Shown::default();
        let mut lines = Lines::new(&shown);
        lines.push(&vec![b'x'; LINE_CAP + 10]);
        lines.push(b"\n");
        let kept = lines.finish();
        assert_eq!(kept, [format!("{} [… 10 more bytes]", "x".repeat(LINE_CAP))]);
        let mut lines = Lines::new(&shown);
        for i in 0..100 {
            lines.push(format!("{i}\n").as_bytes());
        }
        let kept = lines.finish();
        assert_eq!((kept.len(), kept[0].as_str(), kept[19].as_str()), (TAIL, "80", "99"));
    }
}
