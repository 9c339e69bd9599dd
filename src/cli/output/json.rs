//! JSON encoding shared by the JSON, NDJSON and CSV outputs: arrow-json's encoders with
//! explicit nulls, plus Maps whose keys are not strings (as `frequencies()` returns), which
//! arrow-json refuses, written as JSON objects with the keys as text: `{"1.5": 2, "2.5": 1}`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, MapArray, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{
    make_encoder, Encoder, EncoderFactory, EncoderOptions, NullableEncoder,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// The options every JSON encoding here uses: nulls written as `null` (not dropped keys) and
/// Maps with non-string keys as objects.
pub(super) fn encoder_options() -> EncoderOptions {
    EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(StringKeyedMaps))
}

/// The arrow-json writer builder with [`encoder_options`].
pub(super) fn writer_builder() -> datafusion::arrow::json::WriterBuilder {
    datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(StringKeyedMaps))
}

/// Encodes Maps whose keys are not strings; arrow-json handles the rest.
#[derive(Debug)]
struct StringKeyedMaps;

impl EncoderFactory for StringKeyedMaps {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let DataType::Map(entries, _) = array.data_type() else {
            return Ok(None);
        };
        let DataType::Struct(kv) = entries.data_type() else {
            return Ok(None);
        };
        if kv.len() != 2
            || matches!(
                kv[0].data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        {
            return Ok(None);
        }
        let Some(map) = array.as_any().downcast_ref::<MapArray>() else {
            return Ok(None);
        };
        let keys = ArrayFormatter::try_new(map.keys().as_ref(), &KEY_FORMAT)?;
        let values = make_encoder(&kv[1], map.values().as_ref(), options)?;
        let encoder = MapWithTextKeys {
            offsets: map.value_offsets(),
            keys,
            values,
            explicit_nulls: options.explicit_nulls(),
        };
        Ok(Some(NullableEncoder::new(
            Box::new(encoder),
            map.nulls().cloned(),
        )))
    }
}

/// Keys as arrow displays them (`1.5`, `2026-01-01T00:00:00Z`, `true`).
const KEY_FORMAT: FormatOptions<'static> = FormatOptions::new();

struct MapWithTextKeys<'a> {
    offsets: &'a [i32],
    keys: ArrayFormatter<'a>,
    values: NullableEncoder<'a>,
    explicit_nulls: bool,
}

impl Encoder for MapWithTextKeys<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let (start, end) = (self.offsets[idx] as usize, self.offsets[idx + 1] as usize);
        out.push(b'{');
        let mut first = true;
        for entry in start..end {
            let null = self.values.is_null(entry);
            if null && !self.explicit_nulls {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            // serde_json escapes the key; formatting into a String cannot fail.
            let key = self.keys.value(entry).to_string();
            let _ = serde_json::to_writer(&mut *out, &key);
            out.push(b':');
            if null {
                out.extend_from_slice(b"null");
            } else {
                self.values.encode(entry, out);
            }
        }
        out.push(b'}');
    }
}

/// `batch` with every nested column (List, Struct, Map, ...) replaced by its values as JSON
/// text, for CSV, which holds only flat values.
pub(super) fn nested_as_json_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = encoder_options();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            if field.data_type().is_nested() {
                json_text(field, column, &options)
            } else {
                Ok(Arc::clone(column))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(flat_schema(&schema), columns)
}

/// The schema [`nested_as_json_text`] produces.
pub(super) fn flat_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_nested() {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn json_text(
    field: &FieldRef,
    column: &ArrayRef,
    options: &EncoderOptions,
) -> Result<ArrayRef, ArrowError> {
    let mut encoder = make_encoder(field, column.as_ref(), options)?;
    let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
    let mut buf = Vec::new();
    for row in 0..column.len() {
        if encoder.is_null(row) {
            text.append_null();
        } else {
            buf.clear();
            encoder.encode(row, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
    }
    Ok(Arc::new(text.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Builder, Int64Builder, MapBuilder, StringArray};

    use super::*;

    /// `{1.5: 2, 2.5: null}` and a null map.
    fn float_keyed_map() -> RecordBatch {
        let mut b = MapBuilder::new(None, Float64Builder::new(), Int64Builder::new());
        b.keys().append_value(1.5);
        b.values().append_value(2);
        b.keys().append_value(2.5);
        b.values().append_null();
        b.append(true).unwrap();
        b.append(false).unwrap();
        let map: ArrayRef = Arc::new(b.finish());
        RecordBatch::try_from_iter([("f", map)]).unwrap()
    }

    #[test]
    fn maps_with_number_keys_are_objects_with_text_keys() {
        let mut out = Vec::new();
        let mut w =
            writer_builder().build::<_, datafusion::arrow::json::writer::LineDelimited>(&mut out);
        w.write(&float_keyed_map()).unwrap();
        w.finish().unwrap();
        drop(w);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"f\":{\"1.5\":2,\"2.5\":null}}\n{\"f\":null}\n"
        );
    }

    #[test]
    fn nested_columns_become_json_text_for_csv() {
        let batch = float_keyed_map();
        let flat = nested_as_json_text(&batch).unwrap();
        assert_eq!(flat.schema().field(0).data_type(), &DataType::Utf8);
        let text = flat
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(text.value(0), r#"{"1.5":2,"2.5":null}"#);
        assert!(text.is_null(1));
        assert_eq!(flat_schema(&batch.schema()), flat.schema());
    }
}
