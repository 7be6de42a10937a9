//! Colours: a categorical palette for series and two colour maps for matrices.

use plotters::style::RGBColor;

/// Tableau 10: distinguishable series colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

pub const POSITIVE: RGBColor = RGBColor(44, 160, 44);
pub const NEGATIVE: RGBColor = RGBColor(214, 39, 40);
pub const NEUTRAL: RGBColor = RGBColor(31, 119, 180);

pub fn series(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Anchor colours of viridis (sequential, readable in greyscale).
const VIRIDIS: [(u8, u8, u8); 5] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
/// Blue, white, red (diverging around zero).
const BLUE_WHITE_RED: [(u8, u8, u8); 3] = [(33, 102, 172), (247, 247, 247), (178, 24, 43)];

/// Colour of `t` in [0, 1] on the sequential map (clamped).
pub fn sequential(t: f64) -> RGBColor {
    interpolate(&VIRIDIS, t)
}

/// Colour of `t` in [0, 1] on the diverging map (0.5 = white).
pub fn diverging(t: f64) -> RGBColor {
    interpolate(&BLUE_WHITE_RED, t)
}

fn interpolate(anchors: &[(u8, u8, u8)], t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let scaled = t * (anchors.len() - 1) as f64;
    let i = (scaled.floor() as usize).min(anchors.len() - 2);
    let f = scaled - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (anchors[i], anchors[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `background`.
pub fn text_on(background: RGBColor) -> RGBColor {
    let luminance = 0.299 * background.0 as f64 + 0.587 * background.1 as f64 + 0.114 * background.2 as f64;
    if luminance > 140.0 {
        RGBColor(0, 0, 0)
    } else {
        RGBColor(255, 255, 255)
    }
}
