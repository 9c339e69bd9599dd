//! [`DdstreamCodec`]: ddstream's plan nodes on the wire of a distributed plan.
//!
//! An `ApiScanExec` holds engines (an HTTP client, credentials, adapters); none of that is sent.
//! What is sent is what the scan was made from ([`ScanOrigin`]): the vendor, the table's options
//! as [`Vendor::portable_options`] lets them leave (never a key: a worker uses its own from its
//! environment or its config), the pushed filters, projection, limit, the query's `now`, a
//! rollup, and the task's slices. The worker rebuilds the table and plans the same requests.
//! The message is a small protobuf (the output schema as DataFusion's protobuf schema) around a
//! JSON recipe, with the ddstream version so that mismatched builds fail clearly.
//!
//! [`Vendor::portable_options`]: crate::sql::registry::Vendor::portable_options

use std::sync::Arc;

use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::engine::TimeWindow;
use crate::sql::config::{OptionValue, Options};
use crate::sql::origin::ScanInputs;
use crate::sql::registry::{build_table, vendor, TableDefaults};
use crate::sql::ApiScanExec;
use crate::to_datafusion_error;

/// The build whose plans a worker accepts.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The message for one of our nodes.
#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    /// What the recipe describes (`api_scan`).
    #[prost(string, tag = "1")]
    kind: String,
    /// The JSON recipe.
    #[prost(string, tag = "2")]
    recipe: String,
    /// The node's output schema.
    #[prost(message, optional, tag = "3")]
    schema: Option<protobuf::Schema>,
    /// `CREATE EXTERNAL TABLE`'s declared columns.
    #[prost(message, optional, tag = "4")]
    declared: Option<protobuf::Schema>,
}

const API_SCAN: &str = "api_scan";

/// An option value as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum WireValue {
    Text(String),
    Json(serde_json::Value),
}

/// An `ApiScanExec` as sent.
#[derive(Debug, Serialize, Deserialize)]
struct WireScan {
    version: String,
    vendor: String,
    options: Vec<(String, WireValue)>,
    inputs: ScanInputs,
    /// `[task][partition]` ranges as `(start_ms, end_ms)`.
    tasks: Option<WireTasks>,
}

/// `[task][partition]` time ranges as `(start_ms, end_ms)`.
type WireTasks = Vec<Vec<Vec<(i64, i64)>>>;

/// Encodes and decodes ddstream's plan nodes. Register it on the coordinator and on every
/// worker (`with_distributed_user_codec`); a worker's codec rebuilds tables over its own
/// [`TableDefaults`] (credentials from its environment or config), then the plan's options.
#[derive(Debug, Clone)]
pub struct DdstreamCodec {
    defaults: Arc<TableDefaults>,
}

impl Default for DdstreamCodec {
    /// Tables rebuilt with keys and site from this process's environment.
    fn default() -> Self {
        Self::new(TableDefaults::default())
    }
}

impl DdstreamCodec {
    /// A codec whose rebuilt tables start from `defaults`.
    pub fn new(defaults: TableDefaults) -> Self {
        Self {
            defaults: Arc::new(defaults),
        }
    }
}

fn codec_error(message: String) -> DataFusionError {
    DataFusionError::Execution(message)
}

/// Whether `scan` can be sent to a worker: checked while planning, so that a scan that cannot
/// (a literal credential, a table of an unknown vendor) fails the query at once with its reason
/// rather than as a worker left waiting for its plan.
pub(crate) fn check_portable(scan: &ApiScanExec) -> DFResult<()> {
    encode_scan(scan).map(|_| ())
}

fn encode_scan(scan: &ApiScanExec) -> DFResult<NodeProto> {
    let origin = scan.origin().ok_or_else(|| {
        codec_error(format!(
            "this {} scan cannot run on a worker: its table was not made from a registered vendor (register it with SQL, JSON or a config file)",
            scan.params().adapter
        ))
    })?;
    let table = &origin.table;
    let vendor = vendor(table.vendor).ok_or_else(|| {
        codec_error(format!(
            "{} tables cannot run on workers: only the built-in vendors are known to them",
            table.vendor
        ))
    })?;
    let options = vendor
        .portable_options(table)
        .map_err(to_datafusion_error)?
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                OptionValue::Text(t) => WireValue::Text(t),
                OptionValue::Json(j) => WireValue::Json(j),
            };
            (k, v)
        })
        .collect();
    let tasks = scan.tasks().map(|tasks| {
        tasks
            .iter()
            .map(|t| {
                t.iter()
                    .map(|p| p.iter().map(|w| (w.start_ms, w.end_ms)).collect())
                    .collect()
            })
            .collect()
    });
    let wire = WireScan {
        version: VERSION.to_string(),
        vendor: table.vendor.to_string(),
        options,
        inputs: origin.inputs.clone(),
        tasks,
    };
    let recipe = serde_json::to_string(&wire)
        .map_err(|e| codec_error(format!("cannot encode a scan for the workers: {e}")))?;
    let declared = match table.declared.as_slice() {
        [] => None,
        fields => Some(protobuf::Schema::try_from(&Schema::new(fields.to_vec()))?),
    };
    Ok(NodeProto {
        kind: API_SCAN.to_string(),
        recipe,
        schema: Some(protobuf::Schema::try_from(scan.schema().as_ref())?),
        declared,
    })
}

impl DdstreamCodec {
    fn decode_scan(&self, node: &NodeProto) -> DFResult<Arc<dyn ExecutionPlan>> {
        let wire: WireScan = serde_json::from_str(&node.recipe).map_err(|e| {
            codec_error(format!(
                "this worker cannot read a scan from the coordinator ({e}); run the same ddstream version ({VERSION}) on the coordinator and every worker"
            ))
        })?;
        if wire.version != VERSION {
            return Err(codec_error(format!(
                "the coordinator runs ddstream {} and this worker {VERSION}; run the same version everywhere",
                wire.version
            )));
        }
        let vendor = vendor(&wire.vendor).ok_or_else(|| {
            codec_error(format!(
                "this worker has no vendor '{}'; run the same ddstream version on the coordinator and every worker",
                wire.vendor
            ))
        })?;
        let mut options: Options = wire
            .options
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    WireValue::Text(t) => OptionValue::Text(t),
                    WireValue::Json(j) => OptionValue::Json(j),
                };
                (k, v)
            })
            .collect();
        if let Some(tasks) = wire.tasks.as_ref().filter(|t| t.len() > 1) {
            // Each task spends its share of the API's rate budget.
            options.push((
                "rate_limit_share".to_string(),
                OptionValue::Text(tasks.len().to_string()),
            ));
        }
        let declared: Vec<FieldRef> = match &node.declared {
            Some(schema) => Schema::try_from(schema)?.fields().iter().cloned().collect(),
            None => Vec::new(),
        };
        let table = build_table(vendor, &self.defaults, options, &declared, None)
            .map_err(to_datafusion_error)?;
        let tasks = wire.tasks.map(|tasks| {
            tasks
                .into_iter()
                .map(|t| {
                    t.into_iter()
                        .map(|p| p.into_iter().map(|(s, e)| TimeWindow::new(s, e)).collect())
                        .collect()
                })
                .collect()
        });
        let exec = table
            .rebuild_scan(&wire.inputs)
            .map_err(to_datafusion_error)?
            .with_tasks(tasks);
        if let Some(expected) = &node.schema {
            let expected = Schema::try_from(expected)?;
            if exec.schema().fields() != expected.fields() {
                return Err(codec_error(format!(
                    "{}: this worker's table has other columns than the coordinator's; run the same ddstream version with the same table options everywhere",
                    wire.vendor
                )));
            }
        }
        Ok(Arc::new(exec))
    }
}

impl PhysicalExtensionCodec for DdstreamCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if !inputs.is_empty() {
            return Err(codec_error(format!(
                "a ddstream scan has no inputs, but the plan gives it {}",
                inputs.len()
            )));
        }
        let node = NodeProto::decode(buf).map_err(|e| {
            codec_error(format!(
                "this worker cannot read a plan node from the coordinator ({e}); run the same ddstream version ({VERSION}) everywhere"
            ))
        })?;
        match node.kind.as_str() {
            API_SCAN => self.decode_scan(&node),
            other => Err(codec_error(format!(
                "this worker does not know the plan node '{other}'; run the same ddstream version ({VERSION}) everywhere"
            ))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DFResult<()> {
        let Some(scan) = node.downcast_ref::<ApiScanExec>() else {
            return Err(codec_error(format!(
                "{} cannot be sent to a worker",
                node.name()
            )));
        };
        encode_scan(scan)?
            .encode(buf)
            .map_err(|e| codec_error(format!("cannot encode a scan for the workers: {e}")))
    }
}
