//! A vendor written outside the crate, to show the extension point: one adapter (requests and
//! parsing), one spec (schema, pushdown, the requests for a scan) and one vendor entry (name,
//! options, how a table is built) make a table that `CREATE EXTERNAL TABLE ... STORED AS`,
//! the table function, time pushdown, partitions and EXPLAIN all serve, with no change to the
//! engine or the SQL layer.
//!
//! The toy API serves `GET /points?from=MS&to=MS` as `{"points": [[ms, value], ...]}`, one
//! point every 10 s with value `(ms / 1000) % 100`, from an in-process transport.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{Float64Array, RecordBatch, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::{SessionConfig, SessionContext};
use ddstream::engine::{ApiRequest, ApiResponse, Transport, TransportError};
use ddstream::engine::{Cursor, ParsedResponse, VendorAdapter};
use ddstream::sql::config::window::{partition_ranges, RowTimes};
use ddstream::sql::config::{
    CommonConfigKey, FetchSettings, KeyDoc, Options, WindowConfigKey, WindowSettings,
};
use ddstream::sql::registry::{register_vendor, TableDefaults, TableFunction, Vendor};
use ddstream::sql::scan::SliceGrid;
use ddstream::sql::table::{ApiTable, ScanRequest, SpecScan, TableSpec};
use ddstream::sql::ScanShape;
use ddstream::{Error, Result};

use crate::common::JAN1;

const STEP_MS: i64 = 10_000;

fn toy_value(ms: i64) -> f64 {
    ((ms / 1000) % 100) as f64
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// The toy API, answering in process; it records the windows asked for.
#[derive(Debug, Default)]
struct ToyApi {
    asked: Mutex<Vec<(i64, i64)>>,
}

#[async_trait]
impl Transport for ToyApi {
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, TransportError> {
        let param = |name: &str| -> i64 {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0)
        };
        let (from, to) = (param("from"), param("to"));
        self.asked.lock().unwrap().push((from, to));
        let first = (from + STEP_MS - 1).div_euclid(STEP_MS) * STEP_MS;
        let points: Vec<String> = (first..to)
            .step_by(STEP_MS as usize)
            .map(|ms| format!("[{ms}, {}]", toy_value(ms)))
            .collect();
        Ok(ApiResponse {
            status: 200,
            headers: Default::default(),
            body: Bytes::from(format!("{{\"points\": [{}]}}", points.join(","))),
            elapsed: Default::default(),
        })
    }
}

#[derive(Debug)]
struct ToyAdapter;

impl VendorAdapter for ToyAdapter {
    fn name(&self) -> &'static str {
        "toy_api"
    }

    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn build_request(&self, cursor: &Cursor) -> Result<ApiRequest> {
        let Cursor::Window(w) = cursor else {
            return Err(Error::config("toy_api pages by time windows only"));
        };
        let url = format!(
            "http://toy.invalid/points?from={}&to={}",
            w.start_ms, w.end_ms
        );
        Ok(ApiRequest {
            method: http::Method::GET,
            url: url::Url::parse(&url).map_err(|e| Error::config(e.to_string()))?,
            headers: Default::default(),
            body: None,
        })
    }

    fn parse(&self, _cursor: &Cursor, response: &ApiResponse) -> Result<ParsedResponse> {
        #[derive(serde::Deserialize)]
        struct Body {
            points: Vec<(i64, f64)>,
        }
        let body: Body =
            serde_json::from_slice(&response.body).map_err(|e| Error::config(e.to_string()))?;
        let ts = TimestampMillisecondArray::from_iter_values(body.points.iter().map(|p| p.0))
            .with_timezone("UTC");
        let values = Float64Array::from_iter_values(body.points.iter().map(|p| p.1));
        let batch = RecordBatch::try_new(schema(), vec![Arc::new(ts), Arc::new(values)])
            .map_err(|e| Error::config(e.to_string()))?;
        Ok(ParsedResponse::window_rows(batch))
    }
}

#[derive(Debug)]
struct ToySpec {
    window: WindowSettings,
    fetch: FetchSettings,
}

impl TableSpec for ToySpec {
    fn adapter_name(&self) -> &'static str {
        "toy_api"
    }

    fn schema(&self) -> SchemaRef {
        schema()
    }

    fn time_column(&self) -> Option<&str> {
        Some("ts")
    }

    fn fetch(&self) -> &FetchSettings {
        &self.fetch
    }

    fn plan(&self, request: &ScanRequest<'_>) -> Result<Option<SpecScan>> {
        let windows = self.window.windows(
            request.pushed.time.as_ref(),
            request.now_ms,
            RowTimes::Points,
            "toy_api",
            "ts",
        )?;
        if windows.is_empty() {
            return Ok(None);
        }
        let n = request.target_partitions.min(self.window.max_concurrency);
        Ok(Some(SpecScan {
            adapters: vec![("points".into(), Arc::new(ToyAdapter))],
            policy: self.fetch.policy(),
            shape: ScanShape::Windows {
                partitions: partition_ranges(&windows, n, STEP_MS),
                chunk: std::time::Duration::from_secs(3600),
                grid: SliceGrid {
                    align_ms: STEP_MS,
                    step_ms: STEP_MS,
                },
            },
            details: vec![],
        }))
    }
}

#[derive(Debug)]
struct ToyVendor {
    api: std::sync::OnceLock<Arc<ToyApi>>,
}

impl ToyVendor {
    fn api(&self) -> Arc<ToyApi> {
        Arc::clone(self.api.get_or_init(Default::default))
    }
}

static TOY: ToyVendor = ToyVendor {
    api: std::sync::OnceLock::new(),
};

impl Vendor for ToyVendor {
    fn name(&self) -> &'static str {
        "toy_api"
    }

    fn docs(&self) -> Vec<KeyDoc> {
        let mut docs = vec![KeyDoc {
            name: "metric",
            doc: "the series to read",
        }];
        docs.extend(WindowConfigKey::ALL.iter().map(|k| k.doc()));
        docs.extend(CommonConfigKey::ALL.iter().map(|k| k.doc()));
        docs
    }

    fn accepts(&self, key: &str) -> bool {
        key == "metric"
            || key.parse::<WindowConfigKey>().is_ok()
            || key.parse::<CommonConfigKey>().is_ok()
    }

    fn location(&self) -> (&'static str, &'static str) {
        ("metric", "the series, e.g. LOCATION 'temperature'")
    }

    fn table_function(&self) -> Option<TableFunction> {
        Some(TableFunction {
            args: &[("metric", "'series'")],
            required: 1,
        })
    }

    fn build(
        &self,
        defaults: &TableDefaults,
        options: Options,
        _declared: &[FieldRef],
        _transport: Option<Arc<dyn Transport>>,
    ) -> Result<ApiTable> {
        let mut spec = ToySpec {
            window: WindowSettings::default(),
            fetch: FetchSettings::default(),
        };
        defaults.apply_with(self, options, |key, value| {
            let text = value.into_text(key)?;
            if let Ok(k) = key.parse::<WindowConfigKey>() {
                spec.window.set(k, &text)
            } else if let Ok(k) = key.parse::<CommonConfigKey>() {
                spec.fetch.set(k, &text)
            } else if key == "metric" {
                Ok(())
            } else {
                Err(Error::UnknownOption {
                    adapter: "toy_api",
                    key: key.to_string(),
                    accepted: "metric, chunk, ...".into(),
                })
            }
        })?;
        ApiTable::new(Arc::new(spec), Some(self.api() as Arc<dyn Transport>))
    }
}

async fn count_and_sum(ctx: &SessionContext, sql: &str) -> (i64, f64) {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let b = &batches[0];
    let n = b
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>();
    let s = b.column(1).as_any().downcast_ref::<Float64Array>();
    (n.unwrap().value(0), s.unwrap().value(0))
}

#[tokio::test]
async fn a_vendor_from_outside_the_crate_serves_every_sql_surface() {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    register_vendor(&ctx, &TOY, Arc::new(TableDefaults::without_env()));
    ctx.sql("CREATE EXTERNAL TABLE temps STORED AS TOY_API LOCATION 'temperature' OPTIONS ('max_concurrency' '3')")
        .await
        .unwrap();
    let start = JAN1 * 1000;
    let end = start + 6 * 3_600_000 + 5_000;
    let range = format!("ts >= to_timestamp_millis({start}) AND ts < to_timestamp_millis({end})");
    // Expected rows computed here, from the toy API's definition.
    let instants: Vec<i64> = (start..end).step_by(STEP_MS as usize).collect();
    let want_sum: f64 = instants.iter().map(|&ms| toy_value(ms)).sum();
    for table in ["temps", "toy_api('temperature')"] {
        let (n, sum) = count_and_sum(
            &ctx,
            &format!("SELECT count(*), sum(value) FROM {table} WHERE {range}"),
        )
        .await;
        assert_eq!(n, instants.len() as i64, "{table}");
        assert!(
            (sum - want_sum).abs() < 1e-6,
            "{table}: {sum} vs {want_sum}"
        );
    }
    // The windows asked for tile [start, end) exactly, twice (two queries).
    let mut asked = TOY.api().asked.lock().unwrap().clone();
    asked.sort();
    let covered: i64 = asked.iter().map(|(a, b)| b - a).sum();
    assert_eq!(covered, 2 * (end - start));
    // EXPLAIN shows the vendor, the window and the partitions.
    let plan = ctx
        .sql(&format!("EXPLAIN SELECT * FROM temps WHERE {range}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(
        text.contains("ApiScanExec: adapter=toy_api") && text.contains("partitions=3"),
        "{text}"
    );
    // Its own options are checked by its own code.
    let err = ctx
        .sql("CREATE EXTERNAL TABLE bad STORED AS TOY_API LOCATION 'x' OPTIONS ('colour' 'red')")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown option") && err.contains("colour") && err.contains("toy_api"),
        "{err}"
    );
}
