//! Renders a [`Document`] as Markdown (GitHub flavour) for a terminal or a pull
//! request. Figures are linked to the copies under the report's `figures/`.

use super::document::{Block, Document, Table};

/// Makes a cell safe inside a pipe table: no line breaks, escaped pipes.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A pipe table, with its footer as an italic line below it.
pub fn table(table: &Table) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", table.header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(table.header.len())));
    for row in &table.rows {
        out.push_str(&format!("| {} |\n", row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | ")));
    }
    if let Some(footer) = &table.footer {
        out.push_str(&format!("\n_{}_\n", italic_safe(footer)));
    }
    out
}

/// Underscores escaped so they cannot end the `_…_` around the text, except inside code
/// spans, where a backslash would be shown as it is.
fn italic_safe(text: &str) -> String {
    let parts = text.split('`').enumerate();
    parts
        .map(|(i, part)| if i % 2 == 0 { part.replace('_', "\\_") } else { part.to_string() })
        .collect::<Vec<_>>()
        .join("`")
}

pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    for section in &doc.sections {
        out.push_str(&format!("\n## {}\n", section.title));
        for block in &section.blocks {
            out.push('\n');
            match block {
                Block::Heading(text) => out.push_str(&format!("### {text}\n")),
                Block::Paragraph(text) => out.push_str(&format!("{text}\n")),
                Block::List(items) => items.iter().for_each(|item| out.push_str(&format!("- {item}\n"))),
                Block::Note(text) => out.push_str(&format!("> {text}\n")),
                Block::Code(text) => out.push_str(&format!("```json\n{text}\n```\n")),
                Block::Table(t) => out.push_str(&table(t)),
                Block::Figure(f) => out.push_str(&format!("![{}](figures/{})\n", cell(&f.caption), f.file)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_and_newlines_cannot_break_a_table_row() {
        let t =
            Table { header: vec!["a".into(), "b".into()], rows: vec![vec!["x|y".into(), "1\n2".into()]], footer: None };
        assert_eq!(table(&t), "| a | b |\n|---|---|\n| x\\|y | 1 2 |\n");
    }

    #[test]
    fn a_footer_escapes_underscores_outside_code_spans_only() {
        assert_eq!(italic_safe("dev_n: see `dev_accuracy` and n_x"), "dev\\_n: see `dev_accuracy` and n\\_x");
    }
}
