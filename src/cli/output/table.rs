//! The text table for people, in bounded memory. With `--max-rows N` (default 40, as
//! datafusion-cli) it keeps the first N rows and only counts the rest; with `--max-rows inf` it
//! streams: the first [`WIDTH_SAMPLE_ROWS`] rows set the column widths, later rows are printed
//! as they arrive. Written here rather than with comfy-table (which arrow's pretty printer
//! uses) because comfy-table needs every row before it can size the columns.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::UnicodeWidthStr;

/// Rows buffered to size the columns when streaming (`--max-rows inf`).
pub(super) const WIDTH_SAMPLE_ROWS: usize = 1000;

/// How many rows the table prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxRows {
    /// The first N rows; the rest are counted.
    Limited(usize),
    /// Every row, streamed.
    Unlimited,
}

impl std::str::FromStr for MaxRows {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "inf" | "all" | "unlimited" => Ok(MaxRows::Unlimited),
            n => n
                .parse()
                .map(MaxRows::Limited)
                .map_err(|_| format!("expected a number of rows or 'inf' (all rows), got '{s}'")),
        }
    }
}

/// Writes one result set as a table.
pub(super) struct TableWriter<W: Write> {
    out: W,
    schema: SchemaRef,
    max_rows: MaxRows,
    /// Rows held until the widths are known (all of them, up to the cap, when limited).
    held: Vec<Vec<String>>,
    /// Column widths once the header is printed (streaming only).
    widths: Option<Vec<usize>>,
    total_rows: usize,
}

impl<W: Write> TableWriter<W> {
    pub(super) fn new(out: W, schema: SchemaRef, max_rows: MaxRows) -> Self {
        Self {
            out,
            schema,
            max_rows,
            held: Vec::new(),
            widths: None,
            total_rows: 0,
        }
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let rows = batch.num_rows();
        let keep = match self.max_rows {
            MaxRows::Limited(cap) => rows.min(cap.saturating_sub(self.total_rows)),
            MaxRows::Unlimited => rows,
        };
        self.total_rows += rows;
        if keep == 0 {
            return Ok(());
        }
        let cells = format_rows(&batch.slice(0, keep))?;
        match &self.widths {
            Some(widths) => {
                for row in &cells {
                    write_row(&mut self.out, widths, row)?;
                }
            }
            None => {
                self.held.extend(cells);
                if self.max_rows == MaxRows::Unlimited && self.held.len() >= WIDTH_SAMPLE_ROWS {
                    self.print_held()?;
                }
            }
        }
        Ok(())
    }

    /// Prints the header and the held rows, fixing the widths.
    fn print_held(&mut self) -> Result<(), ArrowError> {
        let header: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
        for row in &self.held {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        write_rule(&mut self.out, &widths)?;
        write_row(&mut self.out, &widths, &header)?;
        write_rule(&mut self.out, &widths)?;
        for row in std::mem::take(&mut self.held) {
            write_row(&mut self.out, &widths, &row)?;
        }
        self.widths = Some(widths);
        Ok(())
    }

    /// Prints what is held, the closing rule and the row count; returns the output.
    pub(super) fn finish(mut self) -> Result<W, ArrowError> {
        if self.widths.is_none() {
            self.print_held()?;
        }
        if let Some(widths) = &self.widths {
            write_rule(&mut self.out, widths)?;
        }
        let n = self.total_rows;
        let noun = if n == 1 { "row" } else { "rows" };
        match self.max_rows {
            MaxRows::Limited(cap) if n > cap => writeln!(
                self.out,
                "{n} {noun} (first {cap} shown; --max-rows inf shows all)"
            )?,
            _ => writeln!(self.out, "{n} {noun}")?,
        }
        Ok(self.out)
    }
}

/// Each row's cells as text; nulls as `NULL`, control characters escaped so a row is a line.
fn format_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = FormatOptions::new().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    (0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| Ok(escape_controls(&f.value(row).try_to_string()?)))
                .collect()
        })
        .collect()
}

fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn write_rule(out: &mut impl Write, widths: &[usize]) -> std::io::Result<()> {
    let mut line = String::from("+");
    for w in widths {
        line.push_str(&"-".repeat(w + 2));
        line.push('+');
    }
    writeln!(out, "{line}")
}

fn write_row(out: &mut impl Write, widths: &[usize], cells: &[String]) -> std::io::Result<()> {
    let mut line = String::from("|");
    for (w, cell) in widths.iter().zip(cells) {
        line.push(' ');
        line.push_str(cell);
        line.push_str(&" ".repeat(w.saturating_sub(cell.width()) + 1));
        line.push('|');
    }
    writeln!(out, "{line}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let n: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + rows));
        let s: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + rows).map(|i| (i % 2 == 0).then(|| format!("r{i}"))),
        ));
        RecordBatch::try_from_iter([("n", n), ("label", s)]).unwrap()
    }

    fn render(max_rows: MaxRows, batches: &[RecordBatch]) -> String {
        let mut w = TableWriter::new(Vec::new(), batches[0].schema(), max_rows);
        for b in batches {
            w.write(b).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn a_capped_table_shows_the_first_rows_and_counts_all() {
        let text = render(MaxRows::Limited(3), &[batch(0, 2), batch(2, 5)]);
        assert_eq!(
            text,
            "+---+-------+\n\
             | n | label |\n\
             +---+-------+\n\
             | 0 | r0    |\n\
             | 1 | NULL  |\n\
             | 2 | r2    |\n\
             +---+-------+\n\
             7 rows (first 3 shown; --max-rows inf shows all)\n"
        );
    }

    #[test]
    fn an_empty_result_prints_its_header() {
        let text = render(MaxRows::Limited(40), &[batch(0, 0)]);
        assert_eq!(
            text,
            "+---+-------+\n| n | label |\n+---+-------+\n+---+-------+\n0 rows\n"
        );
    }

    #[test]
    fn streaming_prints_every_row_and_holds_only_the_width_sample() {
        let mut w = TableWriter::new(Vec::new(), batch(0, 0).schema(), MaxRows::Unlimited);
        w.write(&batch(0, WIDTH_SAMPLE_ROWS as i64)).unwrap();
        // The sample is printed as soon as it is complete; nothing is held after it.
        assert!(w.held.is_empty() && w.widths.is_some());
        let printed = w.out.len();
        w.write(&batch(WIDTH_SAMPLE_ROWS as i64, 10)).unwrap();
        assert!(w.held.is_empty() && w.out.len() > printed);
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let rows = text.lines().filter(|l| l.starts_with("| ")).count();
        assert_eq!(rows, 1 + WIDTH_SAMPLE_ROWS + 10);
        assert!(text.ends_with(&format!("{} rows\n", WIDTH_SAMPLE_ROWS + 10)));
        assert!(text.contains("| 1005 | NULL  |"), "{text}");
    }

    #[test]
    fn control_characters_stay_on_one_line() {
        assert_eq!(escape_controls("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(escape_controls("plain"), "plain");
    }

    #[test]
    fn max_rows_parses_numbers_and_inf() {
        assert_eq!("40".parse::<MaxRows>(), Ok(MaxRows::Limited(40)));
        assert_eq!("inf".parse::<MaxRows>(), Ok(MaxRows::Unlimited));
        assert!("-1".parse::<MaxRows>().unwrap_err().contains("'-1'"));
    }
}
