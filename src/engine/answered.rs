//! Which hosts have answered in this process. A refused connection to a host that answered
//! before is likely a restart and worth retrying; to a host that never answered it is a wrong
//! host or port, and retrying only delays the error.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

fn hosts() -> std::sync::MutexGuard<'static, HashSet<String>> {
    static HOSTS: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HOSTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Notes that `authority` (`host:port`) sent a response.
pub(crate) fn mark(authority: &str) {
    let mut hosts = hosts();
    if !hosts.contains(authority) {
        hosts.insert(authority.to_string());
    }
}

/// Whether `authority` ever sent a response in this process.
pub(crate) fn has_answered(authority: &str) -> bool {
    hosts().contains(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_hosts_that_answered() {
        assert!(!has_answered("answered-test.invalid:1"));
        mark("answered-test.invalid:1");
        assert!(has_answered("answered-test.invalid:1"));
        assert!(!has_answered("answered-test.invalid:2"));
    }
}
