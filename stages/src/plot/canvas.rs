//! Opening a PNG canvas and turning plotters' errors into `StageError`s that name the file.

use std::fmt::Display;
use std::path::Path;

use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::StageError;

pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A white canvas of `size` pixels writing to `path` on [`finish`].
pub fn open(path: &Path, size: (u32, u32)) -> Result<Area<'_>, StageError> {
    super::font::ensure()?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(StageError::io(parent))?;
    }
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    Ok(root)
}

/// Writes the PNG (plotters would otherwise write it on drop and swallow errors).
pub fn finish(path: &Path, root: Area<'_>) -> Result<(), StageError> {
    root.present().map_err(failed(path))
}

pub fn failed<E: Display>(path: &Path) -> impl Fn(E) -> StageError + '_ {
    move |e| StageError::Failed(format!("drawing {}: {e}", path.display()))
}

/// `lo..hi` widened so that a flat series or a single value still gets a visible axis.
pub fn padded(lo: f64, hi: f64, fraction: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - half, hi + half);
    }
    (lo - span * fraction, hi + span * fraction)
}

/// Key points plotters' mesh puts on a value axis by default.
pub const AXIS_LABELS: usize = 11;

/// The fewest decimals (up to 6) that write every key point plotters puts on `lo..hi`
/// exactly, so that one axis never mixes "0.94" and "0.942".
pub fn axis_decimals(lo: f64, hi: f64) -> usize {
    let points = RangedCoordf64::from(lo..hi).key_points(AXIS_LABELS);
    let exact = |d: usize| {
        points.iter().all(|v| format!("{v:.d$}").parse::<f64>().is_ok_and(|w| (w - v).abs() <= (hi - lo).abs() * 1e-6))
    };
    (0..6).find(|&d| exact(d)).unwrap_or(6)
}

/// A value axis's label with `decimals` decimals; a key point a rounding error below
/// zero (plotters puts 0 at -2.2e-16 on a -1.75..1.8 axis) reads `0.0`, not `-0.0`.
pub fn axis_text(v: f64, decimals: usize) -> String {
    unsigned_zero(format!("{v:.decimals$}"))
}

/// `text` without its minus sign when all its digits are 0: `-0.00` reads `0.00`.
pub fn unsigned_zero(text: String) -> String {
    match text.strip_prefix('-') {
        Some(digits) if digits.bytes().all(|b| b == b'0' || b == b'.') => digits.to_string(),
        _ => text,
    }
}

/// Draws a dashed line from `a` to `b` (absolute pixels): 8 px dashes and 5 px gaps
/// whatever the line's length, so it reads as dashed in a short chart too (plotters
/// has no dash style in this feature set).
pub fn dashed(area: &Area<'_>, a: (i32, i32), b: (i32, i32), style: ShapeStyle, path: &Path) -> Result<(), StageError> {
    const DASH: f64 = 8.0;
    const PERIOD: f64 = 13.0;
    let (bx, by) = area.get_base_pixel();
    let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
    let length = dx.hypot(dy);
    let at = |d: f64| {
        let t = if length > 0.0 { d.min(length) / length } else { 0.0 };
        (a.0 - bx + (t * dx).round() as i32, a.1 - by + (t * dy).round() as i32)
    };
    let mut start = 0.0;
    while start < length {
        area.draw(&PathElement::new(vec![at(start), at(start + DASH)], style)).map_err(failed(path))?;
        start += PERIOD;
    }
    Ok(())
}

/// Pixel width of `text` at `size` px as the embedded font sets it; `text_width`'s
/// estimate where the font cannot measure it.
pub fn set_width(text: &str, size: u32) -> u32 {
    let measured = super::font::ensure().ok().and_then(|()| {
        FontDesc::new(FontFamily::Name(super::font::FAMILY), f64::from(size), FontStyle::Normal).box_size(text).ok()
    });
    measured.map_or_else(|| text_width(text, size), |(w, _)| w)
}

/// Approximate pixel width of `text` at `size` px (DejaVu Sans averages ~0.6 em per glyph).
pub fn text_width(text: &str, size: u32) -> u32 {
    (text.chars().count() as f64 * size as f64 * 0.6).ceil() as u32
}

/// Draws `labels` vertically (reading downwards), each starting just below its
/// absolute pixel anchor. plotters' mesh centres rotated tick labels on the axis
/// line, so long category labels (tokens) are drawn here instead.
pub fn vertical_labels(
    area: &Area<'_>,
    labels: Vec<((i32, i32), String)>,
    size: u32,
    path: &Path,
) -> Result<(), StageError> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let (bx, by) = area.get_base_pixel();
    let style = TextStyle::from((super::font::FAMILY, size).into_font())
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for ((x, y), text) in labels {
        area.draw(&Text::new(text, (x - bx, y - by + 8), style.clone())).map_err(failed(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_axis_writes_its_key_points_with_one_number_of_decimals_and_zero_unsigned() {
        // An ablation chart's axis: asked for 30 points, plotters puts its zero at -2.2e-16.
        let points = RangedCoordf64::from(-1.75..1.8).key_points(30);
        let zero = points.iter().position(|v| v.abs() < 1e-9).expect("a key point at zero");
        assert!(points[zero] < 0.0, "{points:?}");
        assert_eq!(axis_text(points[zero], 1), "0.0");
        assert_eq!(axis_text(-0.2, 1), "-0.2");
        assert_eq!(axis_decimals(-1.75, 1.8), 1);
        // A training curve's 0.8393..0.8459: plotters writes "0.84" next to "0.841".
        let d = axis_decimals(0.8388, 0.8464);
        assert_eq!(d, 3);
        let points = RangedCoordf64::from(0.8388..0.8464).key_points(AXIS_LABELS);
        assert!(points.iter().all(|&v| axis_text(v, d).len() == 5), "{points:?}");
        assert_eq!(axis_decimals(0.0, 1000.0), 0);
        // The colour bar's ticks: Rust keeps the sign of a value that rounds to zero.
        assert_eq!(format!("{:.2}", -1e-17), "-0.00");
        assert_eq!(unsigned_zero(format!("{:.2}", -1e-17)), "0.00");
        assert_eq!(unsigned_zero("-0".into()), "0");
        assert_eq!(unsigned_zero("-0.01".into()), "-0.01");
        assert_eq!(unsigned_zero("-10".into()), "-10");
    }
}
