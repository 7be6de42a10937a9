//! Reliability diagram: per confidence bin, the accuracy as a bar, the gap to the
//! bin's mean confidence shaded, the diagonal of perfect calibration, and counts.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{failed, finish, open};
use super::colour;
use super::font::FAMILY;
use crate::eval::calibration::Bin;
use crate::StageError;

/// Where the confidence axis starts: the study's models have two classes (calibration
/// scores p_positive), whose top probability is never below 0.5, so 0..0.5 was always empty.
const LEAST_CONFIDENCE: f64 = 0.5;

/// Draws the diagram of `bins` (empty bins are left blank, their count 0 shown); a bin
/// straddling [`LEAST_CONFIDENCE`] is drawn from there, bins below it are left out.
pub fn reliability_diagram(path: &Path, title: &str, bins: &[Bin]) -> Result<(), StageError> {
    let root = open(path, (820, 680))?;
    let err = failed(path);
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(LEAST_CONFIDENCE..1.0, 0.0..1.1)
        .map_err(&err)?;
    ctx.configure_mesh()
        .x_desc("confidence (max probability; two classes: at least 0.5); numbers: examples per bin")
        .y_desc("accuracy")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(&err)?;

    let shown: Vec<(f64, &Bin)> =
        bins.iter().filter(|b| b.upper > LEAST_CONFIDENCE).map(|b| (b.lower.max(LEAST_CONFIDENCE), b)).collect();
    let filled = || shown.iter().filter_map(|&(lower, b)| Some((lower, b, b.accuracy?, b.confidence?)));
    let accuracy_style = colour::NEUTRAL.mix(0.85).filled();
    ctx.draw_series(filled().map(|(lower, b, acc, _)| Rectangle::new([(lower, 0.0), (b.upper, acc)], accuracy_style)))
        .map_err(&err)?
        .label("accuracy: the outlined bar's height")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], accuracy_style));
    // The gap to the bin's mean confidence, one colour per direction: drawn translucent
    // over the bar, an underconfident gap came out an unexplained dark purple.
    let gaps = [
        ("mean confidence above accuracy", colour::NEGATIVE.mix(0.3).filled(), true),
        ("accuracy above mean confidence (top of the bar)", colour::POSITIVE.mix(0.75).filled(), false),
    ];
    for (name, style, over) in gaps {
        let rects = filled()
            .filter(|&(_, _, acc, conf)| (conf > acc) == over && conf != acc)
            .map(|(lower, b, acc, conf)| Rectangle::new([(lower, acc), (b.upper, conf)], style));
        ctx.draw_series(rects)
            .map_err(&err)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], style));
    }
    let outline = |(lower, b): &(f64, &Bin)| {
        Rectangle::new([(*lower, 0.0), (b.upper, b.accuracy.unwrap_or(0.0))], BLACK.stroke_width(1))
    };
    ctx.draw_series(shown.iter().map(outline)).map_err(&err)?;
    let diagonal = RGBColor(90, 90, 90).stroke_width(2);
    ctx.draw_series(LineSeries::new([(LEAST_CONFIDENCE, LEAST_CONFIDENCE), (1.0, 1.0)], diagonal))
        .map_err(&err)?
        .label("perfect calibration")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], diagonal));
    // Counts at the foot of each bar, where neither the diagonal nor a gap is drawn.
    let on_bar = colour::text_on(colour::NEUTRAL);
    for &(lower, b) in &shown {
        let ink = if b.count > 0 { &on_bar } else { &BLACK };
        let style = TextStyle::from((FAMILY, 13).into_font()).color(ink).pos(Pos::new(HPos::Center, VPos::Bottom));
        ctx.draw_series([Text::new(b.count.to_string(), ((lower + b.upper) / 2.0, 0.015), style)]).map_err(&err)?;
    }
    ctx.configure_series_labels()
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(&err)?;
    drop(ctx);
    finish(path, root)
}
