//! The shared plotting helpers write valid, deterministic PNGs of the expected size.
//! Set PIPE_PLOT_DIR to keep the charts for looking at them.

use std::path::Path;

use pipe_stages::eval::calibration::Bin;
use pipe_stages::plot::*;

mod eval_common;

/// Width and height from the PNG header, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn draw_twice_identical(path: &Path, draw: impl Fn(&Path)) {
    draw(path);
    let first = std::fs::read(path).unwrap();
    draw(path);
    assert_eq!(first, std::fs::read(path).unwrap(), "{} differs between two draws", path.display());
}

#[test]
fn line_chart_of_training_curves() {
    let scratch = eval_common::scratch("line_chart_of_training_curves");
    let dir = &scratch.path;
    let path = dir.join("line.png");
    let chart = LineChart {
        title: "Loss per epoch".into(),
        x_label: "epoch".into(),
        y_label: "cross-entropy".into(),
        series: vec![
            Series { name: "train".into(), points: vec![(1.0, 0.41), (2.0, 0.22), (3.0, 0.15)] },
            Series { name: "dev".into(), points: vec![(1.0, 0.30), (2.0, f64::NAN), (3.0, 0.27)] },
        ],
        min_y_span: 0.02,
        marker: Some(("epoch kept".into(), 3.0)),
        whole_x: true,
    };
    draw_twice_identical(&path, |p| line_chart(p, &chart).unwrap());
    assert_eq!(png_size(&path), (900, 560));
}

#[test]
fn bar_charts_vertical_horizontal_and_signed() {
    let scratch = eval_common::scratch("bar_charts_vertical_horizontal_and_signed");
    let dir = &scratch.path;
    let slices = BarChart {
        title: "Accuracy per slice".into(),
        value_label: "accuracy".into(),
        bars: vec![
            Bar {
                label: "negation".into(),
                value: 0.84,
                text: "0.840 n=200".into(),
                interval: Some((0.79, 0.89)),
                second_interval: Some((0.75, 0.93)),
            },
            Bar::new("no negation", 0.92),
            Bar { text: "n=0".into(), ..Bar::new("length 33+", 0.0) },
        ],
        colours: BarColours::Single,
        horizontal: true,
        reference: Some(("overall".into(), 0.90)),
    };
    let path = dir.join("bar_horizontal.png");
    draw_twice_identical(&path, |p| bar_chart(p, &slices).unwrap());
    // Three bars: at the minimum height, tall enough for the dashed line to read as dashed.
    assert_eq!(png_size(&path), (900, 260));

    // Long labels leave the axis description (centred under the plot) less room than it
    // needs at 900 pixels: the chart widens instead of cutting it off (the ablation chart).
    let long = BarChart {
        value_label: "Δ accuracy (percentage points), 95% paired-bootstrap interval".into(),
        reference: Some(("one test example (pp)".into(), 0.115)),
        bars: slices
            .bars
            .iter()
            .map(|b| Bar { label: format!("dropout=0.1, pooling=mean, {}", b.label), ..b.clone() })
            .collect(),
        ..slices.clone()
    };
    let path = dir.join("bar_horizontal_long_description.png");
    draw_twice_identical(&path, |p| bar_chart(p, &long).unwrap());
    let desc =
        "Δ accuracy (percentage points), 95% paired-bootstrap interval   (dashed line: one test example (pp) = 0.115)";
    let labels = text_width("dropout=0.1, pooling=mean, no negation", 14) + 16;
    let (width, _) = png_size(&path);
    assert!(width >= labels + 28 + set_width(desc, 15), "{width} px: the description is cut off");

    let tokens = BarChart {
        title: "Integrated gradients".into(),
        value_label: "attribution".into(),
        bars: ["[CLS]", "not", "a", "gorgeous", "film", "[SEP]"]
            .iter()
            .zip([0.01, -0.8, 0.05, 0.9, 0.1, -0.02])
            .map(|(t, v)| Bar::new(*t, v))
            .collect(),
        colours: BarColours::BySign,
        horizontal: false,
        reference: None,
    };
    let path = dir.join("bar_vertical.png");
    bar_chart(&path, &tokens).unwrap();
    let (w, h) = png_size(&path);
    assert!(w == 700 && h >= 520, "{w}x{h}");
}

#[test]
fn heatmap_and_grid() {
    let scratch = eval_common::scratch("heatmap_and_grid");
    let dir = &scratch.path;
    let confusion = Heatmap {
        title: "Confusion matrix".into(),
        values: vec![vec![380.0, 48.0], vec![38.0, 406.0]],
        row_labels: vec!["negative".into(), "positive".into()],
        col_labels: vec!["negative".into(), "positive".into()],
        x_label: "predicted".into(),
        y_label: "true".into(),
        value_label: "count".into(),
        scale: Scale::Sequential,
        range: None,
        cell_text: Some(vec![vec!["380".into(), "48".into()], vec!["38".into(), "406".into()]]),
    };
    let path = dir.join("heatmap.png");
    draw_twice_identical(&path, |p| heatmap(p, &confusion).unwrap());
    let (w, h) = png_size(&path);
    assert!(w >= 360 && h >= 260, "{w}x{h}");

    let tokens: Vec<String> =
        ["[CLS]", "it", "is", "not", "a", "gorgeous", "film", "[SEP]"].iter().map(|s| s.to_string()).collect();
    let n = tokens.len();
    let panels: Vec<Heatmap> = (0..4)
        .map(|h| Heatmap {
            title: format!("head {h}"),
            values: (0..n)
                .map(|i| (0..n).map(|j| if (i + h) % n == j { 0.7 } else { 0.3 / (n - 1) as f64 }).collect())
                .collect(),
            row_labels: tokens.clone(),
            col_labels: tokens.clone(),
            x_label: "key".into(),
            y_label: "query".into(),
            value_label: "attention probability".into(),
            scale: Scale::Sequential,
            range: Some((0.0, 1.0)),
            cell_text: None,
        })
        .collect();
    let path = dir.join("heatmap_grid.png");
    draw_twice_identical(&path, |p| heatmap_grid(p, "Attention, layer 1", &panels, 2).unwrap());
    assert!(heatmap_grid(&dir.join("none.png"), "empty", &[], 2).is_err());
}

#[test]
fn reliability_diagram_with_empty_bins() {
    let scratch = eval_common::scratch("reliability_diagram_with_empty_bins");
    let dir = &scratch.path;
    let bins: Vec<Bin> = (0..15)
        .map(|b| {
            let (lower, upper) = (b as f64 / 15.0, (b + 1) as f64 / 15.0);
            let count = if b < 7 { 0 } else { 10 * (b - 6) };
            let mid = (lower + upper) / 2.0;
            Bin {
                lower,
                upper,
                count,
                accuracy: (count > 0).then_some(mid - 0.05),
                confidence: (count > 0).then_some(mid),
            }
        })
        .collect();
    let path = dir.join("reliability.png");
    draw_twice_identical(&path, |p| reliability_diagram(p, "Reliability (ECE 0.050)", &bins).unwrap());
    assert_eq!(png_size(&path), (820, 680));
}
