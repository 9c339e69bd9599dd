//! API and application keys. [`Secret`] never prints its value: not in Debug, not in Display.

use std::fmt;

use http::{HeaderMap, HeaderValue};

pub use crate::adapters::secret::Secret;
use crate::{Error, Result};

/// Datadog's two keys. Both optional: the simulator can run without keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `DD-API-KEY`.
    pub api_key: Option<Secret>,
    /// `DD-APPLICATION-KEY`.
    pub app_key: Option<Secret>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("app_key", &self.app_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Credentials {
    /// Reads `DD_API_KEY` and `DD_APP_KEY` (empty values count as unset).
    pub fn from_env() -> Self {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new)
        };
        Self {
            api_key: read("DD_API_KEY"),
            app_key: read("DD_APP_KEY"),
        }
    }

    /// Adds the keys as sensitive headers (redacted in `Debug` of the header map).
    pub fn apply(&self, headers: &mut HeaderMap) -> Result<()> {
        for (name, secret) in [
            ("dd-api-key", &self.api_key),
            ("dd-application-key", &self.app_key),
        ] {
            if let Some(secret) = secret {
                let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
                    Error::config(format!(
                        "the {name} value contains characters not allowed in an HTTP header; check the key for stray whitespace or quotes"
                    ))
                })?;
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let creds = Credentials {
            api_key: Some(Secret::new("abc123secret")),
            app_key: Some(Secret::new("appsecret456")),
        };
        let debug = format!("{creds:?}");
        assert!(!debug.contains("abc123secret") && !debug.contains("appsecret456"));
        let mut headers = HeaderMap::new();
        creds.apply(&mut headers).unwrap();
        let debug = format!("{headers:?}");
        assert!(!debug.contains("abc123secret"), "{debug}");
        assert!(Credentials {
            api_key: Some(Secret::new("bad\nkey")),
            app_key: None
        }
        .apply(&mut headers)
        .is_err());
    }
}
