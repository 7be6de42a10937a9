//! `pipe dag`: the instance graph as text, Graphviz dot or Mermaid.

use std::path::PathBuf;

use pipe_stages::Registry;

use crate::plan::Plan;
use crate::Error;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Mermaid,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  pipe dag pipelines/final.yaml
  pipe dag pipelines/ablations.yaml --format dot | dot -Tpng > dag.png
  pipe dag pipelines/final.yaml --format mermaid")]
pub struct Args {
    /// Pipeline file
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Override a value as `pipe run --set` would
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
}

pub fn execute(args: Args) -> Result<(), Error> {
    let registry = Registry::builtin();
    let plan = super::load(&args.file, &args.sets, &registry)?;
    print!(
        "{}",
        match args.format {
            Format::Text => text(&plan),
            Format::Dot => dot(&plan),
            Format::Mermaid => mermaid(&plan),
        }
    );
    Ok(())
}

fn text(plan: &Plan) -> String {
    let width = plan.instances.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for inst in &plan.instances {
        let inputs: Vec<&str> = inst.inputs.iter().map(|&u| plan.instances[u].name.as_str()).collect();
        let arrow = if inputs.is_empty() { String::new() } else { format!("  <- {}", inputs.join(", ")) };
        out.push_str(&format!("{:<width$}  ({}){arrow}\n", inst.name, inst.kind));
    }
    out
}

fn dot(plan: &Plan) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |s: &str| format!("\"{}\"", escape(s));
    let mut out = format!("digraph {} {{\n  rankdir=LR;\n  node [shape=box];\n", quote(&plan.name));
    for inst in &plan.instances {
        // `\n` between the escaped parts: DOT's line break, not an escaped backslash.
        let label = format!("\"{}\\n{}\"", escape(&inst.name), escape(&inst.kind));
        out.push_str(&format!("  {} [label={label}];\n", quote(&inst.name)));
    }
    for inst in &plan.instances {
        for &u in &inst.inputs {
            out.push_str(&format!("  {} -> {};\n", quote(&plan.instances[u].name), quote(&inst.name)));
        }
    }
    out.push_str("}\n");
    out
}

/// `text` as Mermaid shows it literally inside a quoted label: Mermaid reads HTML there, and
/// `#name;` as an entity.
fn mermaid_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '#' => "#35;".to_string(),
            '"' => "#quot;".to_string(),
            '<' => "#lt;".to_string(),
            '>' => "#gt;".to_string(),
            '&' => "#amp;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, inst) in plan.instances.iter().enumerate() {
        out.push_str(&format!("  n{i}[\"{}<br/>{}\"]\n", mermaid_text(&inst.name), mermaid_text(&inst.kind)));
    }
    for (i, inst) in plan.instances.iter().enumerate() {
        for &u in &inst.inputs {
            out.push_str(&format!("  n{u} --> n{i}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn mermaid_labels_show_html_and_entities_literally() {
        assert_eq!(super::mermaid_text(r##"g[x=a<b>&"c"#1;]"##), "g[x=a#lt;b#gt;#amp;#quot;c#quot;#35;1;]");
    }
}
