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

/// Draws the diagram of `bins` (empty bins are left blank, their count 0 shown).
pub fn reliability_diagram(path: &Path, title: &str, bins: &[Bin]) -> Result<(), StageError> {
    let root = open(path, (820, 680))?;
    let err = failed(path);
    let mut ctx = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0.0..1.1)
        .map_err(&err)?;
    ctx.configure_mesh()
        .x_desc("confidence (max probability); numbers: examples per bin")
        .y_desc("accuracy")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(&err)?;

    let accuracy_style = colour::NEUTRAL.mix(0.85).filled();
    let gap_style = colour::NEGATIVE.mix(0.3).filled();
    let filled = || bins.iter().filter_map(|b| Some((b, b.accuracy?, b.confidence?)));
    ctx.draw_series(filled().map(|(b, acc, _)| Rectangle::new([(b.lower, 0.0), (b.upper, acc)], accuracy_style)))
        .map_err(&err)?
        .label("accuracy")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], accuracy_style));
    ctx.draw_series(filled().map(|(b, acc, conf)| Rectangle::new([(b.lower, acc), (b.upper, conf)], gap_style)))
        .map_err(&err)?
        .label("gap to mean confidence")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], gap_style));
    ctx.draw_series(
        bins.iter()
            .map(|b| Rectangle::new([(b.lower, 0.0), (b.upper, b.accuracy.unwrap_or(0.0))], BLACK.stroke_width(1))),
    )
    .map_err(&err)?;
    let diagonal = RGBColor(90, 90, 90).stroke_width(2);
    ctx.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], diagonal))
        .map_err(&err)?
        .label("perfect calibration")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], diagonal));
    let count_style = TextStyle::from((FAMILY, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    ctx.draw_series(bins.iter().map(|b| {
        let top = b.accuracy.unwrap_or(0.0).max(b.confidence.unwrap_or(0.0));
        Text::new(b.count.to_string(), ((b.lower + b.upper) / 2.0, top + 0.012), count_style.clone())
    }))
    .map_err(&err)?;
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
