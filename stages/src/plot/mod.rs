//! Shared plotting: PNG charts for every stage, drawn with plotters' bitmap backend
//! and an embedded DejaVu Sans (stages/assets/DejaVuSans.ttf, Bitstream Vera
//! licence beside it), so charts render identically on machines without
//! fontconfig and the PNG bytes are deterministic.
//!
//! Every helper takes the output path and a plain description of the data, and
//! returns a [`StageError`](crate::StageError) naming the file when drawing fails.
//! Non-finite values are skipped (lines) or drawn as empty (cells), never panic.
//!
//! - [`line_chart`]: several named series of `(x, y)` points with a legend, axis
//!   labels and a title (training curves).
//! - [`bar_chart`]: labelled bars with the value text at each bar end, optional
//!   colours by sign, an optional reference line, vertical or horizontal (token
//!   attributions, slice accuracies).
//! - [`heatmap`]: a matrix with row and column labels, optional text in each cell,
//!   a colour bar and a title (confusion matrix, attention).
//! - [`heatmap_grid`]: several heatmaps on one sheet sharing one colour scale
//!   (attention per head or per layer).
//! - [`reliability_diagram`]: per-bin accuracy against confidence with the
//!   diagonal and bin counts (calibration).
//!
//! ```no_run
//! use pipe_stages::plot::{line_chart, LineChart, Series};
//! let chart = LineChart {
//!     title: "Dev loss".into(),
//!     x_label: "epoch".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series { name: "dev".into(), points: vec![(1.0, 0.4), (2.0, 0.3)] }],
//!     min_y_span: 0.0,
//!     marker: Some(("epoch kept".into(), 2.0)),
//!     whole_x: true,
//! };
//! line_chart(std::path::Path::new("loss.png"), &chart).unwrap();
//! ```

mod bar;
mod canvas;
mod colour;
mod font;
mod heatmap;
mod line;
mod reliability;

pub use bar::{bar_chart, Bar, BarChart, BarColours};
pub use canvas::{set_width, text_width, unsigned_zero};
pub use heatmap::{heatmap, heatmap_grid, Heatmap, Scale};
pub use line::{line_chart, LineChart, Series};
pub use reliability::reliability_diagram;
