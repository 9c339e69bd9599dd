//! Entry points for fuzzing: every parser of outside input, fed arbitrary bytes. They must
//! never panic, whatever the bytes; errors are fine. Used by the cargo-fuzz targets in `fuzz/`
//! and by the randomized mutation test that CI runs (`tests/it/robustness.rs`).

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::adapters::datadog::{
    Aggregation, Credentials, DatadogV1Adapter, DatadogV1Options, DatadogV2ScalarAdapter,
    DatadogV2ScalarOptions, DatadogV2TimeseriesAdapter, DatadogV2TimeseriesOptions, NamedFormula,
    NamedQuery, ScalarAggregator, V2Queries,
};
use crate::adapters::rest::columns::{ColumnSpec, ColumnType, Pointer, TimeFormat};
use crate::adapters::rest::{
    Paging, ParamLocation, RestAdapter, RestOptions, TimeRange, TokenSource, Value,
};
use crate::engine::{ApiResponse, Cursor, TimeWindow, VendorAdapter};

fn base() -> url::Url {
    url::Url::parse("http://127.0.0.1:9").expect("a valid URL")
}

/// A 200 response with `data` as its body and no headers.
fn body_only(data: &[u8]) -> ApiResponse {
    ApiResponse::new(200, Bytes::copy_from_slice(data))
}

fn window() -> Cursor {
    Cursor::Window(TimeWindow::new(1_767_225_600_000, 1_767_232_800_000))
}

fn queries() -> V2Queries {
    V2Queries {
        queries: vec![
            NamedQuery {
                name: "a".into(),
                query: "avg:m{*} by {host}".into(),
            },
            NamedQuery {
                name: "b".into(),
                query: "avg:n{*}".into(),
            },
        ],
        formulas: vec![NamedFormula {
            name: "r".into(),
            formula: "a / b".into(),
        }],
    }
}

/// The v1 parser (`GET /api/v1/query` bodies).
pub fn v1(data: &[u8]) {
    static ADAPTER: OnceLock<DatadogV1Adapter> = OnceLock::new();
    let a = ADAPTER.get_or_init(|| {
        DatadogV1Adapter::new(DatadogV1Options {
            query: "system.cpu.user{*} by {host}".into(),
            granularity_s: 60,
            aggregations: Aggregation::ALL.to_vec(),
            base_url: base(),
            credentials: Credentials::default(),
        })
        .expect("a valid adapter")
    });
    let _ = a.parse(&window(), &body_only(data));
    let _ = a.error_message(data);
    let _ = a.classify_error(400, data);
}

/// The v2 timeseries parser.
pub fn v2_timeseries(data: &[u8]) {
    static ADAPTER: OnceLock<DatadogV2TimeseriesAdapter> = OnceLock::new();
    let a = ADAPTER.get_or_init(|| {
        DatadogV2TimeseriesAdapter::new(DatadogV2TimeseriesOptions {
            queries: queries(),
            interval_ms: 60_000,
            base_url: base(),
            credentials: Credentials::default(),
        })
        .expect("a valid adapter")
    });
    let _ = a.parse(&window(), &body_only(data));
}

/// The v2 scalar parser.
pub fn v2_scalar(data: &[u8]) {
    static ADAPTER: OnceLock<DatadogV2ScalarAdapter> = OnceLock::new();
    let a = ADAPTER.get_or_init(|| {
        DatadogV2ScalarAdapter::new(DatadogV2ScalarOptions {
            queries: queries(),
            aggregator: ScalarAggregator::Avg,
            chunk_ms: 7_200_000,
            base_url: base(),
            credentials: Credentials::default(),
        })
        .expect("a valid adapter")
    });
    let _ = a.parse(&window(), &body_only(data));
}

/// The REST parser (records at a pointer, nested columns, every column type, a token and a
/// total), with the body also offered as a `Link` header.
pub fn rest(data: &[u8]) {
    static ADAPTERS: OnceLock<[RestAdapter; 2]> = OnceLock::new();
    let adapters = ADAPTERS.get_or_init(|| {
        let column = |name: &str, pointer: &str, kind| ColumnSpec {
            name: name.into(),
            pointer: Pointer::parse(pointer).expect("a valid pointer"),
            kind,
        };
        let options = |paging| RestOptions {
            name: "fuzz",
            method: http::Method::GET,
            url: base(),
            params: vec![("k".into(), Value::Plain("v".into()))],
            headers: vec![],
            body: None,
            params_in: ParamLocation::Query,
            records: Pointer::parse("/data").expect("a valid pointer"),
            paging,
            has_more: Some(Pointer::parse("/has_more").expect("a valid pointer")),
            columns: vec![
                column("id", "/id", ColumnType::Int64),
                column("t", "/t", ColumnType::Timestamp(TimeFormat::Auto)),
                column("s", "/s", ColumnType::Utf8),
                column("f", "/f", ColumnType::Float64),
                column("b", "/b", ColumnType::Bool),
                column("n", "/o/n/0", ColumnType::Json),
            ],
            time: Some(TimeRange {
                column: 1,
                start_ms: 0,
                end_ms: i64::MAX,
                start_param: None,
                end_param: None,
                format: TimeFormat::Auto,
            }),
            lenient_types: false,
        };
        [
            RestAdapter::new(options(Paging::PageNumber {
                param: "page".into(),
                first: 1,
                size_param: None,
                size: 10,
                total: Some(Pointer::parse("/total").expect("a valid pointer")),
                total_header: None,
                total_pages: None,
                stop_on_short_page: true,
            }))
            .expect("a valid adapter"),
            RestAdapter::new(options(Paging::Token {
                param: "cursor".into(),
                next: TokenSource::LinkHeader,
                size: None,
            }))
            .expect("a valid adapter"),
        ]
    });
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(data) {
        headers.insert(http::header::LINK, v);
    }
    let response = ApiResponse {
        status: 200,
        headers,
        body: Bytes::copy_from_slice(data),
        elapsed: Duration::ZERO,
    };
    let _ = adapters[0].parse(
        &Cursor::Page {
            number: 3,
            size: 10,
        },
        &response,
    );
    let _ = adapters[1].parse(&Cursor::Token(None), &response);
}

/// The table config parsers: JSON options of every adapter, and a `--config` TOML file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for vendor in crate::sql::VENDORS {
        let _ = crate::sql::table_from_json(vendor.name(), text);
    }
    let _ = toml::from_str::<toml::Value>(text);
    let _ = crate::sql::config::values::parse_duration("fuzz", text);
}
