//! Writing query results: a table for people, or CSV, JSON, NDJSON, Parquet or Arrow IPC for
//! programs, streamed batch by batch so exports stay in bounded memory.

use std::io::Write;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::Result as DFResult;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::Result as ParquetResult;
use datafusion::parquet::file::properties::WriterProperties;

/// Largest row group the Parquet output buffers before writing it out (encoded size). The
/// writer holds a whole row group in memory, and the default cap is only a row count (about a
/// million rows), so without this a long extraction's memory grows with the data: 30 days of
/// 10 s data for three hosts is a single 12 MB row group. 16 MiB keeps memory bounded and the
/// row groups large enough for readers to scan efficiently.
pub const PARQUET_MAX_ROW_GROUP_BYTES: usize = 16 << 20;

/// The CLI's Parquet writer settings: zstd level 3 (DataFusion's own default for writing
/// Parquet) and row groups of at most `max_row_group_bytes`.
pub fn parquet_properties(max_row_group_bytes: usize) -> ParquetResult<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_bytes(Some(max_row_group_bytes.max(1)))
        .build())
}

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned text table (collects all rows first).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file.
    Arrow,
}

/// A sink that takes batches one at a time.
pub enum ResultWriter {
    /// Collects for `pretty_format_batches`.
    Table(Box<dyn Write + Send>, Vec<RecordBatch>),
    /// CSV writer.
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write + Send>>),
    /// JSON array writer.
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write + Send>>),
    /// NDJSON writer.
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    /// Parquet writer.
    Parquet(ArrowWriter<Box<dyn Write + Send>>),
    /// Arrow IPC writer.
    Arrow(datafusion::arrow::ipc::writer::FileWriter<Box<dyn Write + Send>>),
}

impl ResultWriter {
    /// A writer of `format` into `out` for batches of `schema`.
    pub fn new(
        format: OutputFormat,
        out: Box<dyn Write + Send>,
        schema: &SchemaRef,
    ) -> DFResult<Self> {
        Ok(match format {
            OutputFormat::Table => ResultWriter::Table(out, Vec::new()),
            OutputFormat::Csv => ResultWriter::Csv(datafusion::arrow::csv::Writer::new(out)),
            OutputFormat::Json => {
                ResultWriter::Json(datafusion::arrow::json::ArrayWriter::new(out))
            }
            OutputFormat::Ndjson => {
                ResultWriter::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out))
            }
            OutputFormat::Parquet => {
                let props = parquet_properties(PARQUET_MAX_ROW_GROUP_BYTES)?;
                ResultWriter::Parquet(ArrowWriter::try_new(out, schema.clone(), Some(props))?)
            }
            OutputFormat::Arrow => ResultWriter::Arrow(
                datafusion::arrow::ipc::writer::FileWriter::try_new(out, schema)?,
            ),
        })
    }

    /// Writes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> DFResult<()> {
        match self {
            ResultWriter::Table(_, all) => all.push(batch.clone()),
            ResultWriter::Csv(w) => w.write(batch)?,
            ResultWriter::Json(w) => w.write(batch)?,
            ResultWriter::Ndjson(w) => w.write(batch)?,
            ResultWriter::Parquet(w) => w.write(batch)?,
            ResultWriter::Arrow(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Flushes and closes the output.
    pub fn finish(self) -> DFResult<()> {
        match self {
            ResultWriter::Table(mut out, all) => {
                if !all.is_empty() && all.iter().any(|b| b.num_columns() > 0) {
                    let text = datafusion::arrow::util::pretty::pretty_format_batches(&all)?;
                    writeln!(out, "{text}")?;
                    let rows: usize = all.iter().map(RecordBatch::num_rows).sum();
                    writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
                }
                out.flush()?;
            }
            ResultWriter::Csv(w) => w.into_inner().flush()?,
            ResultWriter::Json(mut w) => {
                w.finish()?;
                w.into_inner().flush()?
            }
            ResultWriter::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner().flush()?
            }
            ResultWriter::Parquet(w) => {
                w.close()?;
            }
            ResultWriter::Arrow(mut w) => {
                w.finish()?;
                w.into_inner()?.flush()?
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        // Pseudo-random values so the encoded size grows with the rows.
        let values = (from..from + rows).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(values))]).unwrap()
    }

    /// Writes `batches` batches of 10 000 rows with a row-group cap and reads the file back.
    fn write_and_read(
        max_row_group_bytes: usize,
        batches: i64,
    ) -> SerializedFileReader<bytes::Bytes> {
        let mut out = Vec::new();
        let schema = batch(0, 0).schema();
        let mut writer = ArrowWriter::try_new(
            &mut out,
            schema,
            Some(parquet_properties(max_row_group_bytes).unwrap()),
        )
        .unwrap();
        for i in 0..batches {
            writer.write(&batch(i * 10_000, 10_000)).unwrap();
        }
        writer.close().unwrap();
        SerializedFileReader::new(bytes::Bytes::from(out)).unwrap()
    }

    #[test]
    fn parquet_output_is_zstd_compressed() {
        let reader = write_and_read(PARQUET_MAX_ROW_GROUP_BYTES, 2);
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 20_000);
        assert!(matches!(
            meta.row_group(0).column(0).compression(),
            Compression::ZSTD(_)
        ));
    }

    #[test]
    fn parquet_row_groups_are_capped_by_bytes_so_memory_stays_bounded() {
        // 400 000 random i64 are about 3 MB encoded: a 256 KiB cap cuts them into many row
        // groups, none much larger than the cap, and no row is lost.
        let cap = 256 << 10;
        let reader = write_and_read(cap, 40);
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 400_000);
        assert!(
            meta.num_row_groups() >= 8,
            "{} row groups",
            meta.num_row_groups()
        );
        for rg in meta.row_groups() {
            assert!(
                rg.compressed_size() <= 2 * cap as i64,
                "a row group of {} bytes",
                rg.compressed_size()
            );
        }
        // Without a byte cap the same rows would be one row group (the row-count cap is ~1 M).
        assert_eq!(
            write_and_read(usize::MAX >> 1, 40)
                .metadata()
                .num_row_groups(),
            1
        );
    }
}
