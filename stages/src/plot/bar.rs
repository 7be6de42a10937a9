//! Bar charts: one bar per labelled value, with its text at the bar end and,
//! where given, its uncertainty interval as an error bar.

use std::path::Path;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{
    axis_decimals, axis_text, dashed, failed, finish, open, padded, set_width, text_width, vertical_labels, Area,
};
use super::colour;
use super::font::FAMILY;
use crate::StageError;

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Printed at the end of the bar (e.g. "0.912  n=120").
    pub text: String,
    /// An uncertainty interval `(lo, hi)` drawn as an error bar across the bar's end.
    pub interval: Option<(f64, f64)>,
    /// An interval of another kind (over seeds, where `interval` is over test examples),
    /// drawn in blue beside the first, with smaller ticks.
    pub second_interval: Option<(f64, f64)>,
}

impl Bar {
    /// A bar whose text is its value with three decimals.
    pub fn new(label: impl Into<String>, value: f64) -> Bar {
        Bar { label: label.into(), value, text: format!("{value:.3}"), interval: None, second_interval: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarColours {
    /// Every bar in the same blue.
    Single,
    /// Green for values >= 0, red below (attributions, deltas).
    BySign,
}

#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    /// Description of the value axis.
    pub value_label: String,
    pub bars: Vec<Bar>,
    pub colours: BarColours,
    /// Bars grow to the right and are listed top to bottom (long labels, tokens).
    pub horizontal: bool,
    /// A dashed line across the bars with its legend text (e.g. overall accuracy).
    pub reference: Option<(String, f64)>,
}

const LABEL_PX: u32 = 14;
const BAR_PX: u32 = 34;
const DESC_PX: u32 = 15;
const MARGIN: u32 = 14;
/// Width of one category in axis units: the category axis is integer (plotters only
/// formats custom tick positions on integer axes), bar i spans [i*UNIT, (i+1)*UNIT).
const UNIT: i32 = 100;
/// Bars fill the middle 72% of their category.
const INSET: i32 = 14;
/// A horizontal chart is at least this tall: two bars in 178 px left the dashed
/// reference line too short to read as dashed next to an error bar's cap.
const MIN_HEIGHT: u32 = 260;

/// Draws `chart` as a PNG sized to its number of bars. Non-finite values are drawn
/// as empty bars with their text.
pub fn bar_chart(path: &Path, chart: &BarChart) -> Result<(), StageError> {
    let n = chart.bars.len().max(1);
    let ends =
        chart.bars.iter().flat_map(|b| [b.interval, b.second_interval].into_iter().flatten()).flat_map(|(l, h)| [l, h]);
    let values = chart.bars.iter().map(|b| b.value).chain(ends).filter(|v| v.is_finite());
    let (lo, hi) =
        values.chain(chart.reference.iter().map(|r| r.1)).fold((0.0f64, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    // Room beyond the bar ends for the value text.
    let (lo, hi) = if lo == 0.0 && hi == 0.0 { (0.0, 1.0) } else { (lo, hi) };
    let (plo, phi) = padded(lo, hi, 0.18);
    let (lo, hi) = (if lo < 0.0 { plo } else { 0.0 }, if hi > 0.0 { phi } else { 0.0 });
    let decimals = axis_decimals(lo, hi);
    let value_axis = |v: &f64| axis_text(*v, decimals);

    let longest = chart.bars.iter().map(|b| text_width(&b.label, LABEL_PX)).max().unwrap_or(0);
    let centres: Vec<i32> = (0..n as i32).map(|i| i * UNIT + UNIT / 2).collect();
    let categories = (0..n as i32 * UNIT).with_key_points(centres);
    let label_of = |index: i32| {
        usize::try_from(index).ok().and_then(|i| chart.bars.get(i)).map(|b| b.label.clone()).unwrap_or_default()
    };

    let value_desc = match &chart.reference {
        Some((name, v)) => format!("{}   (dashed line: {name} = {v:.3})", chart.value_label),
        None => chart.value_label.clone(),
    };
    let err = failed(path);
    if chart.horizontal {
        // The axis description is centred under the plot area (what the margins and the
        // labels leave): the figure widens rather than cut it off.
        let label_area = longest + 16;
        let width = 900.max(longest + 560).max(label_area + 2 * MARGIN + set_width(&value_desc, DESC_PX) + 8);
        let size = (width, (110 + BAR_PX * n as u32).max(MIN_HEIGHT));
        let root = open(path, size)?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&chart.title, (FAMILY, 22))
            .margin(MARGIN)
            .x_label_area_size(44)
            .y_label_area_size(label_area)
            .build_cartesian_2d(lo..hi, categories)
            .map_err(&err)?;
        // Category i is drawn at slot n-1-i so the first bar is on top.
        let flip = |i: usize| (n - 1 - i) as i32 * UNIT;
        ctx.configure_mesh()
            .disable_y_mesh()
            .x_desc(&value_desc)
            .x_label_formatter(&value_axis)
            .y_label_formatter(&|v| label_of(n as i32 - 1 - v / UNIT))
            .label_style((FAMILY, LABEL_PX))
            .axis_desc_style((FAMILY, DESC_PX))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&err)?;
        let mut texts = Vec::with_capacity(n);
        for (i, bar) in chart.bars.iter().enumerate() {
            let y = flip(i);
            let v = if bar.value.is_finite() { bar.value } else { 0.0 };
            let style = fill(chart.colours, v);
            ctx.draw_series([Rectangle::new([(0.0, y + INSET), (v, y + UNIT - INSET)], style)]).map_err(&err)?;
            let lines =
                whiskers(bar, y + UNIT / 2).into_iter().map(|(p, c)| PathElement::new(p.to_vec(), c.stroke_width(2)));
            ctx.draw_series(lines).map_err(&err)?;
            let (x, y) = ctx.backend_coord(&(outer_end(bar, v), y + UNIT / 2));
            texts.push(if v < 0.0 {
                ValueText { at: (x - 6, y), pos: Pos::new(HPos::Right, VPos::Center), text: bar.text.clone() }
            } else {
                ValueText { at: (x + 6, y), pos: Pos::new(HPos::Left, VPos::Center), text: bar.text.clone() }
            });
        }
        if let Some((_, v)) = chart.reference {
            let ends = (ctx.backend_coord(&(v, 0)), ctx.backend_coord(&(v, n as i32 * UNIT)));
            dashed(&root, ends.0, ends.1, REFERENCE.stroke_width(2), path)?;
        }
        drop(ctx);
        draw_value_texts(&root, texts, chart.reference.is_some(), path)?;
        finish(path, root)
    } else {
        let width = 700.max(120 + 2 * BAR_PX * n as u32);
        let rotate = longest + 8 > (width - 120) / n as u32;
        let label_area = if rotate { longest + 24 } else { 40 };
        let size = (width, 520 + if rotate { longest } else { 0 });
        let root = open(path, size)?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&chart.title, (FAMILY, 22))
            .margin(MARGIN)
            .x_label_area_size(label_area)
            .y_label_area_size(64)
            .build_cartesian_2d(categories, lo..hi)
            .map_err(&err)?;
        ctx.configure_mesh()
            .disable_x_mesh()
            .y_desc(&value_desc)
            .y_label_formatter(&value_axis)
            .x_label_formatter(&|v| if rotate { String::new() } else { label_of(v / UNIT) })
            .label_style((FAMILY, LABEL_PX))
            .axis_desc_style((FAMILY, DESC_PX))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(&err)?;
        let mut texts = Vec::with_capacity(n);
        for (i, bar) in chart.bars.iter().enumerate() {
            let x = i as i32 * UNIT;
            let v = if bar.value.is_finite() { bar.value } else { 0.0 };
            ctx.draw_series([Rectangle::new([(x + INSET, 0.0), (x + UNIT - INSET, v)], fill(chart.colours, v))])
                .map_err(&err)?;
            let lines = whiskers(bar, x + UNIT / 2).into_iter();
            let lines =
                lines.map(|(p, colour)| PathElement::new(p.map(|(v, c)| (c, v)).to_vec(), colour.stroke_width(2)));
            ctx.draw_series(lines).map_err(&err)?;
            let (px, py) = ctx.backend_coord(&(x + UNIT / 2, outer_end(bar, v)));
            texts.push(if v < 0.0 {
                ValueText { at: (px, py + 5), pos: Pos::new(HPos::Center, VPos::Top), text: bar.text.clone() }
            } else {
                ValueText { at: (px, py - 5), pos: Pos::new(HPos::Center, VPos::Bottom), text: bar.text.clone() }
            });
        }
        if let Some((_, v)) = chart.reference {
            let ends = (ctx.backend_coord(&(0, v)), ctx.backend_coord(&(n as i32 * UNIT, v)));
            dashed(&root, ends.0, ends.1, REFERENCE.stroke_width(2), path)?;
        }
        if rotate {
            let labels = chart.bars.iter().enumerate();
            let labels =
                labels.map(|(i, b)| (ctx.backend_coord(&(i as i32 * UNIT + UNIT / 2, lo)), b.label.clone())).collect();
            vertical_labels(&root, labels, LABEL_PX, path)?;
        }
        drop(ctx);
        draw_value_texts(&root, texts, chart.reference.is_some(), path)?;
        finish(path, root)
    }
}

/// The error bars of a bar centred at category position `centre` as (value, category)
/// segments with their colour: each interval and a tick at each end; the second interval's
/// between the first's and the bar's edge.
fn whiskers(bar: &Bar, centre: i32) -> Vec<([(f64, i32); 2], RGBColor)> {
    let ticked = |(lo, hi): (f64, f64), at: i32, tick: i32| {
        let (a, b) = (at - tick, at + tick);
        [[(lo, at), (hi, at)], [(lo, a), (lo, b)], [(hi, a), (hi, b)]]
    };
    let first = bar.interval.map(|i| ticked(i, centre, UNIT / 6).map(|s| (s, WHISKER)));
    let second = bar.second_interval.map(|i| ticked(i, centre + UNIT / 4, UNIT / 12).map(|s| (s, SECOND_WHISKER)));
    first.into_iter().chain(second).flatten().collect()
}

/// Where a bar's text goes: past the bar's end, or past its error bars when they reach further.
fn outer_end(bar: &Bar, v: f64) -> f64 {
    let ends = [bar.interval, bar.second_interval].into_iter().flatten();
    if v < 0.0 {
        ends.fold(v, |end, (lo, _)| end.min(lo))
    } else {
        ends.fold(v, |end, (_, hi)| end.max(hi))
    }
}

/// A bar's value text, placed in absolute pixels.
struct ValueText {
    at: (i32, i32),
    pos: Pos,
    text: String,
}

const VALUE_PX: u32 = 13;

/// Colour of the error bars: dark, so they read on both bar colours and the white ground.
const WHISKER: RGBColor = RGBColor(40, 40, 40);
/// The second interval's: blue, apart from the bars' red and green and the grey reference line.
const SECOND_WHISKER: RGBColor = colour::NEUTRAL;
/// The reference line is lighter than the error bars, so the two never read as one.
const REFERENCE: RGBColor = RGBColor(110, 110, 110);

/// Draws the value texts after the reference line; with `boxed`, each on a white
/// box, so the dashed line never runs through a number and makes a 5 read as a 6.
fn draw_value_texts(root: &Area<'_>, texts: Vec<ValueText>, boxed: bool, path: &Path) -> Result<(), StageError> {
    let err = failed(path);
    for ValueText { at: (x, y), pos, text } in texts {
        if boxed {
            let (w, h) = (set_width(&text, VALUE_PX) as i32 + 4, VALUE_PX as i32 + 4);
            let left = match pos.h_pos {
                HPos::Left => x - 2,
                HPos::Right => x - w + 2,
                HPos::Center => x - w / 2,
            };
            let top = match pos.v_pos {
                VPos::Top => y - 2,
                VPos::Bottom => y - h + 2,
                VPos::Center => y - h / 2,
            };
            root.draw(&Rectangle::new([(left, top), (left + w, top + h)], WHITE.filled())).map_err(&err)?;
        }
        root.draw(&Text::new(text, (x, y), TextStyle::from((FAMILY, VALUE_PX).into_font()).pos(pos))).map_err(&err)?;
    }
    Ok(())
}

fn fill(colours: BarColours, value: f64) -> ShapeStyle {
    match colours {
        BarColours::Single => colour::NEUTRAL.filled(),
        BarColours::BySign if value < 0.0 => colour::NEGATIVE.filled(),
        BarColours::BySign => colour::POSITIVE.filled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_interval_is_drawn_beside_the_first_and_the_text_goes_past_both() {
        let bar = Bar { interval: Some((-1.5, -0.1)), second_interval: Some((-5.0, 3.0)), ..Bar::new("b", -1.0) };
        let drawn = whiskers(&bar, 50);
        assert_eq!(drawn.len(), 6, "a line and two ticks each");
        assert!(drawn[..3].iter().all(|(segment, colour)| *colour == WHISKER && segment[0].1 != 50 + UNIT / 4));
        assert_eq!(drawn[3].0, [(-5.0, 50 + UNIT / 4), (3.0, 50 + UNIT / 4)]);
        assert!(drawn[3..].iter().all(|(_, colour)| *colour == SECOND_WHISKER));
        assert_eq!(outer_end(&bar, -1.0), -5.0);
        assert_eq!(outer_end(&Bar { second_interval: None, ..bar.clone() }, -1.0), -1.5);
        assert_eq!(outer_end(&Bar::new("up", 0.5), 0.5), 0.5);
        assert!(whiskers(&Bar::new("none", 1.0), 50).is_empty());
    }
}
