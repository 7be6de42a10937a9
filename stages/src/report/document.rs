//! A renderer-neutral report: sections of paragraphs, tables and figures.
//!
//! The report stage builds one `Document`; `html` and `markdown` render it, so
//! report.html and report.md always hold the same tables.

/// A table of already-formatted cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// A note printed under the table (e.g. what one example is worth in pp).
    pub footer: Option<String>,
}

/// A PNG figure, embedded in HTML and copied next to report.md.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub caption: String,
    /// File name under the report's `figures/` directory.
    pub file: String,
    pub png: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A sub-heading (one per variant when a section has several upstream instances).
    Heading(String),
    Paragraph(String),
    /// A bulleted list of short findings.
    List(Vec<String>),
    /// A section or part that was skipped, and why.
    Note(String),
    /// Preformatted text such as a stage's params as JSON.
    Code(String),
    Table(Table),
    Figure(Figure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(title: &str) -> Self {
        Section { title: title.to_string(), blocks: Vec::new() }
    }

    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    pub sections: Vec<Section>,
}

impl Document {
    /// Every figure of the document, in order.
    pub fn figures(&self) -> impl Iterator<Item = &Figure> {
        self.sections.iter().flat_map(|s| &s.blocks).filter_map(|b| match b {
            Block::Figure(f) => Some(f),
            _ => None,
        })
    }
}
