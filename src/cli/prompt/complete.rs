//! Tab completion at the prompt: SQL keywords, the session's tables and their columns, and the
//! functions of its registry (scalar, aggregate, window and table functions, ours included).
//!
//! The names are read from the session before each line ([`Vocabulary::load`] is async, the
//! completer is not), so tables created at the prompt complete on the next line.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// The names that complete, besides keywords.
#[derive(Debug, Default, Clone)]
pub(super) struct Vocabulary {
    /// Table names (as `\d` lists them: without catalog and schema).
    pub tables: BTreeSet<String>,
    /// Column names of every table.
    pub columns: BTreeSet<String>,
    /// Function names.
    pub functions: BTreeSet<String>,
}

impl Vocabulary {
    /// Reads the tables, columns and functions of `ctx`'s session.
    pub(super) async fn load(ctx: &SessionContext) -> Self {
        let mut words = Vocabulary::default();
        let state = ctx.state();
        words.functions.extend(
            state
                .scalar_functions()
                .keys()
                .chain(state.aggregate_functions().keys())
                .chain(state.window_functions().keys())
                .chain(state.table_functions().keys())
                .cloned(),
        );
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                if schema_name == "information_schema" {
                    continue;
                }
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table in schema.table_names() {
                    if let Ok(Some(provider)) = schema.table(&table).await {
                        words
                            .columns
                            .extend(provider.schema().fields().iter().map(|f| f.name().clone()));
                    }
                    words.tables.insert(table);
                }
            }
        }
        words
    }

    /// The completions of `prefix` (case-insensitive): names as they are spelled, keywords in
    /// the case the prefix starts with.
    pub(super) fn complete(&self, prefix: &str) -> Vec<String> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let lower = prefix.to_lowercase();
        let matches = |w: &str| w.to_lowercase().starts_with(&lower);
        let mut out: BTreeSet<String> = self
            .tables
            .iter()
            .chain(&self.columns)
            .chain(&self.functions)
            .filter(|w| matches(w))
            .cloned()
            .collect();
        let upper = prefix.chars().next().is_some_and(char::is_uppercase);
        out.extend(ALL_KEYWORDS.iter().filter(|k| matches(k)).map(|k| {
            if upper {
                k.to_string()
            } else {
                k.to_lowercase()
            }
        }));
        out.into_iter().collect()
    }
}

/// The rustyline helper: completion only (no hints, colours or validation).
pub(super) struct SqlHelper {
    pub(super) words: Arc<Mutex<Vocabulary>>,
}

/// Where the word before `pos` starts: identifiers are letters, digits and `_`.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(pos, |(i, _)| i)
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let words = self.words.lock().unwrap_or_else(|p| p.into_inner());
        let candidates = words
            .complete(&line[start..pos])
            .into_iter()
            .map(|w| Pair {
                display: w.clone(),
                replacement: w,
            })
            .collect();
        Ok((start, candidates))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Validator for SqlHelper {}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        Vocabulary {
            tables: ["datadog_v1", "datadog_v2_scalar"].map(String::from).into(),
            columns: ["scope", "ts"].map(String::from).into(),
            functions: ["ds_bucket", "downsample"].map(String::from).into(),
        }
    }

    #[test]
    fn completes_tables_columns_functions_and_keywords() {
        let words = vocabulary();
        assert_eq!(words.complete("datadog_v2"), vec!["datadog_v2_scalar"]);
        assert_eq!(words.complete("DS_B"), vec!["ds_bucket"]);
        assert!(words.complete("sco").contains(&"scope".to_string()));
        assert!(words.complete("SELE").contains(&"SELECT".to_string()));
        assert!(words.complete("sele").contains(&"select".to_string()));
        assert!(words.complete("").is_empty());
    }

    #[test]
    fn the_word_is_the_identifier_before_the_cursor() {
        assert_eq!(word_start("SELECT * FROM data", 18), 14);
        assert_eq!(word_start("SELECT count(sco", 16), 13);
        assert_eq!(word_start("SELECT ", 7), 7);
    }
}
