//! `DdstreamCodec` round trips, in process: every adapter's scan (and the same scan split over
//! three tasks, and a rolled-up scan) encoded as the coordinator does and decoded as a worker
//! does (with its own keys) shows the same EXPLAIN line and gives the same rows; the bytes hold
//! no key, only `${ENV}` references.

use std::sync::Arc;

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::{collect, displayable, ExecutionPlan};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use ddstream::distributed::DdstreamCodec;
use ddstream::simulator::{Simulator, SimulatorConfig};
use ddstream::sql::{register_sql_surface, ApiScanExec, TableDefaults};

use crate::common::contains_bytes as contains;

const KEY: &str = "codec-api-key-91d3";
const APP: &str = "codec-app-key-0a7e";
const TOKEN: &str = "codec-token-66f1";
const TOKEN_VAR: &str = "DDSTREAM_CODEC_TEST_TOKEN";

fn scans(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if node.is::<ApiScanExec>() {
            out.push(Arc::clone(node));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

#[test]
fn every_adapters_scan_round_trips_with_the_same_explain_and_rows() {
    // SAFETY of the test: a variable no other test reads.
    std::env::set_var(TOKEN_VAR, TOKEN);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(SimulatorConfig {
            api_key: Some(KEY.into()),
            app_key: Some(APP.into()),
            bearer_token: Some(TOKEN.into()),
            ..SimulatorConfig::default()
        }))
        .unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        // The coordinator's keys are table options here; the worker's come from its defaults.
        register_sql_surface(
            &ctx,
            TableDefaults::without_env()
                .with("base_url", sim.base_url())
                .with("api_key", KEY)
                .with("app_key", APP),
        );
        let worker = DdstreamCodec::new(
            TableDefaults::without_env()
                .with("api_key", KEY)
                .with("app_key", APP),
        );
        let coordinator = DdstreamCodec::default();
        let base = sim.base_url();
        let day = "ts >= TIMESTAMP '2026-11-20T00:00:00Z' AND ts < TIMESTAMP '2026-11-21T00:00:00Z'";
        let queries = [
            format!("SELECT * FROM datadog_v1('system.cpu.user{{*}} by {{host}}', '60s') WHERE {day} AND scope = 'host:web-1'"),
            format!("SELECT * FROM datadog_v2_timeseries('avg:system.cpu.user{{*}} by {{host}}', '5m') WHERE {day}"),
            "SELECT * FROM datadog_v2_scalar('avg:system.cpu.user{*} by {host}', '1h') WHERE chunk_start >= TIMESTAMP '2026-11-20T00:00:00Z' AND chunk_start < TIMESTAMP '2026-11-20T06:00:00Z'".to_string(),
            "SELECT id, note FROM page_t WHERE id > 0 LIMIT 30".to_string(),
            "SELECT * FROM token_t".to_string(),
            // Rolled up: whole hours plus the cut edges, two scans.
            "SELECT date_bin(INTERVAL '1 hour', ts) AS h, max(max) FROM datadog_v1('system.cpu.user{*}', '60s') WHERE ts >= TIMESTAMP '2026-11-20T00:30:00Z' AND ts < TIMESTAMP '2026-11-21T00:00:00Z' GROUP BY 1".to_string(),
        ];
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE page_t (id BIGINT, note VARCHAR) STORED AS PAGE_API LOCATION '{base}/api/page/events?total=70' \
             OPTIONS ('records' '/data', 'page_size_param' 'per_page', 'page_size' '20', 'total' '/total', 'headers.Authorization' 'Bearer ${{{TOKEN_VAR}}}')"
        ))
        .await
        .unwrap();
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE token_t (id BIGINT) STORED AS TOKEN_API LOCATION '{base}/api/token/events?total=45' \
             OPTIONS ('records' '/records', 'next_token' '/next_cursor', 'page_size_param' 'limit', 'page_size' '10', 'headers.Authorization' 'Bearer ${{{TOKEN_VAR}}}')"
        ))
        .await
        .unwrap();
        let mut checked = Vec::new();
        for sql in &queries {
            let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
            let found = scans(&plan);
            assert!(!found.is_empty(), "no scan in {sql}");
            for scan in found {
                let mut variants = vec![Arc::clone(&scan)];
                if let Some(split) = scan.downcast_ref::<ApiScanExec>().unwrap().split_across(3) {
                    variants.push(Arc::new(split));
                }
                for original in variants {
                    let bytes = physical_plan_to_bytes_with_extension_codec(
                        Arc::clone(&original),
                        &coordinator,
                    )
                    .unwrap();
                    for secret in [KEY, APP, TOKEN] {
                        assert!(!contains(&bytes, secret), "a key in the plan of {sql}");
                    }
                    let decoded = physical_plan_from_bytes_with_extension_codec(
                        &bytes,
                        &ctx.task_ctx(),
                        &worker,
                    )
                    .unwrap();
                    let shown = displayable(original.as_ref()).one_line().to_string();
                    assert_eq!(
                        shown,
                        displayable(decoded.as_ref()).one_line().to_string(),
                        "{sql}"
                    );
                    let want = collect(Arc::clone(&original), ctx.task_ctx()).await.unwrap();
                    let got = collect(decoded, ctx.task_ctx()).await.unwrap();
                    let rows: usize = want.iter().map(|b| b.num_rows()).sum();
                    assert!(rows > 0, "no rows from {shown}");
                    // Partitions interleave in `collect`: rows are compared as sorted lines.
                    let lines = |batches: &[datafusion::arrow::array::RecordBatch]| {
                        let text = pretty_format_batches(batches).unwrap().to_string();
                        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                        lines.sort();
                        lines
                    };
                    let (want, got) = (lines(&want), lines(&got));
                    assert!(
                        want == got,
                        "{shown}: {} lines before, {} after the round trip",
                        want.len(),
                        got.len()
                    );
                    checked.push(shown);
                }
            }
        }
        for adapter in ["datadog_v1", "datadog_v2_timeseries", "datadog_v2_scalar", "page_api", "token_api"] {
            assert!(
                checked.iter().any(|s| s.contains(&format!("adapter={adapter} "))),
                "{adapter} was not checked"
            );
        }
        assert!(checked.iter().any(|s| s.contains("tasks=[t0:")), "no split scan checked");
        assert!(checked.iter().any(|s| s.contains("rollup=max")), "no rollup checked");
        // A worker without keys rebuilds the table but the API refuses it: the keys really are
        // the worker's own.
        let keyless = DdstreamCodec::new(TableDefaults::without_env());
        let plan = ctx.sql(&queries[0]).await.unwrap().create_physical_plan().await.unwrap();
        let scan = scans(&plan).remove(0);
        let bytes = physical_plan_to_bytes_with_extension_codec(scan, &coordinator).unwrap();
        let decoded =
            physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &keyless).unwrap();
        let err = collect(decoded, ctx.task_ctx()).await.unwrap_err().to_string();
        assert!(err.contains("403"), "{err}");
    });
}

#[test]
fn plans_from_another_version_or_vendor_fail_with_what_to_do() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulator::start(SimulatorConfig::default()))
        .unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        register_sql_surface(
            &ctx,
            TableDefaults::without_env().with("base_url", sim.base_url()),
        );
        let plan = ctx
            .sql("SELECT * FROM datadog_v1('system.cpu.user{*}', '60s')")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let scan = scans(&plan).remove(0);
        let bytes =
            physical_plan_to_bytes_with_extension_codec(scan, &DdstreamCodec::default()).unwrap();
        let version = concat!("\"version\":\"", env!("CARGO_PKG_VERSION"), "\"");
        assert!(contains(&bytes, version));
        // The same bytes claiming another version of the same length (protobuf lengths hold).
        let other: String = env!("CARGO_PKG_VERSION")
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        let claimed = format!("\"version\":\"{other}\"");
        let at = bytes
            .windows(version.len())
            .position(|w| w == version.as_bytes())
            .unwrap();
        let mut forged = bytes.to_vec();
        forged[at..at + version.len()].copy_from_slice(claimed.as_bytes());
        let err = physical_plan_from_bytes_with_extension_codec(
            &forged,
            &ctx.task_ctx(),
            &DdstreamCodec::default(),
        );
        match err {
            Ok(_) => panic!("a plan from another version was accepted"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains(&format!("ddstream {other}")) && e.contains("same version"),
                    "{e}"
                );
            }
        }
    });
}
