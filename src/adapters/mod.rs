//! Adapters, one module per API style. Each implements [`crate::engine::VendorAdapter`]: it builds
//! requests as values and parses response bytes into Arrow. None of them knows the HTTP client.

pub mod datadog;
pub mod rest;
mod secret;

pub use secret::Secret;
