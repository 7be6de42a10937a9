//! Figures of upstream artifacts placed in the report (embedded in report.html,
//! copied beside report.md), or a note where an upstream did not write one.

use super::artifacts::read_bytes;
use super::document::{Block, Figure, Section};
use crate::Input;

/// A file name for the report's figures/ directory, unique per upstream instance and file.
fn figure_file(input: &Input, name: &str) -> String {
    let slug = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect::<String>()
    };
    format!("{}__{}", slug(&input.instance), slug(name))
}

/// Appends the PNG `name` of `input` with `caption`, or a note saying it is missing.
pub fn figure(section: &mut Section, input: &Input, name: &str, caption: &str) {
    match read_bytes(input, name) {
        Ok(Some(png)) => {
            section.push(Block::Figure(Figure { caption: caption.into(), file: figure_file(input, name), png }))
        }
        Ok(None) => section.push(Block::Note(format!("Figure `{name}` is missing from `{}`.", input.instance))),
        Err(message) => section.push(Block::Note(message)),
    }
}
