//! Table configuration shared by every vendor: option values as users write them
//! ([`values`]), the fetch knobs every table has ([`CommonConfigKey`], [`FetchSettings`]), the
//! time-window knobs of every time-window table ([`WindowConfigKey`], [`WindowSettings`]), and
//! the documented-key type the registry and the README's option tables are checked against.
//!
//! Vendors define their own `#[non_exhaustive]` key enums (`DatadogConfigKey`, `RestConfigKey`)
//! in the style of object_store's `AmazonS3ConfigKey`: `FromStr` with aliases, `AsRef<str>`,
//! and a doc line per key; they embed the shared enums here rather than repeating them.

mod common;
mod session;
pub mod values;
pub mod window;

pub use common::{CommonConfigKey, FetchSettings};
pub use session::DdstreamOptions;
pub use window::{WindowConfigKey, WindowSettings};

/// An option's value as given: text (SQL `OPTIONS`, table function arguments, JSON and TOML
/// scalars) or a structured JSON value (a JSON config's objects and lists, such as `"queries"`,
/// `"params"` or `"columns"`).
#[derive(Clone)]
pub enum OptionValue {
    /// A scalar, as text.
    Text(String),
    /// A JSON object or list.
    Json(serde_json::Value),
}

// Values may be keys: Debug never shows them.
impl std::fmt::Debug for OptionValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Text(_) => f.write_str("Text(..)"),
            OptionValue::Json(_) => f.write_str("Json(..)"),
        }
    }
}

impl OptionValue {
    /// The value as text: JSON strings, numbers and booleans are accepted; objects, lists and
    /// null are an error naming `key` (never the value, which may be a secret).
    pub fn into_text(self, key: &str) -> crate::Result<String> {
        match self {
            OptionValue::Text(t) => Ok(t),
            OptionValue::Json(v) => values::json_scalar_text(key, v),
        }
    }
}

impl From<&str> for OptionValue {
    fn from(text: &str) -> Self {
        OptionValue::Text(text.to_string())
    }
}

impl From<String> for OptionValue {
    fn from(text: String) -> Self {
        OptionValue::Text(text)
    }
}

/// Options in the order they apply (later ones win): a JSON config's entries, SQL `OPTIONS`,
/// or session defaults followed by a table's own.
pub type Options = Vec<(String, OptionValue)>;

/// The entries of a JSON object of options, sorted by key (so a config means the same whatever
/// its order); an error (with `example`) when the text is not a JSON object.
pub fn options_from_json(json: &str, example: &str) -> crate::Result<Options> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| {
            crate::Error::config(format!(
                "the table config is not a JSON object of options ({e}); expected e.g. {example}"
            ))
        })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, OptionValue::Json(v)))
        .collect())
}

/// One documented option: its name as users write it (`query.<name>` for a family) and what
/// it means. The README's option tables are checked against these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// The option name.
    pub name: &'static str,
    /// One line on what it does and its default.
    pub doc: &'static str,
}

/// The key as written, lower-cased, without the `format.` prefix DataFusion adds to
/// `CREATE EXTERNAL TABLE` options.
pub(crate) fn normalized_key(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    match lower.strip_prefix("format.") {
        Some(rest) => rest.to_string(),
        None => lower,
    }
}

/// The part of `raw` after `prefix` (matched case-insensitively, after an optional
/// `format.`), keeping its case: `params.X-Api-Key` keeps `X-Api-Key`.
pub(crate) fn suffix_after<'a>(raw: &'a str, prefix: &str) -> Option<&'a str> {
    let trimmed = raw.trim();
    let body = match trimmed.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("format.") => &trimmed[7..],
        _ => trimmed,
    };
    let head = body.get(..prefix.len())?;
    (head.eq_ignore_ascii_case(prefix) && body.len() > prefix.len()).then(|| &body[prefix.len()..])
}

/// Comma-separated option names, for "accepted options" errors.
pub(crate) fn names(docs: &[KeyDoc]) -> String {
    docs.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalized_and_suffixes_keep_their_case() {
        assert_eq!(normalized_key(" FORMAT.Max_Range "), "max_range");
        assert_eq!(
            suffix_after("format.params.X-Key", "params."),
            Some("X-Key")
        );
        assert_eq!(
            suffix_after("Headers.Authorization", "headers."),
            Some("Authorization")
        );
        assert_eq!(suffix_after("params.", "params."), None);
        assert_eq!(suffix_after("query", "query."), None);
    }

    #[test]
    fn json_options_come_sorted_and_hide_values_in_debug() {
        let o = options_from_json(r#"{"b": 1, "a": {"x": "y"}, "c": "secret"}"#, "{}").unwrap();
        let keys: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert!(!format!("{o:?}").contains("secret"));
        let err = options_from_json("[1]", "{\"query\": \"m{*}\"}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("JSON object") && err.contains("m{*}"), "{err}");
    }
}
