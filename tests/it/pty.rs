//! The `ddstream` binary on a pseudo-terminal, as a person at a terminal runs it: the child is
//! the session leader with the pty as its controlling terminal, so rustyline runs in raw mode
//! and a `\x03` written while a query runs (cooked mode) is a real SIGINT.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any expected output may take: a guard against hangs, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(120);

pub struct Pty {
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// Bytes of `output` already matched by [`Pty::expect`].
    seen: usize,
}

impl Pty {
    /// Starts `ddstream ARGS` on a new pty (80 columns), with `HOME` at `home` and no keys.
    pub fn spawn(args: &[&str], home: &std::path::Path, env: &[(&str, &str)]) -> Pty {
        let (mut master_fd, mut slave_fd) = (0, 0);
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptors from openpty, owned here only.
        let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
        let master = unsafe { File::from_raw_fd(master_fd) };
        let mut command = Command::new(env!("CARGO_BIN_EXE_ddstream"));
        command
            .args(args)
            .env_remove("DD_API_KEY")
            .env_remove("DD_APP_KEY")
            .env("HOME", home)
            .env("TERM", "xterm")
            .envs(env.iter().copied())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("ddstream starts");
        drop(command);
        let output = Arc::new(Mutex::new(Vec::new()));
        let (out, mut reader, mut answer) = (
            Arc::clone(&output),
            master.try_clone().unwrap(),
            master.try_clone().unwrap(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut scanned = 0;
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let mut all = out.lock().unwrap();
                all.extend_from_slice(&buf[..n]);
                // rustyline asks where the cursor is (DSR); a terminal answers "row 1, col 1".
                while let Some(i) = find(&all[scanned..], b"\x1b[6n") {
                    scanned += i + 4;
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
            }
        });
        Pty {
            child,
            master,
            output,
            seen: 0,
        }
    }

    /// Types `text` (`\r` is Enter, `\t` Tab, `\x03` Ctrl-C, `\x04` Ctrl-D).
    pub fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
        self.master.flush().unwrap();
    }

    /// Waits for `needle` after what earlier calls matched; returns the output up to and
    /// including it (escape sequences kept), and moves past it.
    pub fn expect(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            {
                let all = self.output.lock().unwrap();
                if let Some(i) = find(&all[self.seen..], needle.as_bytes()) {
                    let end = self.seen + i + needle.len();
                    let text = String::from_utf8_lossy(&all[self.seen..end]).into_owned();
                    self.seen = end;
                    return text;
                }
                if start.elapsed() > PATIENCE {
                    panic!(
                        "no {needle:?} within {PATIENCE:?}; output after the last match:\n{}",
                        String::from_utf8_lossy(&all[self.seen..])
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to end.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader drain what is left.
                std::thread::sleep(Duration::from_millis(200));
                let all = self.output.lock().unwrap();
                return (
                    status,
                    String::from_utf8_lossy(&all[self.seen..]).into_owned(),
                );
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("ddstream did not exit within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
