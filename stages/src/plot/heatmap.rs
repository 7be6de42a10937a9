//! Heatmaps: a matrix of values as coloured cells with labels and a colour bar,
//! alone or as a grid of panels sharing one colour scale.

use std::path::Path;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{failed, finish, open, set_width, text_width, unsigned_zero, vertical_labels, Area};
use super::colour;
use super::font::FAMILY;
use crate::StageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Low to high (viridis): probabilities, counts, attention.
    Sequential,
    /// Blue below zero, white at zero, red above, symmetric range: signed attributions.
    Diverging,
}

#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    /// `values[row][col]`; row 0 is drawn on top. Non-finite cells stay white.
    pub values: Vec<Vec<f64>>,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub x_label: String,
    pub y_label: String,
    /// What the colours measure, written beside the colour bar (e.g. "count").
    pub value_label: String,
    pub scale: Scale,
    /// Colour range; `None` uses the data range (symmetric around 0 for `Diverging`).
    pub range: Option<(f64, f64)>,
    /// Text printed in each cell (e.g. counts of a confusion matrix), same shape as `values`.
    pub cell_text: Option<Vec<Vec<String>>>,
}

impl Heatmap {
    fn rows(&self) -> usize {
        self.values.len()
    }

    fn cols(&self) -> usize {
        self.values.iter().map(Vec::len).max().unwrap_or(0)
    }

    fn range(&self) -> (f64, f64) {
        if let Some(r) = self.range {
            return r;
        }
        let finite = self.values.iter().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        if lo > hi {
            return (0.0, 1.0);
        }
        match self.scale {
            Scale::Sequential if lo == hi => (lo - 0.5, hi + 0.5),
            Scale::Sequential => (lo, hi),
            Scale::Diverging => {
                let m = lo.abs().max(hi.abs());
                if m == 0.0 {
                    (-1.0, 1.0)
                } else {
                    (-m, m)
                }
            }
        }
    }

    /// Pixel sizes of the column-label and row-label areas for cells of `cell` px, and
    /// whether column labels must be drawn vertically to fit their cells.
    fn label_areas(&self, font: u32, cell: u32) -> (u32, u32, bool) {
        let longest_col = self.col_labels.iter().map(|l| text_width(l, font)).max().unwrap_or(0);
        let longest_row = self.row_labels.iter().map(|l| text_width(l, font)).max().unwrap_or(0);
        let rotate = longest_col + 4 > cell;
        let x_area = if rotate { longest_col + 28 } else { 2 * font + 26 };
        let y_area = if self.row_labels.is_empty() && self.y_label.is_empty() {
            BARE_Y_AREA
        } else {
            longest_row + 2 * font + 16
        };
        (x_area, y_area, rotate)
    }
}

/// Width of the colour bar's column: gradient, ticks, tick labels and its rotated label.
const COLOUR_BAR_PX: u32 = 130;
/// Cell size in axis units: axes are integer (plotters only formats custom tick
/// positions on integer axes), cell (r, c) spans [c*UNIT, (c+1)*UNIT).
const UNIT: i32 = 100;
/// Tick labels and panel fonts never go below this size (px at the figure's own size).
const FONT: u32 = 12;
/// A grid's width: the HTML report shows figures about this wide, so nothing is shrunk.
const GRID_WIDTH: u32 = 1150;
/// The row-label area of a panel without row labels (a grid's inner columns).
const BARE_Y_AREA: u32 = 4;
/// Room a grid panel needs besides its cells and row labels (margins, axis description).
const PANEL_PAD: u32 = 2 * 8 + 2 * FONT + 16;

/// Draws one heatmap with its colour bar; cells are square and sized to the matrix.
pub fn heatmap(path: &Path, map: &Heatmap) -> Result<(), StageError> {
    let cell = (560 / map.rows().max(map.cols()).max(1) as u32).clamp(14, 180);
    // Large cells (a confusion matrix) get larger labels.
    let font = if cell < 22 { FONT } else { FONT + 2 };
    let (x_area, y_area, _) = map.label_areas(font, cell);
    let width = (y_area + cell * map.cols().max(1) as u32 + 40 + COLOUR_BAR_PX).max(360);
    let height = (x_area + cell * map.rows().max(1) as u32 + 70).max(260);
    let root = open(path, (width, height))?;
    let range = map.range();
    let (left, right) = root.split_horizontally(width - COLOUR_BAR_PX);
    let span = draw_panel(&left, map, range, (cell, font), 22, path)?;
    draw_colour_bar(&right, map.scale, range, &map.value_label, (span, font), path)?;
    finish(path, root)
}

/// Draws `panels` in a grid of `columns` columns under `title`, with one colour bar:
/// every panel uses the union of the panels' colour ranges so colours compare across
/// panels (all panels should share a scale kind and value label; the first panel's are
/// used). The grid is [`GRID_WIDTH`] wide whatever the matrix size: cells shrink and
/// only every k-th label is written when the labels would overlap.
pub fn heatmap_grid(path: &Path, title: &str, panels: &[Heatmap], columns: usize) -> Result<(), StageError> {
    let Some(first) = panels.first() else {
        return Err(StageError::Failed(format!("drawing {}: a heatmap grid needs at least one panel", path.display())));
    };
    let columns = columns.clamp(1, panels.len());
    let grid_rows = panels.len().div_ceil(columns);
    // Rows of a grid share their row labels: only the first column writes them, which
    // leaves the cells most of the width.
    let scale = first.scale;
    let panels: Vec<Heatmap> = panels
        .iter()
        .enumerate()
        .map(|(i, p)| match i % columns {
            0 => Heatmap { scale, ..p.clone() },
            _ => Heatmap { scale, row_labels: Vec::new(), y_label: String::new(), ..p.clone() },
        })
        .collect();
    let side = panels.iter().map(|p| p.rows().max(p.cols())).max().unwrap_or(1).max(1) as u32;
    let y_area = panels.iter().map(|p| p.label_areas(FONT, 1).1).max().unwrap_or(0);
    let others = (columns as u32 - 1) * BARE_Y_AREA;
    let room = (GRID_WIDTH - COLOUR_BAR_PX).saturating_sub(y_area + others + columns as u32 * PANEL_PAD);
    let cell = (room / (columns as u32 * side)).clamp(2, 100);
    let x_area = panels.iter().map(|p| p.label_areas(FONT, cell).0).max().unwrap_or(0);
    let max_cols = panels.iter().map(Heatmap::cols).max().unwrap_or(1).max(1) as u32;
    let max_rows = panels.iter().map(Heatmap::rows).max().unwrap_or(1).max(1) as u32;
    let inner = cell * max_cols + PANEL_PAD;
    let height = x_area + cell * max_rows + 44;
    let width = y_area + inner + (columns as u32 - 1) * (BARE_Y_AREA + inner);
    let size = (width + COLOUR_BAR_PX, height * grid_rows as u32 + 50);
    let root = open(path, size)?;
    let err = failed(path);
    let body = root.titled(title, (FAMILY, 22)).map_err(&err)?;
    let (grid, bar) = body.split_horizontally(width);
    let range = panels
        .iter()
        .map(Heatmap::range)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (a, b)| (l.min(a), h.max(b)));
    let xs: Vec<u32> = (1..columns as u32).map(|c| y_area + inner + (c - 1) * (BARE_Y_AREA + inner)).collect();
    let ys: Vec<u32> = (1..grid_rows as u32).map(|r| r * height).collect();
    let mut span = (i32::MAX, i32::MIN);
    for (area, map) in grid.split_by_breakpoints(xs, ys).iter().zip(&panels) {
        let (top, bottom) = draw_panel(area, map, range, (cell, FONT), 16, path)?;
        span = (span.0.min(top), span.1.max(bottom));
    }
    draw_colour_bar(&bar, scale, range, &first.value_label, (span, FONT), path)?;
    finish(path, root)
}

/// Draws one panel of `cell` px cells and `font` px labels and returns the top and
/// bottom pixel rows of its cells.
fn draw_panel(
    area: &Area,
    map: &Heatmap,
    (lo, hi): (f64, f64),
    (cell, font): (u32, u32),
    title_px: u32,
    path: &Path,
) -> Result<(i32, i32), StageError> {
    let err = failed(path);
    let (rows, cols) = (map.rows(), map.cols());
    let (x_area, y_area, rotate) = map.label_areas(font, cell);
    // Labels one font height apart at least: with many tokens, every k-th is written.
    let every = (font + 2).div_ceil(cell) as usize;
    let centres = |n: usize| (0..n).step_by(every).map(|i| i as i32 * UNIT + UNIT / 2).collect::<Vec<_>>();
    let mut ctx = ChartBuilder::on(area)
        .caption(&map.title, (FAMILY, title_px))
        .margin(8)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            (0..cols.max(1) as i32 * UNIT).with_key_points(centres(cols)),
            // Row 0 on top: key points are counted from the bottom, so flip them.
            (0..rows.max(1) as i32 * UNIT)
                .with_key_points(centres(rows).into_iter().map(|v| rows as i32 * UNIT - v).collect()),
        )
        .map_err(&err)?;
    let label =
        |labels: &[String], i: i32| usize::try_from(i).ok().and_then(|i| labels.get(i)).cloned().unwrap_or_default();
    ctx.configure_mesh()
        .disable_mesh()
        .x_desc(&map.x_label)
        .y_desc(&map.y_label)
        .x_label_formatter(&|v| if rotate { String::new() } else { label(&map.col_labels, v / UNIT) })
        .y_label_formatter(&|v| label(&map.row_labels, rows as i32 - 1 - v / UNIT))
        .label_style((FAMILY, font))
        .axis_desc_style((FAMILY, font + 2))
        .draw()
        .map_err(&err)?;
    let span = if hi > lo { hi - lo } else { 1.0 };
    for (r, row) in map.values.iter().enumerate() {
        let y = (rows - 1 - r) as i32 * UNIT;
        for (c, &v) in row.iter().enumerate() {
            let x = c as i32 * UNIT;
            let fill = if v.is_finite() { colour_of(map.scale, (v - lo) / span) } else { WHITE };
            ctx.draw_series([Rectangle::new([(x, y), (x + UNIT, y + UNIT)], fill.filled())]).map_err(&err)?;
            if let Some(text) = map.cell_text.as_ref().and_then(|t| t.get(r)).and_then(|t| t.get(c)) {
                let ink = colour::text_on(fill);
                let style = TextStyle::from((FAMILY, font + 4).into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                ctx.draw_series([Text::new(text.clone(), (x + UNIT / 2, y + UNIT / 2), style)]).map_err(&err)?;
            }
        }
    }
    if rotate {
        let labels = map.col_labels.iter().enumerate().step_by(every);
        let labels = labels.map(|(c, l)| (ctx.backend_coord(&(c as i32 * UNIT + UNIT / 2, 0)), l.clone())).collect();
        vertical_labels(area, labels, font, path)?;
    }
    let (_, top) = ctx.backend_coord(&(0, rows.max(1) as i32 * UNIT));
    let (_, bottom) = ctx.backend_coord(&(0, 0));
    Ok((top, bottom))
}

fn colour_of(scale: Scale, t: f64) -> RGBColor {
    match scale {
        Scale::Sequential => colour::sequential(t),
        Scale::Diverging => colour::diverging(t),
    }
}

/// A vertical gradient from `lo` (bottom) to `hi` (top) spanning the pixel rows
/// `top..bottom` of the panels, with ticks at both ends and at round values between,
/// their labels right of the bar, and `label` rotated beside them.
fn draw_colour_bar(
    area: &Area,
    scale: Scale,
    (lo, hi): (f64, f64),
    label: &str,
    ((top, bottom), font): ((i32, i32), u32),
    path: &Path,
) -> Result<(), StageError> {
    const BAR_PX: i32 = 18;
    let err = failed(path);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let (_, by) = area.get_base_pixel();
    let (top, bottom) = (top - by, bottom - by);
    let height = (bottom - top).max(1);
    let y_of = |v: f64| bottom - ((v - lo) / (hi - lo) * f64::from(height)).round() as i32;
    let left = 10;
    let steps = height.min(200);
    for k in 0..steps {
        let (a, b) = (bottom - height * k / steps, bottom - height * (k + 1) / steps);
        let colour = colour_of(scale, (f64::from(k) + 0.5) / f64::from(steps));
        area.draw(&Rectangle::new([(left, b), (left + BAR_PX, a)], colour.filled())).map_err(&err)?;
    }
    area.draw(&Rectangle::new([(left, top), (left + BAR_PX, bottom)], BLACK.stroke_width(1))).map_err(&err)?;
    let (ticks, decimals) = ticks(lo, hi, height);
    let style = TextStyle::from((FAMILY, font).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut widest = 0;
    for v in ticks {
        let y = y_of(v);
        area.draw(&PathElement::new(vec![(left + BAR_PX, y), (left + BAR_PX + 5, y)], BLACK)).map_err(&err)?;
        let text = unsigned_zero(format!("{v:.decimals$}"));
        widest = widest.max(set_width(&text, font) as i32);
        area.draw(&Text::new(text, (left + BAR_PX + 8, y), style.clone())).map_err(&err)?;
    }
    let label_style = TextStyle::from((FAMILY, font + 2).into_font())
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let x = (left + BAR_PX + 8 + widest + 8).min(area.dim_in_pixel().0 as i32 - font as i32 - 6);
    area.draw(&Text::new(label.to_string(), (x, (top + bottom) / 2), label_style)).map_err(&err)?;
    Ok(())
}

/// The colour bar's tick values, `lo` and `hi` first, then round values between them
/// that keep clear of both ends, and the decimals that write them all alike: none for
/// whole ends (counts), else one more than the round step needs, so the ends (data
/// extremes) are not rounded to a step.
fn ticks(lo: f64, hi: f64, height_px: i32) -> (Vec<f64>, usize) {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let whole = lo.fract() == 0.0 && hi.fract() == 0.0;
    let decimals = if whole && step >= 1.0 { 0 } else { (-step.log10().floor()).max(0.0) as usize + 1 };
    let clear = (hi - lo) * 16.0 / f64::from(height_px.max(1));
    let mut values = vec![lo, hi];
    let mut v = (lo / step).ceil() * step;
    while v < hi - clear {
        if v > lo + clear {
            values.push(v);
        }
        v += step;
    }
    (values, decimals)
}
