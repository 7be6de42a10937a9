//! Heatmaps: a matrix of values as coloured cells with labels and a colour bar,
//! alone or as a grid of panels sharing one colour scale.

use std::path::Path;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{failed, finish, open, text_width, unsigned_zero, vertical_labels, Area};
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
        (x_area, longest_row + 2 * font + 16, rotate)
    }
}

const COLOUR_BAR_PX: u32 = 110;
/// Cell size in axis units: axes are integer (plotters only formats custom tick
/// positions on integer axes), cell (r, c) spans [c*UNIT, (c+1)*UNIT).
const UNIT: i32 = 100;

/// Draws one heatmap with its colour bar; cells are square and sized to the matrix.
pub fn heatmap(path: &Path, map: &Heatmap) -> Result<(), StageError> {
    let cell = (560 / map.rows().max(map.cols()).max(1) as u32).clamp(14, 180);
    let font = if cell < 22 { 11 } else { 14 };
    let (x_area, y_area, _) = map.label_areas(font, cell);
    let width = y_area + cell * map.cols().max(1) as u32 + 40 + COLOUR_BAR_PX;
    let height = x_area + cell * map.rows().max(1) as u32 + 70;
    let root = open(path, (width.max(360), height.max(260)))?;
    let range = map.range();
    let (left, right) = root.split_horizontally(width.max(360) - COLOUR_BAR_PX);
    draw_panel(&left, map, range, font, cell, 22, path)?;
    draw_colour_bar(&right, map.scale, range, x_area, path)?;
    finish(path, root)
}

/// Draws `panels` in a grid of `columns` columns under `title`, with one colour bar:
/// every panel uses the union of the panels' colour ranges so colours compare across
/// panels (all panels should share a scale kind; the first panel's is used).
pub fn heatmap_grid(path: &Path, title: &str, panels: &[Heatmap], columns: usize) -> Result<(), StageError> {
    let Some(first) = panels.first() else {
        return Err(StageError::Failed(format!("drawing {}: a heatmap grid needs at least one panel", path.display())));
    };
    let columns = columns.clamp(1, panels.len());
    let grid_rows = panels.len().div_ceil(columns);
    let side = panels.iter().map(|p| p.rows().max(p.cols())).max().unwrap_or(1).max(1) as u32;
    let cell = (320 / side).clamp(8, 100);
    let font = if cell < 16 { 10 } else { 12 };
    let (x_area, y_area) =
        panels.iter().map(|p| p.label_areas(font, cell)).fold((0, 0), |(x, y), (a, b, _)| (x.max(a), y.max(b)));
    let max_cols = panels.iter().map(Heatmap::cols).max().unwrap_or(1).max(1) as u32;
    let max_rows = panels.iter().map(Heatmap::rows).max().unwrap_or(1).max(1) as u32;
    let panel = (y_area + cell * max_cols + 24, x_area + cell * max_rows + 44);
    let size = (panel.0 * columns as u32 + COLOUR_BAR_PX, panel.1 * grid_rows as u32 + 50);
    let root = open(path, size)?;
    let err = failed(path);
    let body = root.titled(title, (FAMILY, 24)).map_err(&err)?;
    let (grid, bar) = body.split_horizontally(size.0 - COLOUR_BAR_PX);
    let range = panels
        .iter()
        .map(Heatmap::range)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), (a, b)| (l.min(a), h.max(b)));
    let scale = first.scale;
    for (area, map) in grid.split_evenly((grid_rows, columns)).iter().zip(panels) {
        draw_panel(area, &Heatmap { scale, ..map.clone() }, range, font, cell, 15, path)?;
    }
    draw_colour_bar(&bar, scale, range, x_area, path)?;
    finish(path, root)
}

fn draw_panel(
    area: &Area,
    map: &Heatmap,
    (lo, hi): (f64, f64),
    font: u32,
    cell: u32,
    title_px: u32,
    path: &Path,
) -> Result<(), StageError> {
    let err = failed(path);
    let (rows, cols) = (map.rows(), map.cols());
    let (x_area, y_area, rotate) = map.label_areas(font, cell);
    let centres = |n: usize| (0..n as i32).map(|i| i * UNIT + UNIT / 2).collect::<Vec<_>>();
    let mut ctx = ChartBuilder::on(area)
        .caption(&map.title, (FAMILY, title_px))
        .margin(8)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(
            (0..cols.max(1) as i32 * UNIT).with_key_points(centres(cols)),
            (0..rows.max(1) as i32 * UNIT).with_key_points(centres(rows)),
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
        let labels = map.col_labels.iter().enumerate();
        let labels = labels.map(|(c, l)| (ctx.backend_coord(&(c as i32 * UNIT + UNIT / 2, 0)), l.clone())).collect();
        vertical_labels(area, labels, font, path)?;
    }
    Ok(())
}

fn colour_of(scale: Scale, t: f64) -> RGBColor {
    match scale {
        Scale::Sequential => colour::sequential(t),
        Scale::Diverging => colour::diverging(t),
    }
}

/// A vertical gradient from `lo` (bottom) to `hi` (top) with value labels;
/// `bottom_px` leaves the same room as the panel's column labels so the bar lines up.
fn draw_colour_bar(
    area: &Area,
    scale: Scale,
    (lo, hi): (f64, f64),
    bottom_px: u32,
    path: &Path,
) -> Result<(), StageError> {
    let err = failed(path);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let mut ctx = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(bottom_px.min(area.dim_in_pixel().1 / 2) + 8)
        .margin_right(12)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(&err)?;
    ctx.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| tick(*v, hi - lo))
        .y_label_style((FAMILY, 12))
        .draw()
        .map_err(&err)?;
    let steps = 100;
    let cells = (0..steps).map(|k| {
        let (a, b) = (lo + (hi - lo) * k as f64 / steps as f64, lo + (hi - lo) * (k + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], colour_of(scale, (k as f64 + 0.5) / steps as f64).filled())
    });
    ctx.draw_series(cells).map_err(&err)?;
    Ok(())
}

/// A colour-bar tick with as many decimals as the range needs.
fn tick(v: f64, span: f64) -> String {
    let decimals = if span >= 10.0 {
        0
    } else if span >= 1.0 {
        1
    } else if span >= 0.1 {
        2
    } else {
        3
    };
    unsigned_zero(format!("{v:.decimals$}"))
}
