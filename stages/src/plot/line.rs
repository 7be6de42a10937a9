//! Line charts: several named series on shared axes (training and dev curves).

use std::path::Path;

use plotters::prelude::*;

use super::canvas::{axis_decimals, axis_text, dashed, failed, finish, open, padded, AXIS_LABELS};
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
    /// The y axis spans at least this much around the data (0: the data's range), so a
    /// change of 0.6 pp in accuracy does not fill the chart as if it were large.
    pub min_y_span: f64,
    /// A vertical dashed line at `x` with its legend text (e.g. the epoch kept).
    pub marker: Option<(String, f64)>,
    /// The x axis counts whole things (epochs): it starts and ends at whole numbers, with
    /// ticks at whole numbers only, not 1.1, 1.2.
    pub whole_x: bool,
}

const MARKER: RGBColor = RGBColor(90, 90, 90);

/// A series of at most this many points gets a circle on each (3 epochs stay visible
/// as points); on a longer one, such as a loss per step, the circles would overlap
/// into a band as thick as they are wide.
const MARKED_POINTS: usize = 50;

/// Draws `chart` as a 900x560 PNG with a legend (series colours from a fixed palette,
/// with point markers on short series).
pub fn line_chart(path: &Path, chart: &LineChart) -> Result<(), StageError> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = chart
        .series
        .iter()
        .map(|s| (s.name.as_str(), s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect()))
        .collect();
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = min_max(all().map(|p| p.0));
    // A count's axis runs between whole numbers: a curve that starts at step 11 of 250 still
    // starts on an axis from epoch 0.
    let (x0, x1) = if chart.whole_x { (x0.floor(), x1.ceil()) } else { (x0, x1) };
    let (y0, y1) = min_max(all().map(|p| p.1));
    // Wide enough that a marker at the last epoch is not drawn on the plot's edge.
    let (x0, x1) = padded(x0, x1, 0.04);
    let (y0, y1) = padded(y0, y1, 0.08);
    let widen = (chart.min_y_span - (y1 - y0)).max(0.0) / 2.0;
    let (y0, y1) = (y0 - widen, y1 + widen);
    let (x_labels, x_decimals) = x_axis(x0, x1, chart.whole_x);
    let y_decimals = axis_decimals(y0, y1);

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
        .x_labels(x_labels)
        .x_label_formatter(&|v| axis_text(*v, x_decimals))
        .y_label_formatter(&|v| axis_text(*v, y_decimals))
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
        if points.len() <= MARKED_POINTS {
            ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled()))).map_err(&err)?;
        }
    }
    // The marker's line is drawn in pixels below; here only its legend entry.
    let mut avoid = series.clone();
    if let Some((name, x)) = &chart.marker {
        let glyph = |(x, y): (i32, i32)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (8, 0)], MARKER.stroke_width(2))
                + PathElement::new(vec![(13, 0), (20, 0)], MARKER.stroke_width(2))
        };
        ctx.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>()).map_err(&err)?.label(name).legend(glyph);
        dashed(&root, ctx.backend_coord(&(*x, y0)), ctx.backend_coord(&(*x, y1)), MARKER.stroke_width(2), path)?;
        avoid.push((name, vec![(*x, y0), (*x, y1)]));
    }
    if !avoid.is_empty() {
        ctx.configure_series_labels()
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(legend_corner(&avoid, (x0, x1), (y0, y1)))
            .draw()
            .map_err(&err)?;
    }
    drop(ctx);
    finish(path, root)
}

/// How many key points plotters may put on the x axis, and their decimals. For whole
/// numbers: no more points than whole numbers in the range, so that it steps by 1 or more.
fn x_axis(x0: f64, x1: f64, whole: bool) -> (usize, usize) {
    if whole {
        (((x1 - x0).floor() as usize + 1).clamp(2, AXIS_LABELS), 0)
    } else {
        (AXIS_LABELS, axis_decimals(x0, x1))
    }
}

/// The corner of the plot area the legend covers least of: the one whose box
/// (a third of the width, a quarter of the height) holds the fewest points of the
/// drawn lines, each segment sampled along its length; ties in the order upper
/// right, lower right, upper left, lower left. A fixed corner hid the last epoch's
/// marker whenever the curve ended high, as accuracy curves do.
fn legend_corner(series: &[(&str, Vec<(f64, f64)>)], x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
    const SAMPLES: usize = 16;
    let to_unit = |(px, py): (f64, f64)| ((px - x.0) / (x.1 - x.0), (py - y.0) / (y.1 - y.0));
    let mut samples = Vec::new();
    for (_, points) in series {
        samples.extend(points.iter().map(|&p| to_unit(p)));
        for pair in points.windows(2) {
            let (a, b) = (to_unit(pair[0]), to_unit(pair[1]));
            samples.extend((1..SAMPLES).map(|k| {
                let t = k as f64 / SAMPLES as f64;
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            }));
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let covered = |right: bool, upper: bool| {
        let inside = |(u, v): &(f64, f64)| {
            (if right { *u >= 2.0 / 3.0 } else { *u <= 1.0 / 3.0 }) && (if upper { *v >= 0.75 } else { *v <= 0.25 })
        };
        samples.iter().filter(|p| inside(p)).count()
    };
    let mut best = (SeriesLabelPosition::UpperRight, usize::MAX);
    for (corner, right, upper) in corners {
        let n = covered(right, upper);
        if n < best.1 {
            best = (corner, n);
        }
    }
    best.0
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_number_axes_tick_whole_numbers_only() {
        use plotters::coord::ranged1d::Ranged;
        use plotters::coord::types::RangedCoordf64;
        let ticks = |x0: f64, x1: f64| {
            let (n, decimals) = x_axis(x0, x1, true);
            assert_eq!(decimals, 0);
            RangedCoordf64::from(x0..x1).key_points(n)
        };
        // Two epochs padded (1 - 0.04, 2 + 0.04): plotters' own pick was 1.0, 1.1, ... 2.0.
        assert_eq!(ticks(0.96, 2.04), [1.0, 2.0]);
        assert_eq!(ticks(-0.12, 3.12), [0.0, 1.0, 2.0, 3.0]);
        assert!(ticks(0.0, 40.0).iter().all(|v| v.fract() == 0.0));
        assert_eq!(x_axis(0.96, 2.04, false).0, AXIS_LABELS);
    }

    fn corner(points: Vec<(f64, f64)>) -> SeriesLabelPosition {
        legend_corner(&[("s", points)], (0.0, 1.0), (0.0, 1.0))
    }

    #[test]
    fn the_legend_avoids_the_corner_a_curve_ends_in() {
        // Falling (a loss curve): upper right is empty.
        assert!(matches!(corner(vec![(0.0, 1.0), (1.0, 0.0)]), SeriesLabelPosition::UpperRight));
        // Rising (an accuracy curve ending at the top right, its last marker under the old
        // legend): lower right is the first empty corner.
        assert!(matches!(corner(vec![(0.0, 0.0), (1.0, 1.0)]), SeriesLabelPosition::LowerRight));
        // Rising, then flat along the bottom-right: upper right is empty again.
        assert!(matches!(corner(vec![(0.0, 0.5), (0.5, 0.1), (1.0, 0.1)]), SeriesLabelPosition::UpperRight));
        // Both right corners taken by the line's samples: upper left.
        assert!(matches!(corner(vec![(0.7, 0.0), (0.7, 1.0), (1.0, 1.0), (1.0, 0.0)]), SeriesLabelPosition::UpperLeft));
    }
}
