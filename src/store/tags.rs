//! Stream tags: the reserved names, the `__` rule, query matching (a nested dict is a recursive
//! subset; a scalar matches an equal value or a list holding it) and the deep merge / unset of
//! `update_tags` and `remove_tag`.

use serde_json::{Map, Value};

use super::error::StoreError;

/// Tag names the store reports itself in `get_tags` (upstream's `RESERVED_TAGS`).
pub const RESERVED_TAGS: &[&str] = &[
    "stream_id",
    "value_downsamplers",
    "time_downsamplers",
    "highest_granularity",
    "derived_from",
    "contributes_to",
    "pending_backprocess",
    "latest_datapoint",
    "earliest_datapoint",
    "downsampled_until",
    "value_type",
    "value_type_options",
];

/// A JSON object argument, or `None` for an empty one; anything else is an error naming `what`.
pub(crate) fn object<'a>(
    value: Option<&'a Value>,
    what: &str,
) -> Result<Option<&'a Map<String, Value>>, StoreError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(other) => Err(StoreError::InvalidArgument(format!(
            "{what} must be a JSON object (a dict of tags); got {}",
            json_kind(other)
        ))),
    }
}

/// A short name for a JSON value's type, for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Any key containing `__`, at any depth, is reserved (upstream `_check_query_tags`).
pub(crate) fn check_query_tags(tags: &Map<String, Value>) -> Result<(), StoreError> {
    for (key, value) in tags {
        if key.contains("__") {
            return Err(StoreError::ReservedTagNameError(format!(
                "tag name '{key}' contains '__', which is reserved; nest the tags in objects instead"
            )));
        }
        if let Value::Object(inner) = value {
            check_query_tags(inner)?;
        }
    }
    Ok(())
}

/// Tags to store: no reserved top-level name, no `__` anywhere (upstream `_check_tags`).
pub(crate) fn check_tags(tags: &Map<String, Value>) -> Result<(), StoreError> {
    if let Some(key) = tags.keys().find(|k| RESERVED_TAGS.contains(&k.as_str())) {
        return Err(StoreError::ReservedTagNameError(format!(
            "tag name '{key}' is reserved (the store reports it in get_tags); rename the tag"
        )));
    }
    check_query_tags(tags)
}

/// Whether stored `tags` match `query`: every query leaf must be present and equal; a nested
/// object matches as a recursive subset; a scalar also matches a stored list that holds it, and
/// an object query matches a stored list when one of its elements matches.
pub(crate) fn matches(tags: &Map<String, Value>, query: &Map<String, Value>) -> bool {
    query.iter().all(|(k, q)| match tags.get(k) {
        Some(stored) => value_matches(stored, q),
        // As MongoDB: null matches a missing tag, and an empty object asks for nothing.
        None => q.is_null() || matches!(q, Value::Object(m) if m.is_empty()),
    })
}

fn value_matches(stored: &Value, query: &Value) -> bool {
    match (stored, query) {
        (Value::Object(s), Value::Object(q)) => matches(s, q),
        (_, Value::Object(q)) if q.is_empty() => true,
        (Value::Array(items), q) => equal(stored, q) || items.iter().any(|i| value_matches(i, q)),
        (s, q) => equal(s, q),
    }
}

/// JSON equality where numbers compare by value (1 == 1.0), as MongoDB compares them.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// The leaf paths of `tags`: nested objects are descended, everything else is a leaf; an empty
/// object has no leaves (so it changes nothing, as upstream's flattened `$set`/`$unset`).
fn leaves<'a>(
    tags: &'a Map<String, Value>,
    prefix: &mut Vec<&'a str>,
    out: &mut Vec<(Vec<&'a str>, &'a Value)>,
) {
    for (k, v) in tags {
        prefix.push(k);
        match v {
            Value::Object(inner) => leaves(inner, prefix, out),
            leaf => out.push((prefix.clone(), leaf)),
        }
        prefix.pop();
    }
}

/// `update_tags`: each leaf path of `update` is set, so `{'a': {'b': 1}}` keeps `a.c`.
pub(crate) fn deep_merge(tags: &mut Map<String, Value>, update: &Map<String, Value>) {
    let mut paths = Vec::new();
    leaves(update, &mut Vec::new(), &mut paths);
    for (path, leaf) in paths {
        set_path(tags, &path, leaf);
    }
}

fn set_path(node: &mut Map<String, Value>, path: &[&str], leaf: &Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        node.insert((*first).to_string(), leaf.clone());
        return;
    }
    let entry = node
        .entry((*first).to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        // A scalar on the way to a deeper leaf becomes an object holding it.
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(next) = entry {
        set_path(next, rest, leaf);
    }
}

/// `remove_tag`: each leaf path of `tag` is removed (values ignored).
pub(crate) fn remove_paths(tags: &mut Map<String, Value>, tag: &Map<String, Value>) {
    let mut paths = Vec::new();
    leaves(tag, &mut Vec::new(), &mut paths);
    for (path, _) in paths {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut node = Some(&mut *tags);
        for p in parents {
            node = node
                .and_then(|n| n.get_mut(*p))
                .and_then(Value::as_object_mut);
        }
        if let Some(n) = node {
            n.remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn nested_subset_and_list_membership() {
        let tags = obj(json!({
            "title": "Stream 1",
            "visualization": {"type": "line", "value_downsamplers": ["mean", "min", "max"], "minimum": 0},
            "stream_number": 9
        }));
        assert!(matches(&tags, &obj(json!({"title": "Stream 1"}))));
        assert!(matches(
            &tags,
            &obj(json!({"visualization": {"type": "line"}}))
        ));
        assert!(matches(
            &tags,
            &obj(json!({"visualization": {"value_downsamplers": "mean"}}))
        ));
        assert!(matches(
            &tags,
            &obj(json!({"visualization": {"minimum": 0.0}}))
        ));
        assert!(!matches(
            &tags,
            &obj(json!({"visualization": {"type": "bar"}}))
        ));
        assert!(!matches(&tags, &obj(json!({"stream_number": 1}))));
        assert!(!matches(&tags, &obj(json!({"stream_id": "x"}))));
        assert!(matches(&tags, &obj(json!({}))));
        assert!(matches(&tags, &obj(json!({"missing": null}))));
        assert!(!matches(&tags, &obj(json!({"title": null}))));
    }

    #[test]
    fn reserved_names() {
        assert!(matches!(
            check_query_tags(&obj(json!({"a": {"b__c": 1}}))),
            Err(StoreError::ReservedTagNameError(_))
        ));
        assert!(check_query_tags(&obj(json!({"stream_id": 1}))).is_ok());
        assert!(matches!(
            check_tags(&obj(json!({"stream_id": 1}))),
            Err(StoreError::ReservedTagNameError(_))
        ));
    }

    #[test]
    fn merge_and_remove_leaf_paths() {
        let mut tags = obj(json!({"a": {"b": 1, "c": 2}, "x": 5}));
        deep_merge(
            &mut tags,
            &obj(json!({"a": {"b": 10}, "x": {"y": 1}, "n": {}})),
        );
        assert_eq!(
            Value::Object(tags.clone()),
            json!({"a": {"b": 10, "c": 2}, "x": {"y": 1}})
        );
        remove_paths(
            &mut tags,
            &obj(json!({"a": {"c": ""}, "missing": {"deep": 1}})),
        );
        assert_eq!(Value::Object(tags), json!({"a": {"b": 10}, "x": {"y": 1}}));
    }
}
