//! Reads a REST response body in one pass with serde seeds: descends only along the pointers
//! the table needs (the records array, the next-token / total / has-more pointers), skips
//! everything else unparsed, and hands each record's wanted values to a callback as [`Cell`]s.
//! Top-level record fields become cells directly; only a field holding a nested column's value
//! is read into a small `serde_json::Value` to resolve the pointer inside it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::columns::{Cell, Pointer};

/// What to read from a body.
#[derive(Debug, Clone)]
pub struct WalkPlan {
    /// Where the records array is (empty: the body is the array).
    pub records: Pointer,
    /// Values wanted outside the records (next token, total, has_more), by pointer.
    pub metas: Vec<Pointer>,
    /// Per record, the pointers of the wanted values (columns, then any extra such as the
    /// last-record token).
    pub fields: Vec<Pointer>,
}

/// What a walk found outside the records.
#[derive(Debug, Default)]
pub struct Walked {
    /// The value at each meta pointer (absent when the body has none).
    pub metas: HashMap<Pointer, serde_json::Value>,
    /// Records seen.
    pub records: usize,
    /// Whether the records pointer was found.
    pub found_records: bool,
}

/// Walks `body`; `on_record` gets each record's cells (one per `plan.fields` entry) and may
/// stop the walk with an error message.
pub fn walk(
    body: &[u8],
    plan: &WalkPlan,
    on_record: &mut dyn FnMut(Vec<Cell>) -> Result<(), String>,
) -> Result<Walked, (String, bool)> {
    // Per record: which fields are read straight from a top-level key, which from a subtree.
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in plan.fields.iter().enumerate() {
        if let Some(first) = p.0.first() {
            by_key.entry(first.as_str()).or_default().push(i);
        }
    }
    // Pointer texts are made once per body, not once per record.
    let whole = plan.fields.iter().map(Pointer::text).collect();
    let inner = plan
        .fields
        .iter()
        .map(|p| Pointer(p.0.iter().skip(1).cloned().collect()).text())
        .collect();
    let mut state = State {
        plan,
        by_key,
        whole,
        inner,
        walked: Walked::default(),
        on_record,
        callback_error: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = NodeSeed {
        state: &mut state,
        path: Vec::new(),
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(message) = state.callback_error.take() {
        return Err((message, false));
    }
    result.map_err(|e| {
        let head: String = String::from_utf8_lossy(&body[..body.len().min(120)]).into();
        (format!("{e} (body starts with {head:?})"), e.is_eof())
    })?;
    Ok(state.walked)
}

struct State<'p, 'f> {
    plan: &'p WalkPlan,
    by_key: HashMap<&'p str, Vec<usize>>,
    /// Each field's pointer as text, and without its first segment (inside that key's value).
    whole: Vec<String>,
    inner: Vec<String>,
    walked: Walked,
    on_record: &'f mut dyn FnMut(Vec<Cell>) -> Result<(), String>,
    callback_error: Option<String>,
}

impl State<'_, '_> {
    /// Whether anything wanted lies at or below `path`.
    fn wanted_below(&self, path: &[String]) -> bool {
        self.plan.records.starts_with(path) || self.plan.metas.iter().any(|m| m.starts_with(path))
    }

    fn is_meta(&self, path: &[String]) -> bool {
        self.plan.metas.iter().any(|m| m.0 == path)
    }
}

/// A node on the way to the wanted pointers.
struct NodeSeed<'s, 'p, 'f> {
    state: &'s mut State<'p, 'f>,
    path: Vec<String>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "a JSON object or array at '{}'",
            Pointer(self.path.clone()).text()
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let NodeSeed { state, path: base } = self;
        if base == state.plan.records.0 {
            return Err(serde::de::Error::custom(format!(
                "expected an array of records at '{}', found an object",
                state.plan.records.text()
            )));
        }
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let mut path = base.clone();
            path.push(key.into_owned());
            if state.is_meta(&path) {
                let value: serde_json::Value = map.next_value()?;
                state.walked.metas.insert(Pointer(path), value);
            } else if state.wanted_below(&path) {
                map.next_value_seed(NodeSeed {
                    state: &mut *state,
                    path,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.path == self.state.plan.records.0 {
            self.state.walked.found_records = true;
            while seq
                .next_element_seed(RecordSeed {
                    state: &mut *self.state,
                })?
                .is_some()
            {
                self.state.walked.records += 1;
            }
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            let mut path = self.path.clone();
            path.push(index.to_string());
            let done = if self.state.is_meta(&path) {
                match seq.next_element::<serde_json::Value>()? {
                    Some(v) => {
                        self.state.walked.metas.insert(Pointer(path), v);
                        false
                    }
                    None => true,
                }
            } else if self.state.wanted_below(&path) {
                seq.next_element_seed(NodeSeed {
                    state: &mut *self.state,
                    path,
                })?
                .is_none()
            } else {
                seq.next_element::<IgnoredAny>()?.is_none()
            };
            if done {
                return Ok(());
            }
            index += 1;
        }
    }

    // Scalars and nulls on the way: nothing wanted here. A null records array is empty.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        if self.path == self.state.plan.records.0 {
            self.state.walked.found_records = true;
        }
        Ok(())
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// One record: its wanted values as cells, then the callback.
struct RecordSeed<'s, 'p, 'f> {
    state: &'s mut State<'p, 'f>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let fields = &self.state.plan.fields;
        if fields.iter().any(|p| p.0.is_empty()) {
            // A column takes the whole record: read it once as a value.
            let record = serde_json::Value::deserialize(d)?;
            let cells = self
                .state
                .whole
                .iter()
                .map(|p| record.pointer(p).map_or(Cell::Null, Cell::from_value))
                .collect();
            return self.state.deliver(cells);
        }
        d.deserialize_map(self)
    }
}

impl State<'_, '_> {
    fn deliver<E: serde::de::Error>(&mut self, cells: Vec<Cell>) -> Result<(), E> {
        (self.on_record)(cells).map_err(|message| {
            self.callback_error = Some(message.clone());
            E::custom(message)
        })
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        let fields = &state.plan.fields;
        let mut cells = vec![Cell::Null; fields.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let Some(indices) = state.by_key.get(key.as_ref()) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if indices.iter().all(|&i| fields[i].0.len() == 1) {
                let cell = map.next_value_seed(CellSeed)?;
                for &i in indices {
                    cells[i] = cell.clone();
                }
            } else {
                let value: serde_json::Value = map.next_value()?;
                for &i in indices {
                    cells[i] = value
                        .pointer(&state.inner[i])
                        .map_or(Cell::Null, Cell::from_value);
                }
            }
        }
        state.deliver(cells)
    }
}

/// A record field read straight into a [`Cell`].
struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell, E> {
        Ok(i64::try_from(v).map_or(Cell::UInt(v), Cell::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cell, E> {
        Ok(Cell::Str(v.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cell, E> {
        Ok(Cell::Str(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
        let value =
            serde_json::Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(Cell::Json(value))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
        let value =
            serde_json::Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Cell::Json(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(records: &str, metas: &[&str], fields: &[&str]) -> WalkPlan {
        WalkPlan {
            records: Pointer::parse(records).unwrap(),
            metas: metas.iter().map(|m| Pointer::parse(m).unwrap()).collect(),
            fields: fields.iter().map(|f| Pointer::parse(f).unwrap()).collect(),
        }
    }

    fn run(body: &str, plan: &WalkPlan) -> (Walked, Vec<Vec<Cell>>) {
        let mut rows = Vec::new();
        let walked = walk(body.as_bytes(), plan, &mut |cells| {
            rows.push(cells);
            Ok(())
        })
        .unwrap();
        (walked, rows)
    }

    #[test]
    fn reads_records_and_metas_and_skips_the_rest() {
        let p = plan(
            "/results/items",
            &["/meta/next", "/total"],
            &["/id", "/owner/login", "/tags", "/missing"],
        );
        let body = r#"{"noise": {"deep": [1, {"x": 2}]}, "total": 7,
            "results": {"items": [
                {"id": 1, "owner": {"login": "u1", "id": 9}, "tags": ["a"], "skip": {"k": 1}},
                {"tags": null, "id": 2.5, "owner": null}
            ]},
            "meta": {"next": "c2", "other": 1}}"#;
        let (walked, rows) = run(body, &p);
        assert_eq!(walked.records, 2);
        assert!(walked.found_records);
        assert_eq!(walked.metas[&Pointer::parse("/meta/next").unwrap()], "c2");
        assert_eq!(walked.metas[&Pointer::parse("/total").unwrap()], 7);
        assert_eq!(
            rows[0],
            vec![
                Cell::Int(1),
                Cell::Str("u1".into()),
                Cell::Json(serde_json::json!(["a"])),
                Cell::Null
            ]
        );
        assert_eq!(
            rows[1],
            vec![Cell::Float(2.5), Cell::Null, Cell::Null, Cell::Null]
        );
    }

    #[test]
    fn a_top_level_array_and_whole_records() {
        let p = plan("", &[], &["", "/id"]);
        let (walked, rows) = run(r#"[{"id": 1}, {"id": 2}]"#, &p);
        assert_eq!(walked.records, 2);
        assert_eq!(rows[1][0], Cell::Json(serde_json::json!({"id": 2})));
        assert_eq!(rows[1][1], Cell::Int(2));
    }

    #[test]
    fn errors_name_the_problem() {
        let p = plan("/data", &[], &["/id"]);
        let err = walk(br#"{"data": {"id": 1}}"#, &p, &mut |_| Ok(())).unwrap_err();
        assert!(
            err.0.contains("expected an array of records at '/data'"),
            "{err:?}"
        );
        let err = walk(br#"{"data": [1]}"#, &p, &mut |_| Ok(())).unwrap_err();
        assert!(err.0.contains("record object"), "{err:?}");
        let err = walk(br#"{"data": [{"id": 1}, {"id"#, &p, &mut |_| Ok(())).unwrap_err();
        assert!(err.1, "truncated: {err:?}");
        let err = walk(br#"{"data": [{"id": 1}]}"#, &p, &mut |_| {
            Err("bad row".into())
        })
        .unwrap_err();
        assert_eq!(err.0, "bad row");
        // No records array at all is reported (the adapter makes it an error); null is empty.
        let (walked, _) = run(r#"{"other": 1}"#, &p);
        assert!(!walked.found_records);
        assert_eq!(walked.records, 0);
        let (walked, _) = run(r#"{"data": null}"#, &p);
        assert!(walked.found_records);
        assert_eq!(walked.records, 0);
    }
}
