//! Left-aligned text columns for the CLI's tables.

/// Formats rows (the first is the header) with columns padded to their widest cell.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().enumerate().map(|(c, s)| format!("{s:<w$}", w = widths[c])).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The first 12 hex digits of a hash: enough to tell artifacts apart on screen.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
