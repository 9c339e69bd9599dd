//! Where a result goes: standard output, or a file written under a temporary name in the
//! target's directory and renamed into place only once it is complete, so a failed or
//! interrupted run never leaves a truncated file (nor replaces a good one).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tempfile::NamedTempFile;

use super::OutputError;

/// The first I/O error a [`Sink`] met, kept so that the caller can report it in its own words
/// (the format writers wrap it in their own error types).
pub(super) type Failure = Arc<Mutex<Option<io::Error>>>;

/// A destination for bytes that remembers its first write error.
pub(super) struct Sink {
    dest: Dest,
    failure: Failure,
}

enum Dest {
    Stdout(BufWriter<io::Stdout>),
    File {
        out: BufWriter<NamedTempFile>,
        path: PathBuf,
    },
}

impl Sink {
    /// Standard output.
    pub(super) fn stdout() -> Self {
        Self {
            dest: Dest::Stdout(BufWriter::new(io::stdout())),
            failure: Failure::default(),
        }
    }

    /// A temporary file next to `path` that [`Sink::commit`] renames to `path`.
    pub(super) fn file(path: &Path) -> Result<Self, OutputError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| OutputError::Create {
                path: path.display().to_string(),
                reason: "it names a directory, not a file".into(),
            })?;
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // A plain `File::create` makes the file 0666 less the umask; the temporary file would be
        // 0600 and keep that after the rename.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder.tempfile_in(dir).map_err(|e| OutputError::Create {
            path: path.display().to_string(),
            reason: match e.kind() {
                io::ErrorKind::NotFound => {
                    format!("the directory {} does not exist", dir.display())
                }
                io::ErrorKind::PermissionDenied => {
                    format!("permission denied in {}", dir.display())
                }
                _ => strip_os_error(&e),
            },
        })?;
        Ok(Self {
            dest: Dest::File {
                out: BufWriter::new(temp),
                path: path.to_path_buf(),
            },
            failure: Failure::default(),
        })
    }

    /// A handle on this sink's first write error.
    pub(super) fn failure(&self) -> Failure {
        Arc::clone(&self.failure)
    }

    /// What the sink writes to, for messages: the path or "standard output".
    pub(super) fn label(&self) -> String {
        match &self.dest {
            Dest::Stdout(_) => "standard output".into(),
            Dest::File { path, .. } => path.display().to_string(),
        }
    }

    /// Flushes, and for a file renames the temporary file to its path.
    pub(super) fn commit(mut self) -> Result<(), OutputError> {
        self.flush().map_err(|e| self.error(e))?;
        let label = self.label();
        match self.dest {
            Dest::Stdout(_) => Ok(()),
            Dest::File { out, path } => {
                let temp = out.into_inner().map_err(|e| OutputError::Write {
                    path: label.clone(),
                    reason: strip_os_error(e.error()),
                })?;
                temp.persist(&path).map_err(|e| OutputError::Write {
                    path: label,
                    reason: strip_os_error(&e.error),
                })?;
                Ok(())
            }
        }
    }

    /// The error to report for `e`, met while writing to this sink.
    pub(super) fn error(&self, e: io::Error) -> OutputError {
        error_for(&self.label(), &e)
    }
}

/// The error to report for an I/O error met while writing to `label`.
pub(super) fn error_for(label: &str, e: &io::Error) -> OutputError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        OutputError::BrokenPipe
    } else {
        OutputError::Write {
            path: label.to_string(),
            reason: strip_os_error(e),
        }
    }
}

/// `No space left on device (os error 28)` without the errno, which tells a user nothing more.
fn strip_os_error(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = match &mut self.dest {
            Dest::Stdout(out) => out.write(buf),
            Dest::File { out, .. } => out.write(buf),
        };
        self.record(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = match &mut self.dest {
            Dest::Stdout(out) => out.flush(),
            Dest::File { out, .. } => out.flush(),
        };
        self.record(result)
    }
}

impl Sink {
    fn record<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(io::Error::new(e.kind(), e.to_string()));
            }
        }
        result
    }
}

/// `-o out_{n}.parquet` or `--plot chart_{n}.png`: one file per result set.
pub(super) const SET_NUMBER: &str = "{n}";

/// The path of result set `n` (1-based) for a path that may hold [`SET_NUMBER`].
pub(super) fn numbered(path: &Path, n: usize) -> PathBuf {
    let text = path.to_string_lossy();
    if text.contains(SET_NUMBER) {
        PathBuf::from(text.replace(SET_NUMBER, &n.to_string()))
    } else {
        path.to_path_buf()
    }
}

/// Whether `path` asks for one file per result set.
pub(super) fn is_numbered(path: &Path) -> bool {
    path.to_string_lossy().contains(SET_NUMBER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old").unwrap();
        let mut sink = Sink::file(&path).unwrap();
        sink.write_all(b"new").unwrap();
        sink.flush().unwrap();
        // The old content stays until the commit; the new bytes are in a hidden sibling.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        sink.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let mut sink = Sink::file(&path).unwrap();
        sink.write_all(b"partial").unwrap();
        drop(sink);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = Sink::file(Path::new("/nonexistent-ddstream-dir/out.csv"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "cannot create /nonexistent-ddstream-dir/out.csv: the directory /nonexistent-ddstream-dir does not exist"
        );
    }

    #[test]
    fn numbered_paths() {
        assert_eq!(
            numbered(Path::new("out_{n}.parquet"), 3),
            PathBuf::from("out_3.parquet")
        );
        assert_eq!(
            numbered(Path::new("out.parquet"), 3),
            PathBuf::from("out.parquet")
        );
        assert!(is_numbered(Path::new("a/{n}.csv")) && !is_numbered(Path::new("a.csv")));
    }
}
