//! How the CLI words an error: one line, one sentence where it can, without DataFusion's
//! wrapper prefixes (repeated when errors nest), Rust `Debug` forms such as
//! `ParserError("...")`, or "please file a bug report" tails; with a hint where the cause is
//! common (a missing table, an unknown `STORED AS` name, a window function without `OVER`);
//! and never an option's value echoed back by the SQL parser (it may be an API key).

use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::sql::sqlparser::parser::ParserError;

/// DataFusion's `Display` prefixes, which nest ("Error during planning: Execution error: ...").
const PREFIXES: [&str; 11] = [
    "Error during planning: ",
    "Execution error: ",
    "Schema error: ",
    "SQL error: ",
    "Arrow error: ",
    "External error: ",
    "Internal error: ",
    "Invalid or Unsupported Configuration: ",
    "Optimizer rule failed: ",
    "This feature is not implemented: ",
    "Object Store error: ",
];

/// DataFusion's request to report its own bugs, which reads wrong after our messages.
const BUG_TAIL: &str = "This issue was likely caused by a bug in DataFusion's code.";

/// An error as one line, without DataFusion's wrapper prefixes.
pub fn one_line(error: &DataFusionError) -> String {
    let text = match error.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::SQL(e, _) => syntax_message(e),
        root => root.to_string(),
    };
    tidy(&text)
}

/// Joins lines and removes every wrapper prefix and the bug-report tail.
fn tidy(text: &str) -> String {
    let mut text = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(i) = text.find(BUG_TAIL) {
        // The tail runs to the issue tracker's address; what follows is DataFusion's own
        // detail ("No function matches ..."), kept.
        let rest = &text[i..];
        let end = rest
            .find("/issues")
            .map(|j| j + "/issues".len())
            .unwrap_or(rest.len());
        let after = rest[end..].trim_start_matches(['.', ' ']);
        text = format!("{}{after}", &text[..i]);
    }
    for prefix in PREFIXES {
        text = text.replace(prefix, "");
    }
    // A function's own message about its arguments, wrapped by DataFusion's coercion in
    // "Function 'f' user-defined coercion failed with: MESSAGE No function matches ...
    // Candidate functions: f(UserDefined)": the message alone says what to write.
    if let Some(i) = text.find(COERCION) {
        let rest = &text[i + COERCION.len()..];
        let end = rest.find(NO_MATCH).unwrap_or(rest.len());
        text = rest[..end].trim().to_string();
    }
    text.trim().to_string()
}

const COERCION: &str = "user-defined coercion failed with: ";
const NO_MATCH: &str = "No function matches the given name and argument types";

/// A parser error's message, without the `ParserError("...")` wrapper.
fn syntax_message(e: &ParserError) -> String {
    let inner = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => {
            return "the SQL nests too deeply to parse".to_string()
        }
    };
    format!("SQL syntax error: {inner}")
}

/// A parse error of `sql`, reworded, with the offending token hidden when it may be a secret:
/// a quoted string anywhere, any word inside an `OPTIONS (...)` clause.
pub fn parse_error(error: DataFusionError, sql: &str) -> DataFusionError {
    // DataFusion may wrap it (a diagnostic, a context).
    let DataFusionError::SQL(e, _) = error.find_root() else {
        return error;
    };
    let message = syntax_message(e);
    let has_options = sql.to_ascii_uppercase().contains("OPTIONS");
    DataFusionError::Plan(redact_found(&message, has_options))
}

/// Replaces the token after "found: " (up to " at Line:") when it may be an option's value.
fn redact_found(message: &str, has_options: bool) -> String {
    let Some(start) = message.find("found: ").map(|i| i + "found: ".len()) else {
        return message.to_string();
    };
    let end = message[start..]
        .find(" at Line:")
        .map_or(message.len(), |i| start + i);
    let token = &message[start..end];
    let quoted = token.starts_with('\'') || token.starts_with('"') || token.starts_with('$');
    let word = token.chars().any(char::is_alphanumeric) && token != "EOF";
    let shown = if quoted {
        "a quoted string (not shown)"
    } else if has_options && word {
        "a word (not shown: option values may be secrets)"
    } else {
        return message.to_string();
    };
    format!("{}{shown}{}", &message[..start], &message[end..])
}

/// Adds what to do instead to the errors whose usual cause is known, using the session's
/// tables, table factories and functions.
pub fn with_hint(error: DataFusionError, state: &SessionState) -> DataFusionError {
    let text = one_line(&error);
    if let Some(name) = quoted_after(&text, "Invalid function '") {
        if state.window_functions().contains_key(&name.to_lowercase()) {
            return DataFusionError::Plan(format!(
                "{name}() is a window function: write {name}(...) OVER (PARTITION BY <series columns> ORDER BY ts)"
            ));
        }
    }
    if let Some(name) = text.strip_prefix("Unable to find factory for ") {
        let mut kinds: Vec<&String> = state.table_factories().keys().collect();
        kinds.sort();
        let kinds = kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return DataFusionError::Plan(format!(
            "STORED AS {name} is not a table type; valid types are {kinds}"
        ));
    }
    if text.starts_with("table '") && text.ends_with("' not found") {
        let name = &text["table '".len()..text.len() - "' not found".len()];
        // DataFusion names it `catalog.schema.table`; a file path keeps its dots.
        let short = match name.splitn(3, '.').collect::<Vec<_>>()[..] {
            [_, _, table] => table,
            _ => name,
        };
        if short.contains('/') || short.contains('.') {
            return DataFusionError::Plan(format!(
                "no table or file named '{short}': check the path (a file is read by its extension: .parquet, .csv, .json, .arrow)"
            ));
        }
        return DataFusionError::Plan(format!(
            "table {short} not found: create it with CREATE EXTERNAL TABLE {short} STORED AS DATADOG_V1 LOCATION 'metric{{scope}}' (or --config FILE), or run with --simulate for the demo tables; \\d lists the tables at the prompt"
        ));
    }
    error
}

/// The text between `start` and the next `'`.
fn quoted_after(text: &str, start: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find('\'')?;
    Some(text[from..from + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_prefixes_and_bug_tails_go() {
        let text = "Error during planning: Internal error: sum failed. This issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues. No function matches.";
        assert_eq!(tidy(text), "sum failed. No function matches.");
        assert_eq!(
            tidy("Error during planning: Error during planning: x\ny"),
            "x y"
        );
        let coercion = "Error during planning: Execution error: Function 'ds_bucket' user-defined coercion failed with: Error during planning: ds_bucket takes two arguments. No function matches the given name and argument types 'ds_bucket(Utf8)'. You might need to add explicit type casts.\n\tCandidate functions:\n\tds_bucket(UserDefined)";
        assert_eq!(tidy(coercion), "ds_bucket takes two arguments.");
    }

    #[test]
    fn the_found_token_is_hidden_when_it_may_be_a_secret() {
        let m = "SQL syntax error: Expected: ',' or ')' after option definition, found: 'sk-123' at Line: 1, Column: 9";
        let r = redact_found(m, true);
        assert!(
            !r.contains("sk-123") && r.ends_with("at Line: 1, Column: 9"),
            "{r}"
        );
        let word = "SQL syntax error: Expected: ',', found: abc123 at Line: 1, Column: 9";
        assert!(!redact_found(word, true).contains("abc123"));
        assert!(redact_found(word, false).contains("abc123"));
        let eof = "SQL syntax error: Expected: an expression, found: EOF";
        assert_eq!(redact_found(eof, true), eof);
    }
}
