//! The interactive prompt (`ddstream` with no SQL on a terminal): statements end with `;` and
//! may span lines, `\`-commands ([`commands`]), Tab completion ([`complete`]), history in
//! `~/.ddstream_history`. Ctrl-C cancels the running query and keeps the prompt; Ctrl-D quits,
//! reporting a statement left unfinished rather than dropping it silently.

mod commands;
mod complete;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use super::{one_line, run_statements, Args, RunOptions};
use commands::Meta;
use complete::{SqlHelper, Vocabulary};

/// Runs the prompt until `\q` or Ctrl-D.
pub(super) async fn interactive(ctx: &SessionContext, args: &Args) -> DFResult<()> {
    let cannot_open = |e: ReadlineError| {
        DataFusionError::Execution(format!("cannot open the interactive prompt: {e}"))
    };
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<SqlHelper, FileHistory> =
        Editor::with_config(config).map_err(cannot_open)?;
    let words = Arc::new(Mutex::new(Vocabulary::default()));
    editor.set_helper(Some(SqlHelper {
        words: Arc::clone(&words),
    }));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ddstream_history"));
    if let Some(h) = &history {
        // No history yet is fine.
        let _ = editor.load_history(h);
    }
    // While a query runs the terminal is not in raw mode, so Ctrl-C is SIGINT: handled, it
    // cancels the query (see `output::interrupt`) instead of ending the process.
    let _sigint = sigint_handler();
    let mut options = RunOptions::from_args(args);
    if !args.quiet {
        eprintln!(
            "ddstream {}: end statements with ';', \\? for help, Ctrl-D to quit",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    let result = loop {
        if buffer.is_empty() {
            // Tables created by the previous statement complete too.
            let loaded = Vocabulary::load(ctx).await;
            *words.lock().unwrap_or_else(|p| p.into_inner()) = loaded;
        }
        let prompt = if buffer.is_empty() {
            "ddstream> "
        } else {
            "      ..> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.trim().is_empty() {
                    if let Some(meta) = Meta::parse(&line) {
                        buffer.clear();
                        let _ = editor.add_history_entry(line.trim());
                        match meta {
                            Meta::Quit => break Ok(()),
                            Meta::Help => println!("{}", commands::HELP),
                            Meta::Tables => report(commands::list_tables(ctx).await),
                            Meta::Describe(name) => report(commands::describe(ctx, &name).await),
                            Meta::Timing => {
                                options.timing = !options.timing;
                                let state = if options.timing { "on" } else { "off" };
                                eprintln!("timing is {state}");
                            }
                            Meta::Unknown(command) => {
                                eprintln!(
                                    "error: unknown command {command}: \\? lists the commands"
                                )
                            }
                        }
                        continue;
                    }
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if ends_statement(&line) {
                    let sql = std::mem::take(&mut buffer);
                    let _ = editor.add_history_entry(sql.trim());
                    report(run_statements(ctx, &sql, &options).await);
                }
            }
            // Ctrl-C at the prompt clears what was typed.
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break unfinished(&buffer),
            Err(e) => {
                break Err(DataFusionError::Execution(format!(
                    "cannot read the prompt's input: {e}"
                )))
            }
        }
    };
    if let Some(h) = &history {
        // Failing to save history is not worth an error at exit.
        let _ = editor.save_history(h);
    }
    result
}

/// Prints a statement's or command's error; the prompt goes on.
fn report(result: DFResult<()>) {
    if let Err(e) = result {
        eprintln!("error: {}", one_line(&e));
    }
}

/// Whether `line` ends the statement being typed.
fn ends_statement(line: &str) -> bool {
    line.trim_end().ends_with(';')
}

/// Ctrl-D: fine on an empty line, an error naming what would otherwise be lost.
fn unfinished(buffer: &str) -> DFResult<()> {
    let text = buffer.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return Ok(());
    }
    let shown: String = if text.chars().count() > 60 {
        text.chars().take(57).chain("...".chars()).collect()
    } else {
        text
    };
    Err(DataFusionError::Plan(format!(
        "the statement `{shown}` was not ended with ';' when the input ended, so it did not run"
    )))
}

#[cfg(unix)]
fn sigint_handler() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok()
}

#[cfg(not(unix))]
fn sigint_handler() -> Option<()> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_statement_is_an_error_naming_it() {
        assert!(unfinished("").is_ok());
        assert!(unfinished(" \n").is_ok());
        let e = unfinished("SELECT 1\n  FROM t\n").unwrap_err().to_string();
        assert!(e.contains("`SELECT 1 FROM t`"), "{e}");
    }

    #[test]
    fn a_semicolon_at_the_end_of_a_line_ends_the_statement() {
        assert!(ends_statement("SELECT 1;  "));
        assert!(!ends_statement("SELECT ';' AS x"));
    }
}
