//! The prompt's own commands, typed at the start of a statement: `\q`, `\?` (or `help`), `\d`,
//! `\d NAME` and `\timing`. They end at the end of the line and need no `;`.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::prelude::SessionContext;

use super::super::output::{self, MaxRows, OutputFormat, OutputOptions};

/// The help `\?` prints.
pub(super) const HELP: &str = "\
SQL statements end with ';' and may span lines; Tab completes keywords, tables, columns and
functions; Ctrl-C cancels the running query (or clears the line); Ctrl-D quits.
  \\d          list the tables
  \\d NAME     show the columns of table NAME
  \\timing     turn the 'N rows in T s' line after each result off or on
  \\? or help  this help
  \\q          quit";

/// A prompt command.
#[derive(Debug, PartialEq)]
pub(super) enum Meta {
    Quit,
    Help,
    Tables,
    Describe(String),
    Timing,
    /// A backslash command we do not have.
    Unknown(String),
}

impl Meta {
    /// The command `line` holds, if it is one (rather than SQL).
    pub(super) fn parse(line: &str) -> Option<Meta> {
        let line = line.trim().trim_end_matches(';').trim_end();
        let lower = line.to_ascii_lowercase();
        match lower.as_str() {
            "help" | "\\?" | "\\h" | "\\help" => return Some(Meta::Help),
            "quit" | "exit" | "\\q" | "\\quit" => return Some(Meta::Quit),
            _ => {}
        }
        let rest = line.strip_prefix('\\')?;
        let (command, argument) = match rest.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (rest, ""),
        };
        Some(match (command, argument) {
            ("d", "") => Meta::Tables,
            ("d", name) => Meta::Describe(name.to_string()),
            ("timing", "") => Meta::Timing,
            _ => Meta::Unknown(line.to_string()),
        })
    }
}

/// Prints the session's tables (`\d`).
pub(super) async fn list_tables(ctx: &SessionContext) -> DFResult<()> {
    let batches = ctx
        .sql(
            "SELECT table_catalog || '.' || table_schema AS schema, table_name, table_type \
             FROM information_schema.tables WHERE table_schema <> 'information_schema' \
             ORDER BY table_name",
        )
        .await?
        .collect()
        .await?;
    print(batches)
}

/// Prints the columns of table `name` (`\d NAME`).
pub(super) async fn describe(ctx: &SessionContext, name: &str) -> DFResult<()> {
    let provider = ctx.table_provider(name).await.map_err(|_| {
        DataFusionError::Plan(format!(
            "there is no table named {name}: \\d lists the tables"
        ))
    })?;
    let schema = provider.schema();
    let fields = schema.fields();
    let column = |f: &dyn Fn(&Field) -> String| {
        Arc::new(StringArray::from_iter_values(fields.iter().map(|x| f(x))))
    };
    let out = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("is_nullable", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        out,
        vec![
            column(&|f| f.name().clone()),
            column(&|f| f.data_type().to_string()),
            column(&|f| if f.is_nullable() { "YES" } else { "NO" }.to_string()),
        ],
    )?;
    print(vec![batch])
}

/// Prints `batches` as a table on standard output, whatever `--format` and `-o` say: the
/// commands are for the person at the prompt.
fn print(batches: Vec<RecordBatch>) -> DFResult<()> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    let options = OutputOptions {
        format: OutputFormat::Table,
        output: None,
        max_rows: MaxRows::Unlimited,
        plot: None,
    };
    let mut run = output::Run::start(options, 1)?;
    let mut set = run.begin(&schema)?;
    for batch in &batches {
        set.write(batch)?;
    }
    set.finish()?;
    run.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(Meta::parse("\\q"), Some(Meta::Quit));
        assert_eq!(Meta::parse("  help; "), Some(Meta::Help));
        assert_eq!(Meta::parse("\\?"), Some(Meta::Help));
        assert_eq!(Meta::parse("\\d"), Some(Meta::Tables));
        assert_eq!(
            Meta::parse("\\d  datadog_v1 "),
            Some(Meta::Describe("datadog_v1".into()))
        );
        assert_eq!(Meta::parse("\\timing"), Some(Meta::Timing));
        assert_eq!(Meta::parse("\\x"), Some(Meta::Unknown("\\x".into())));
        assert_eq!(Meta::parse("SELECT 1;"), None);
        assert_eq!(Meta::parse("helpful"), None);
    }
}
