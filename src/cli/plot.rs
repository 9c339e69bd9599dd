//! `--plot FILE.png|svg`: a query's result as a line chart. The x axis is the result's first
//! timestamp (or date) column, in UTC; each numeric column gets a panel of its own (stacked,
//! sharing the time axis); each distinct combination of the string columns (the series key,
//! e.g. `scope`) is one line with a legend entry. Nulls and NaN break a line.
//!
//! Drawn with plotters in pure Rust: text uses ab_glyph with a font compiled in (Ubuntu Light
//! from epaint_default_fonts), so no system fonts or fontconfig are needed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

use chrono::{DateTime, TimeZone, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef, TimeUnit};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width of the image in pixels.
pub(crate) const WIDTH: u32 = 1200;
/// Height of each numeric column's panel in pixels.
pub(crate) const PANEL_HEIGHT: u32 = 400;
/// Most rows a chart collects: beyond this, aggregate first (`date_bin`, `ds_bucket`).
pub(crate) const MAX_ROWS: usize = 1_000_000;

/// The image formats `--plot` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    /// PNG (RGB).
    Png,
    /// SVG (text as `<text>` elements).
    Svg,
}

impl ImageKind {
    /// The kind a file name asks for, by its extension.
    pub(crate) fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(ImageKind::Png),
            "svg" => Some(ImageKind::Svg),
            _ => None,
        }
    }
}

/// Why a result cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlotError {
    /// No column for the x axis.
    #[error("the result needs a timestamp column for the x axis (its columns: {0})")]
    NoTimestamp(String),
    /// No column for the y axis.
    #[error("the result needs a numeric column to draw (its columns: {0})")]
    NoNumber(String),
    /// Nothing to draw.
    #[error("the query returned no rows to draw")]
    Empty,
    /// Too much to draw.
    #[error("a chart draws at most {MAX_ROWS} rows; aggregate first, e.g. GROUP BY date_bin(interval '1 hour', ts)")]
    TooManyRows,
    /// Arrow could not convert a column.
    #[error("cannot read column {column}: {reason}")]
    Column {
        /// The column.
        column: String,
        /// Arrow's message.
        reason: String,
    },
    /// plotters or the PNG encoder failed.
    #[error("cannot draw the chart: {0}")]
    Draw(String),
}

/// One point: epoch milliseconds and a value per numeric column.
type Point = (i64, Vec<Option<f64>>);

/// The rows of a result, collected for drawing.
#[derive(Debug)]
pub(crate) struct PlotData {
    x: usize,
    keys: Vec<usize>,
    ys: Vec<(usize, String)>,
    /// Points per series key, in arrival order.
    series: BTreeMap<String, Vec<Point>>,
    rows: usize,
}

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn is_time(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

impl PlotData {
    /// Picks the columns of `schema` to draw.
    pub(crate) fn new(schema: &SchemaRef) -> Result<Self, PlotError> {
        let names = || {
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fields = schema.fields();
        let x = fields
            .iter()
            .position(|f| is_time(f.data_type()))
            .ok_or_else(|| PlotError::NoTimestamp(names()))?;
        let keys = (0..fields.len())
            .filter(|&i| is_text(fields[i].data_type()))
            .collect();
        let ys: Vec<(usize, String)> = (0..fields.len())
            .filter(|&i| i != x && fields[i].data_type().is_numeric())
            .map(|i| (i, fields[i].name().clone()))
            .collect();
        if ys.is_empty() {
            return Err(PlotError::NoNumber(names()));
        }
        Ok(Self {
            x,
            keys,
            ys,
            series: BTreeMap::new(),
            rows: 0,
        })
    }

    /// Adds a batch's rows.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<(), PlotError> {
        self.rows += batch.num_rows();
        if self.rows > MAX_ROWS {
            return Err(PlotError::TooManyRows);
        }
        let schema = batch.schema();
        let column = |i: usize, to: &DataType| {
            cast(batch.column(i), to).map_err(|e| PlotError::Column {
                column: schema.field(i).name().clone(),
                reason: e.to_string(),
            })
        };
        // A cast that changes only the unit keeps the instant (the time zone stays).
        let x_type = match batch.column(self.x).data_type() {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
            _ => DataType::Timestamp(TimeUnit::Millisecond, None),
        };
        let xs = column(self.x, &x_type)?;
        let xs = cast(&xs, &DataType::Int64).map_err(|e| PlotError::Column {
            column: schema.field(self.x).name().clone(),
            reason: e.to_string(),
        })?;
        let xs = xs.as_primitive::<Int64Type>();
        let keys = self
            .keys
            .iter()
            .map(|&i| column(i, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let ys = self
            .ys
            .iter()
            .map(|(i, _)| column(*i, &DataType::Float64))
            .collect::<Result<Vec<_>, _>>()?;
        let ys: Vec<_> = ys.iter().map(|y| y.as_primitive::<Float64Type>()).collect();
        for row in 0..batch.num_rows() {
            if xs.is_null(row) {
                continue;
            }
            let key = keys
                .iter()
                .map(|k| {
                    let k = k.as_string::<i32>();
                    if k.is_null(row) {
                        "NULL".to_string()
                    } else {
                        k.value(row).to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            let values = ys
                .iter()
                .map(|y| {
                    (!y.is_null(row))
                        .then(|| y.value(row))
                        .filter(|v| v.is_finite())
                })
                .collect();
            self.series
                .entry(key)
                .or_default()
                .push((xs.value(row), values));
        }
        Ok(())
    }

    /// The chart as PNG or SVG bytes.
    pub(crate) fn render(&self, kind: ImageKind) -> Result<Vec<u8>, PlotError> {
        if self.series.values().all(Vec::is_empty) {
            return Err(PlotError::Empty);
        }
        register_font();
        let size = (WIDTH, PANEL_HEIGHT * self.ys.len() as u32);
        let draw_error = |e: String| PlotError::Draw(e);
        match kind {
            ImageKind::Svg => {
                let mut text = String::new();
                {
                    let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
                    self.draw(&root).map_err(draw_error)?;
                }
                Ok(text.into_bytes())
            }
            ImageKind::Png => {
                let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
                {
                    let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
                    self.draw(&root).map_err(draw_error)?;
                }
                encode_png(&pixels, size).map_err(draw_error)
            }
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let mut series: Vec<(&String, Vec<Point>)> = self
            .series
            .iter()
            .map(|(k, points)| {
                let mut points = points.clone();
                points.sort_by_key(|p| p.0);
                (k, points)
            })
            .collect();
        series.retain(|(_, p)| !p.is_empty());
        let (t0, t1) = series
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), (_, p)| {
                (lo.min(p[0].0), hi.max(p[p.len() - 1].0))
            });
        // One instant: widen to an hour around it so the axis has a span.
        let (t0, t1) = if t0 == t1 {
            (t0 - 1_800_000, t1 + 1_800_000)
        } else {
            (t0, t1)
        };
        let (start, end) = (utc(t0), utc(t1));
        let span_ms = t1 - t0;
        let label = move |t: &DateTime<Utc>| {
            let f = if span_ms <= 86_400_000 {
                "%H:%M"
            } else if span_ms <= 7 * 86_400_000 {
                "%m-%d %H:%M"
            } else {
                "%Y-%m-%d"
            };
            t.format(f).to_string()
        };
        let x_desc = format!("time (UTC) from {}", start.format("%Y-%m-%d %H:%M"));
        let legend = !(series.len() == 1 && series[0].0.is_empty());
        let panels = root.split_evenly((self.ys.len(), 1));
        for (panel_index, (panel, (_, y_name))) in panels.iter().zip(&self.ys).enumerate() {
            let (lo, hi) = y_range(
                series
                    .iter()
                    .flat_map(|(_, p)| p.iter().filter_map(move |(_, v)| v[panel_index])),
            );
            let mut chart = ChartBuilder::on(panel)
                .caption(y_name, ("sans-serif", 22))
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(72)
                .build_cartesian_2d(RangedDateTime::from(start..end), lo..hi)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_labels(10)
                .y_labels(8)
                .x_label_formatter(&label)
                .x_desc(x_desc.as_str())
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .max_light_lines(2)
                .light_line_style(RGBColor(238, 238, 238))
                .bold_line_style(RGBColor(205, 205, 205))
                .draw()
                .map_err(err)?;
            for (index, (key, points)) in series.iter().enumerate() {
                let color = series_color(index);
                let style = color.stroke_width(2);
                let mut labelled = false;
                for segment in segments(points, panel_index) {
                    let anno = if segment.len() == 1 {
                        chart.draw_series(std::iter::once(Circle::new(
                            segment[0],
                            3,
                            style.filled(),
                        )))
                    } else {
                        chart.draw_series(LineSeries::new(segment, style))
                    }
                    .map_err(err)?;
                    if legend && !labelled {
                        labelled = true;
                        anno.label(key.as_str()).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3))
                        });
                    }
                }
            }
            if legend {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font(("sans-serif", 14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(160, 160, 160))
                    .draw()
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The y axis for `values`: their range with 5 % to spare; a constant gets ±1.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    }
}

/// The runs of non-null values of column `y` in `points`.
fn segments(points: &[Point], y: usize) -> Vec<Vec<(DateTime<Utc>, f64)>> {
    let mut out = vec![Vec::new()];
    for (t, values) in points {
        match values[y] {
            Some(v) => out.last_mut().map_or((), |s| s.push((utc(*t), v))),
            None if out.last().is_some_and(|s| !s.is_empty()) => out.push(Vec::new()),
            None => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Tableau's 10 categorical colours (distinct, readable on white), then plotters' palette.
fn series_color(index: usize) -> RGBColor {
    const TABLEAU: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TABLEAU.get(index) {
        Some(&(r, g, b)) => RGBColor(r, g, b),
        None => {
            let (r, g, b) = Palette99::pick(index).rgb();
            RGBColor(r, g, b)
        }
    }
}

/// Makes the bundled font plotters' "sans-serif" (once per process).
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and valid; should it not parse, text is simply not drawn.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

fn encode_png(pixels: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, TimestampSecondArray};

    use super::*;

    fn batch() -> RecordBatch {
        // Two hosts, one value missing: web's line breaks at t = 120 s.
        let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 60, 120, 180, 0]));
        let host: ArrayRef = Arc::new(StringArray::from(vec!["web", "web", "web", "web", "db"]));
        let v: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            Some(2.0),
            None,
            Some(f64::NAN),
            Some(5.0),
        ]));
        RecordBatch::try_from_iter([("ts", ts), ("host", host), ("v", v)]).unwrap()
    }

    #[test]
    fn columns_are_picked_by_type() {
        let data = PlotData::new(&batch().schema()).unwrap();
        assert_eq!((data.x, data.keys.clone()), (0, vec![1]));
        assert_eq!(data.ys, [(2, "v".to_string())]);
        let no_time = RecordBatch::try_from_iter([(
            "v",
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )])
        .unwrap();
        assert!(matches!(
            PlotData::new(&no_time.schema()),
            Err(PlotError::NoTimestamp(cols)) if cols == "v"
        ));
    }

    #[test]
    fn points_are_grouped_by_key_in_milliseconds_and_nulls_break_lines() {
        let mut data = PlotData::new(&batch().schema()).unwrap();
        data.push(&batch()).unwrap();
        assert_eq!(data.series["db"], [(0, vec![Some(5.0)])]);
        let web = &data.series["web"];
        assert_eq!(
            web.iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 60_000, 120_000, 180_000]
        );
        // NaN is dropped like a null; the one run of values is [0, 60 s].
        let runs = segments(web, 0);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].iter().map(|p| p.1).collect::<Vec<_>>(), [1.0, 2.0]);
    }

    #[test]
    fn y_ranges_have_room() {
        assert_eq!(y_range([0.0, 20.0].into_iter()), (-1.0, 21.0));
        assert_eq!(y_range([2.0].into_iter()), (1.0, 3.0));
        assert_eq!(y_range(std::iter::empty()), (0.0, 1.0));
    }

    #[test]
    fn an_svg_names_every_series_and_the_png_has_the_panel_size() {
        let mut data = PlotData::new(&batch().schema()).unwrap();
        data.push(&batch()).unwrap();
        let svg = String::from_utf8(data.render(ImageKind::Svg).unwrap()).unwrap();
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"web") && texts.contains(&"db"), "{svg}");
        let png = data.render(ImageKind::Png).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        assert_eq!(
            (info.info().width, info.info().height),
            (WIDTH, PANEL_HEIGHT)
        );
        assert!(matches!(
            PlotData::new(&batch().schema())
                .unwrap()
                .render(ImageKind::Png),
            Err(PlotError::Empty)
        ));
    }
}
