//! Stream management: `ensure_stream` (lookup by query tags, the consistency checks on an existing
//! stream, creation with the stored downsampler set and the derive descriptors), `get_tags`,
//! the tag updates, `find_streams` and `delete_streams` (in dependency order).

use serde_json::{Map, Value};

use super::datapoint::rfc3339;
use super::derive::DeriveOp;
use super::downsamplers::{DownsamplerSet, TimeDownsampler, ValueDownsampler};
use super::error::StoreError;
use super::granularity::Granularity;
use super::meta::{self, Contribution, DerivedFrom, StreamRow};
use super::tags;
use super::txn::Txn;
use super::value::ValueType;

/// One source of a derived stream: upstream's `derive_from` entry (a stream id, or a dict with
/// `stream`, an optional `name` and an optional `granularity`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeriveSource {
    /// The source stream's id.
    pub stream: String,
    /// Its name for the operator (`counter_derivative` needs `reset`).
    pub name: Option<String>,
    /// The granularity of the source's datapoints to use (default: its highest).
    pub granularity: Option<Granularity>,
}

impl DeriveSource {
    /// The source `stream` at its highest granularity, unnamed.
    pub fn new(stream: impl Into<String>) -> Self {
        DeriveSource {
            stream: stream.into(),
            name: None,
            granularity: None,
        }
    }

    /// Names the source.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Uses the source's datapoints at `granularity`.
    pub fn at(mut self, granularity: Granularity) -> Self {
        self.granularity = Some(granularity);
        self
    }
}

impl From<&str> for DeriveSource {
    fn from(stream: &str) -> Self {
        DeriveSource::new(stream)
    }
}

impl From<String> for DeriveSource {
    fn from(stream: String) -> Self {
        DeriveSource::new(stream)
    }
}

/// The arguments of `ensure_stream`, with upstream's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Tags that identify the stream (a JSON object).
    pub query_tags: Value,
    /// More tags, stored with the query tags.
    pub tags: Value,
    /// Value downsampler names (`count` and dependencies are added; empty = never downsample).
    pub value_downsamplers: Vec<String>,
    /// The granularity appended points are stored at.
    pub highest_granularity: Granularity,
    /// Sources of a derived stream.
    pub derive_from: Option<Vec<DeriveSource>>,
    /// The derive operator name.
    pub derive_op: Option<String>,
    /// Operator arguments (`counter_derivative`: `max_value`).
    pub derive_args: Option<Value>,
    /// `numeric` (default), `nominal` or `graph`.
    pub value_type: Option<String>,
    /// Options of the value type (default for numeric: `{"high_accuracy": false}`).
    pub value_type_options: Option<Value>,
    /// Whether a derived stream is backprocessed from its sources' existing data (default true).
    pub derive_backprocess: bool,
}

impl StreamSpec {
    /// `ensure_stream(query_tags, tags, value_downsamplers, highest_granularity)`.
    pub fn new<S: Into<String>>(
        query_tags: Value,
        tags: Value,
        value_downsamplers: impl IntoIterator<Item = S>,
        highest_granularity: Granularity,
    ) -> Self {
        StreamSpec {
            query_tags,
            tags,
            value_downsamplers: value_downsamplers.into_iter().map(Into::into).collect(),
            highest_granularity,
            derive_from: None,
            derive_op: None,
            derive_args: None,
            value_type: None,
            value_type_options: None,
            derive_backprocess: true,
        }
    }

    /// A derived stream of `op` over `sources`.
    pub fn derive<D: Into<DeriveSource>>(
        mut self,
        sources: impl IntoIterator<Item = D>,
        op: &str,
    ) -> Self {
        self.derive_from = Some(sources.into_iter().map(Into::into).collect());
        self.derive_op = Some(op.to_string());
        self
    }

    /// Operator arguments.
    pub fn derive_args(mut self, args: Value) -> Self {
        self.derive_args = Some(args);
        self
    }

    /// Whether to backprocess the sources' existing data.
    pub fn derive_backprocess(mut self, backprocess: bool) -> Self {
        self.derive_backprocess = backprocess;
        self
    }

    /// The value type.
    pub fn value_type(mut self, value_type: &str) -> Self {
        self.value_type = Some(value_type.to_string());
        self
    }

    /// The value type options.
    pub fn value_type_options(mut self, options: Value) -> Self {
        self.value_type_options = Some(options);
        self
    }
}

/// `downsampled_until`: each coarser granularity's name and time (or null).
fn until_json(row: &StreamRow) -> Value {
    Value::Object(
        row.highest
            .coarser()
            .iter()
            .map(|g| {
                (
                    g.name().to_string(),
                    row.downsampled_until[g.index()].map_or(Value::Null, rfc3339),
                )
            })
            .collect(),
    )
}

/// `get_tags`: the user tags merged with the store's own fields.
pub(crate) fn tags_of(
    txn: &mut Txn<'_>,
    row: &StreamRow,
) -> Result<Map<String, Value>, StoreError> {
    let mut out = row.tags.clone();
    let time = |t: Option<i64>| t.map_or(Value::Null, rfc3339);
    out.insert("stream_id".into(), Value::from(row.id.clone()));
    out.insert(
        "value_downsamplers".into(),
        Value::from(row.downsamplers.names()),
    );
    out.insert(
        "time_downsamplers".into(),
        Value::from(TimeDownsampler::ALL.map(|d| d.name()).to_vec()),
    );
    out.insert(
        "highest_granularity".into(),
        Value::from(row.highest.name()),
    );
    out.insert(
        "pending_backprocess".into(),
        Value::from(row.pending_backprocess),
    );
    out.insert("earliest_datapoint".into(), time(row.earliest));
    out.insert("latest_datapoint".into(), time(row.latest));
    out.insert("downsampled_until".into(), until_json(row));
    out.insert("value_type".into(), Value::from(row.value_type.name()));
    out.insert(
        "value_type_options".into(),
        Value::Object(row.value_type_options.clone()),
    );
    if let Some(derived) = &row.derived_from {
        let mut ids = Vec::new();
        for seq in &derived.sources {
            // Sources removed meanwhile are skipped, as upstream.
            if txn.exists(*seq)? {
                ids.push(Value::from(txn.row(*seq)?.id.clone()));
            }
        }
        let mut d = Map::new();
        d.insert("stream_ids".into(), Value::Array(ids));
        d.insert("op".into(), Value::from(derived.op.name()));
        d.insert("args".into(), Value::Object(derived.args.clone()));
        out.insert("derived_from".into(), Value::Object(d));
    }
    if !row.contributes_to.is_empty() {
        let mut c = Map::new();
        for (seq, contribution) in &row.contributes_to {
            if txn.exists(*seq)? {
                let mut e = Map::new();
                e.insert("op".into(), Value::from(contribution.op.name()));
                e.insert("args".into(), Value::Object(contribution.args.clone()));
                c.insert(txn.row(*seq)?.id.clone(), Value::Object(e));
            }
        }
        out.insert("contributes_to".into(), Value::Object(c));
    }
    Ok(out)
}

/// The streams matching `query` (None = all), in creation order. With `allow_stream_id` a
/// `stream_id` key selects that stream (delete and downsample do this; find does not).
pub(crate) fn matching(
    conn: &rusqlite::Connection,
    query: Option<&Map<String, Value>>,
    allow_stream_id: bool,
) -> Result<Vec<StreamRow>, StoreError> {
    let mut query = query.cloned().unwrap_or_default();
    let id = if allow_stream_id {
        query.remove("stream_id")
    } else {
        None
    };
    Ok(meta::all_streams(conn)?
        .into_iter()
        .filter(|r| {
            id.as_ref()
                .is_none_or(|id| id.as_str() == Some(r.id.as_str()))
        })
        .filter(|r| tags::matches(&r.tags, &query))
        .collect())
}

/// What `ensure_stream` decided: the id, or an error to report after committing (upstream saves
/// the new tags of an existing stream before it raises a consistency error).
pub(crate) type Ensured = Result<String, StoreError>;

/// `ensure_stream`.
pub(crate) fn ensure_stream(
    txn: &mut Txn<'_>,
    spec: &StreamSpec,
    has_raw_data: &dyn Fn(&rusqlite::Connection, &StreamRow) -> Result<bool, StoreError>,
) -> Result<Ensured, StoreError> {
    let query_tags = tags::object(Some(&spec.query_tags), "query_tags")?
        .cloned()
        .unwrap_or_default();
    let extra_tags = tags::object(Some(&spec.tags), "tags")?
        .cloned()
        .unwrap_or_default();
    tags::check_query_tags(&query_tags)?;
    tags::check_tags(&extra_tags)?;
    for name in &spec.value_downsamplers {
        ValueDownsampler::parse(name)?;
    }
    let derive = match &spec.derive_from {
        None => None,
        Some(sources) => {
            let Some(op) = &spec.derive_op else {
                return Err(StoreError::InvalidArgument(
                    "a derived stream needs derive_op (sum, derivative, counter_reset or counter_derivative)".into(),
                ));
            };
            let op = DeriveOp::parse(op)?;
            if sources.is_empty() {
                return Err(StoreError::InvalidOperatorArguments(format!(
                    "derive_from of a '{}' stream lists no source streams; give at least one",
                    op.name()
                )));
            }
            let args = tags::object(spec.derive_args.as_ref(), "derive_args")?
                .cloned()
                .unwrap_or_default();
            Some((sources, op, args))
        }
    };
    let value_type = ValueType::parse(spec.value_type.as_deref().unwrap_or("numeric"))?;
    let options = match &spec.value_type_options {
        None | Some(Value::Null) => {
            let mut m = Map::new();
            if value_type == ValueType::Numeric {
                m.insert("high_accuracy".into(), Value::Bool(false));
            }
            m
        }
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err(StoreError::InvalidArgument(format!(
                "value_type_options must be a JSON object; got {}",
                tags::json_kind(other)
            )))
        }
    };
    if options
        .get("high_accuracy")
        .is_some_and(|v| v.as_bool() == Some(true))
    {
        return Err(StoreError::UnsupportedValueType(
            "high_accuracy is not supported: the store computes with 64-bit floats; drop the option or set it to false".into(),
        ));
    }

    let mut combined = query_tags.clone();
    combined.extend(extra_tags);
    let found = matching(txn.conn, Some(&query_tags), false)?;
    if found.len() > 1 {
        return Err(StoreError::MultipleStreamsReturned(format!(
            "query tags {} match {} streams; add tags that single one out",
            Value::Object(query_tags),
            found.len()
        )));
    }
    if let Some(existing) = found.into_iter().next() {
        let seq = existing.seq;
        if existing.tags != combined {
            txn.row_mut(seq)?.tags = combined;
        }
        return Ok(check_existing(
            txn,
            &existing,
            value_type,
            &options,
            derive.as_ref().map(|(s, op, _)| (*s, *op)),
        ));
    }

    let downsamplers = DownsamplerSet::stored(&spec.value_downsamplers, value_type)?;
    let highest = spec.highest_granularity;
    let mut row = StreamRow {
        seq: 0,
        id: uuid::Uuid::new_v4().to_string(),
        tags: combined,
        value_type,
        value_type_options: options,
        downsamplers,
        highest,
        derived_from: None,
        derive_state: Value::Null,
        contributes_to: Default::default(),
        pending_backprocess: false,
        earliest: None,
        latest: None,
        downsampled_until: [None; 7],
    };
    let mut resolved: Vec<(i64, Option<String>, Granularity)> = Vec::new();
    if let Some((sources, op, args)) = &derive {
        for source in sources.iter() {
            let src_seq = txn.seq_of(&source.stream).map_err(|_| {
                StoreError::StreamNotFound(format!(
                    "derive source stream '{}' not found; create it first",
                    source.stream
                ))
            })?;
            let src = txn.row(src_seq)?.clone();
            let g = source.granularity.unwrap_or(src.highest);
            if g < src.highest {
                return Err(StoreError::IncompatibleGranularities(format!(
                    "derive source stream '{}' has highest granularity {}; it has no {g} datapoints to give",
                    src.id, src.highest
                )));
            }
            if spec.derive_backprocess && has_raw_data(txn.conn, &src)? {
                row.pending_backprocess = true;
            }
            resolved.push((src_seq, source.name.clone(), g));
        }
        op.check_value_type(value_type)?;
        let mut rows = Vec::new();
        for (seq, _, _) in &resolved {
            rows.push(txn.row(*seq)?.clone());
        }
        let checked: Vec<(&StreamRow, Option<&str>, Granularity)> = rows
            .iter()
            .zip(&resolved)
            .map(|(r, (_, name, g))| (r, name.as_deref(), *g))
            .collect();
        op.check_sources(&checked, highest, args)?;
        row.derived_from = Some(DerivedFrom {
            sources: resolved.iter().map(|(s, _, _)| *s).collect(),
            op: *op,
            args: args.clone(),
        });
    }
    let seq = row.insert(txn.conn)?;
    if let Some((_, op, args)) = &derive {
        for (src, name, g) in resolved {
            txn.row_mut(src)?.contributes_to.insert(
                seq,
                Contribution {
                    name,
                    granularity: g.index(),
                    op: *op,
                    args: args.clone(),
                },
            );
        }
    }
    Ok(Ok(row.id))
}

fn check_existing(
    txn: &mut Txn<'_>,
    existing: &StreamRow,
    value_type: ValueType,
    options: &Map<String, Value>,
    derive: Option<(&Vec<DeriveSource>, DeriveOp)>,
) -> Ensured {
    let id = &existing.id;
    let inconsistent = |what: String| {
        Err(StoreError::InconsistentStreamConfiguration(format!(
            "stream '{id}': {what}"
        )))
    };
    if existing.value_type != value_type {
        return inconsistent(format!(
            "its value type is {}, not {value_type}; a stream's value type cannot change",
            existing.value_type
        ));
    }
    if &existing.value_type_options != options {
        return inconsistent(format!(
            "its value type options are {}, not {}; they cannot change",
            Value::Object(existing.value_type_options.clone()),
            Value::Object(options.clone())
        ));
    }
    match (&existing.derived_from, derive) {
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            return inconsistent(
                "a derived stream cannot become a plain one or the other way round".into(),
            )
        }
        (Some(d), Some((sources, op))) => {
            if d.op != op {
                return inconsistent(format!(
                    "its derive operator is '{}', not '{}'; it cannot change",
                    d.op.name(),
                    op.name()
                ));
            }
            let mut have: Vec<String> = Vec::new();
            for seq in &d.sources {
                match txn.row(*seq) {
                    Ok(r) => have.push(r.id.clone()),
                    Err(e) => return Err(e),
                }
            }
            have.sort();
            have.dedup();
            let mut want: Vec<String> = sources.iter().map(|s| s.stream.clone()).collect();
            want.sort();
            want.dedup();
            if have != want {
                return inconsistent(
                    "its source streams differ; a derived stream's sources cannot change".into(),
                );
            }
        }
    }
    Ok(id.clone())
}

/// The user tags of `id`, updated by `f`.
pub(crate) fn edit_tags(
    txn: &mut Txn<'_>,
    id: &str,
    f: impl FnOnce(&mut Map<String, Value>),
) -> Result<(), StoreError> {
    let seq = txn.seq_of(id)?;
    f(&mut txn.row_mut(seq)?.tags);
    Ok(())
}

/// Removes stream `seq` (whose dependents are gone) and unlinks it from its sources.
pub(crate) fn remove(txn: &mut Txn<'_>, seq: i64) -> Result<(), StoreError> {
    if let Some(derived) = txn.row(seq)?.derived_from.clone() {
        for src in derived.sources {
            if txn.exists(src)? {
                txn.row_mut(src)?.contributes_to.remove(&seq);
            }
        }
    }
    meta::delete_stream(txn.conn, seq)?;
    txn.forget(seq);
    Ok(())
}

/// `delete_streams(query)`: deletes matching streams in dependency order; a pass that cannot
/// delete anything while matches remain is `OutstandingDependenciesError`. Returns the deleted
/// streams' `seq`s.
pub(crate) fn delete_matching(
    txn: &mut Txn<'_>,
    query: &Map<String, Value>,
) -> Result<Vec<i64>, StoreError> {
    let mut deleted = Vec::new();
    loop {
        txn.flush()?;
        let found = matching(txn.conn, Some(query), true)?;
        if found.is_empty() {
            return Ok(deleted);
        }
        let mut removed = false;
        for row in &found {
            if !txn.row(row.seq)?.contributes_to.is_empty() {
                continue;
            }
            remove(txn, row.seq)?;
            deleted.push(row.seq);
            removed = true;
        }
        if !removed {
            return Err(StoreError::OutstandingDependenciesError(format!(
                "streams {} have derived streams depending on them; delete those first (or delete them together)",
                found.iter().map(|r| format!("'{}'", r.id)).collect::<Vec<_>>().join(", ")
            )));
        }
    }
}
