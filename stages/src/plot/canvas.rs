//! Opening a PNG canvas and turning plotters' errors into `StageError`s that name the file.

use std::fmt::Display;
use std::path::Path;

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
