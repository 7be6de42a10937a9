//! Renders a [`Document`] as one self-contained HTML page: inline CSS, figures
//! as base64 data URIs, no scripts and no external requests, so it opens from a
//! CI artifact or an e-mail attachment exactly as it was written.

use base64::Engine;

use super::document::{Block, Document, Table};

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\
h1{border-bottom:2px solid #444}h2{margin-top:2.5rem;border-bottom:1px solid #ccc}h3{margin-top:1.5rem}\
nav ol{columns:2}\
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}\
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}\
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}\
caption{caption-side:bottom;text-align:left;font-size:.85rem;color:#555;padding-top:.3rem}\
figure{display:inline-block;margin:.6rem 1rem .6rem 0;vertical-align:top}\
figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85rem;color:#555}\
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:.85rem}\
.note{background:#fff7e0;border-left:4px solid #e0a000;padding:.4rem .8rem}";

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Forbids every fetch the page could make except its own inline data, so a
    // stray external reference fails loudly in a browser instead of phoning home.
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", escape(&doc.title)));
    out.push_str(&format!("<h1>{}</h1>\n<nav><ol>\n", escape(&doc.title)));
    for (i, section) in doc.sections.iter().enumerate() {
        out.push_str(&format!("<li><a href=\"#s{}\">{}</a></li>\n", i + 1, escape(&section.title)));
    }
    out.push_str("</ol></nav>\n");
    for (i, section) in doc.sections.iter().enumerate() {
        out.push_str(&format!("<section id=\"s{}\">\n<h2>{}</h2>\n", i + 1, escape(&section.title)));
        for block in &section.blocks {
            render_block(block, &mut out);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn render_block(block: &Block, out: &mut String) {
    match block {
        Block::Heading(text) => out.push_str(&format!("<h3>{}</h3>\n", escape(text))),
        Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape(text))),
        Block::List(items) => {
            out.push_str("<ul>\n");
            for item in items {
                out.push_str(&format!("<li>{}</li>\n", escape(item)));
            }
            out.push_str("</ul>\n");
        }
        Block::Note(text) => out.push_str(&format!("<p class=\"note\">{}</p>\n", escape(text))),
        Block::Code(text) => out.push_str(&format!("<pre>{}</pre>\n", escape(text))),
        Block::Table(table) => render_table(table, out),
        Block::Figure(figure) => {
            let data = base64::engine::general_purpose::STANDARD.encode(&figure.png);
            out.push_str(&format!(
                "<figure><img src=\"data:image/png;base64,{data}\" alt=\"{0}\"><figcaption>{0}</figcaption></figure>\n",
                escape(&figure.caption)
            ));
        }
    }
}

fn render_table(table: &Table, out: &mut String) {
    out.push_str("<table>\n");
    if let Some(footer) = &table.footer {
        out.push_str(&format!("<caption>{}</caption>\n", escape(footer)));
    }
    out.push_str("<thead><tr>");
    for cell in &table.header {
        out.push_str(&format!("<th>{}</th>", escape(cell)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{Figure, Section};

    #[test]
    fn escapes_markup_in_every_text_position() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let mut section = Section::new("<s>");
        section.push(Block::Paragraph("<script>alert(1)</script>".into()));
        section.push(Block::Table(Table {
            header: vec!["<h>".into()],
            rows: vec![vec!["a & b".into()]],
            footer: Some("<f>".into()),
        }));
        section.push(Block::Figure(Figure { caption: "\"q\"".into(), file: "q.png".into(), png: vec![1, 2, 3] }));
        let html = render(&Document { title: "<t>".into(), sections: vec![section] });
        assert!(!html.contains("<script>") && !html.contains("<s>") && !html.contains("<h>") && !html.contains("<f>"));
        assert!(
            html.contains("&lt;script&gt;") && html.contains("a &amp; b") && html.contains("alt=\"&quot;q&quot;\"")
        );
        assert!(html.contains("src=\"data:image/png;base64,AQID\""), "figure bytes are embedded");
    }
}
