//! The `ddstream` binary: parses arguments, runs, prints errors on one line.

use clap::Parser;

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DDSTREAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = match ddstream::cli::Args::try_parse() {
        Ok(args) => args,
        // --help and --version print and succeed; a usage error is an error like any other:
        // clap's message, exit code 1 (clap's own default is 2).
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if let Err(e) = ddstream::cli::run(args).await {
        // `ddstream ... | head`: the reader has what it wanted.
        if ddstream::cli::is_broken_pipe(&e) {
            std::process::exit(0);
        }
        eprintln!("error: {}", ddstream::cli::one_line(&e));
        std::process::exit(1);
    }
}
