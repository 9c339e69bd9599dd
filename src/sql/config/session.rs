//! Session defaults SQL can change: `SET ddstream.<key> = <value>` sets an option every API table
//! made afterwards in the session starts from (`CREATE EXTERNAL TABLE`, the table functions),
//! over the defaults the session was registered with. Each vendor takes the keys it knows.

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::execution::context::SessionContext;

use super::{OptionValue, Options};

extensions_options! {
    /// `SET ddstream.*`: defaults for the API tables created in this session.
    pub struct DdstreamOptions {
        /// API base URL of Datadog tables (a proxy, the simulator).
        pub base_url: Option<String>, default = None
        /// Datadog site, e.g. `datadoghq.eu`.
        pub site: Option<String>, default = None
        /// Allow plain http to non-loopback hosts.
        pub allow_http: Option<String>, default = None
        /// Requests in flight per partition.
        pub prefetch_depth: Option<String>, default = None
        /// Retries per request.
        pub max_retries: Option<String>, default = None
        /// Time allowed for one request, e.g. `30s`.
        pub request_timeout: Option<String>, default = None
        /// Time allowed to connect, e.g. `5s`.
        pub connect_timeout: Option<String>, default = None
        /// Range scanned without a time filter, e.g. `1d`.
        pub default_range: Option<String>, default = None
        /// Widest range one query may scan, e.g. `90d`.
        pub max_range: Option<String>, default = None
        /// Most partitions per scan.
        pub max_concurrency: Option<String>, default = None
        /// Adjust the requests in flight per host from what it answers (`true`/`false`).
        pub adaptive_concurrency: Option<String>, default = None
        /// Ceiling of the adaptive per-host limit.
        pub max_host_concurrency: Option<String>, default = None
        /// A time filter that cannot be pushed down is an error instead of a warning.
        pub strict_time_filters: bool, default = false
        /// Let the API roll series up to a query's time buckets (GROUP BY `date_bin` or
        /// `ds_bucket` with avg/min/max/sum): far fewer points, the same results.
        pub rollup_pushdown: bool, default = true
    }
}

impl ConfigExtension for DdstreamOptions {
    const PREFIX: &'static str = "ddstream";
}

impl DdstreamOptions {
    /// The options that were set, as table options.
    pub fn options(&self) -> Options {
        // Values are kept as text and checked when a table is made from them, by the same
        // parsers as table options, so errors name the option and the accepted forms.
        [
            ("base_url", &self.base_url),
            ("site", &self.site),
            ("allow_http", &self.allow_http),
            ("prefetch_depth", &self.prefetch_depth),
            ("max_retries", &self.max_retries),
            ("request_timeout", &self.request_timeout),
            ("connect_timeout", &self.connect_timeout),
            ("default_range", &self.default_range),
            ("max_range", &self.max_range),
            ("max_concurrency", &self.max_concurrency),
            ("adaptive_concurrency", &self.adaptive_concurrency),
            ("max_host_concurrency", &self.max_host_concurrency),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), OptionValue::Text(v))))
        .collect()
    }

    /// Adds the extension to `ctx` (once), so `SET ddstream.*` works there.
    pub fn install(ctx: &SessionContext) {
        let state = ctx.state_ref();
        let mut state = state.write();
        let extensions = &mut state.config_mut().options_mut().extensions;
        if extensions.get::<DdstreamOptions>().is_none() {
            extensions.insert(DdstreamOptions::default());
        }
    }
}
