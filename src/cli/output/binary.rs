//! The binary outputs: Parquet (zstd, row groups capped in bytes so memory stays bounded) and
//! the Arrow IPC file format.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::FileWriter;
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

/// A Parquet writer with the CLI's settings.
pub(super) fn parquet_writer<W: Write + Send>(
    out: W,
    schema: &SchemaRef,
) -> ParquetResult<ArrowWriter<W>> {
    let props = parquet_properties(PARQUET_MAX_ROW_GROUP_BYTES)?;
    ArrowWriter::try_new(out, Arc::clone(schema), Some(props))
}

/// An Arrow IPC file writer. An IPC file holds one dictionary per column for all its batches,
/// while each batch of a query may carry its own, so dictionary columns are written decoded
/// (as their value type).
pub(super) struct IpcWriter<W: Write> {
    writer: FileWriter<W>,
    schema: SchemaRef,
}

impl<W: Write> IpcWriter<W> {
    pub(super) fn try_new(out: W, schema: &SchemaRef) -> Result<Self, ArrowError> {
        let schema = decoded_schema(schema);
        Ok(Self {
            writer: FileWriter::try_new(out, &schema)?,
            schema,
        })
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(column, field)| match column.data_type() {
                DataType::Dictionary(_, _) => cast(column, field.data_type()),
                _ => Ok(Arc::clone(column)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.writer
            .write(&RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    pub(super) fn finish(self) -> Result<W, ArrowError> {
        self.writer.into_inner()
    }
}

fn decoded_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => f.as_ref().clone().with_data_type(*value.clone()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
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

#[cfg(test)]
mod ipc_tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, DictionaryArray};
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn batches_with_different_dictionaries_fit_one_ipc_file() {
        let batch = |values: Vec<&str>| {
            let dict: DictionaryArray<Int32Type> = values.into_iter().collect();
            RecordBatch::try_from_iter([("d", Arc::new(dict) as _)]).unwrap()
        };
        let (a, b) = (batch(vec!["x", "y"]), batch(vec!["z"]));
        // arrow's own file writer refuses the second dictionary.
        let mut plain = FileWriter::try_new(Vec::new(), &a.schema()).unwrap();
        plain.write(&a).unwrap();
        assert!(plain.write(&b).is_err());

        let mut writer = IpcWriter::try_new(Vec::new(), &a.schema()).unwrap();
        writer.write(&a).unwrap();
        writer.write(&b).unwrap();
        let bytes = writer.finish().unwrap();
        let reader =
            datafusion::arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
                .unwrap();
        let values: Vec<String> = reader
            .flat_map(|b| {
                let b = b.unwrap();
                let s = b.column(0).as_string::<i32>();
                (0..s.len())
                    .map(|i| s.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(values, ["x", "y", "z"]);
    }
}
