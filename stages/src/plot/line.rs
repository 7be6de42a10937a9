//! Line charts: several named series on shared axes (training and dev curves).

use std::path::Path;

use plotters::prelude::*;

use super::canvas::{failed, finish, open, padded};
use super::colour;
use super::font::FAMILY;
use crate::StageError;

/// One named curve; points are drawn in the given order, non-finite points are skipped.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Draws `chart` as a 900x560 PNG with a legend (series colours from a fixed palette,
/// with point markers so that short curves such as 3 epochs stay visible).
pub fn line_chart(path: &Path, chart: &LineChart) -> Result<(), StageError> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = chart
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()))
        .collect();
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = min_max(all().map(|p| p.0));
    let (y0, y1) = min_max(all().map(|p| p.1));
    let (x0, x1) = padded(x0, x1, 0.02);
    let (y0, y1) = padded(y0, y1, 0.08);

    let root = open(path, (900, 560))?;
    let err = failed(path);
    let mut ctx = ChartBuilder::on(&root)
        .caption(&chart.title, (FAMILY, 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(&err)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(&err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = colour::series(i);
        ctx.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(&err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(&err)?;
    }
    if !series.is_empty() {
        ctx.configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(&err)?;
    }
    drop(ctx);
    finish(path, root)
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}
