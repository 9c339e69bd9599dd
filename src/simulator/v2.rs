//! What the two v2 query endpoints (`POST /api/v2/query/timeseries` in [`super::v2_timeseries`]
//! and `POST /api/v2/query/scalar` in [`super::v2_scalar`]) share: the request envelope and
//! its validation, the groups of a query, and formulas evaluated over the queries' groups.
//!
//! Both endpoints compute, per query, one row of values per group (a timeseries row has one
//! value per bucket, a scalar row one value); [`outputs`] turns those into the series or
//! columns answered: the queries themselves without formulas, else one per formula.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::data;
use super::formula::{self, Expr};
use super::json;
use super::pipeline::Answer;
use super::query::{self, SubQuery};
use super::v1;

/// The prefix of Datadog's request-validation messages.
pub(super) const INVALID: &str = "API input validation failed: ";

/// Latest accepted timestamp, in ms (the v1 limit, end of year 9999).
const MAX_TS_MS: i64 = v1::MAX_TS_S * 1000;

/// `data.attributes` of both request types, as sent (validated in [`parse_request`]).
#[derive(Deserialize)]
struct Attributes {
    from: Option<Value>,
    to: Option<Value>,
    interval: Option<Value>,
    queries: Option<Vec<QuerySpec>>,
    formulas: Option<Vec<FormulaSpec>>,
}

#[derive(Deserialize)]
struct QuerySpec {
    data_source: Option<String>,
    name: Option<String>,
    query: Option<String>,
    aggregator: Option<String>,
}

#[derive(Deserialize)]
struct FormulaSpec {
    formula: Option<String>,
    alias: Option<String>,
    limit: Option<Value>,
}

/// A validated v2 request.
pub(super) struct V2Request {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `from` in seconds, rounded down.
    pub from_s: i64,
    /// `to` in seconds, rounded up.
    pub to_s: i64,
    /// `interval` in ms, if given (positive).
    pub interval_ms: Option<i64>,
    pub queries: Vec<Query>,
    pub formulas: Vec<Formula>,
}

/// One metrics query of the request.
pub(super) struct Query {
    pub name: Option<String>,
    /// The query string as sent.
    pub text: String,
    pub sub: SubQuery,
    /// The scalar `aggregator` as sent (checked by the scalar endpoint).
    pub aggregator: Option<String>,
}

impl Query {
    /// The name of its scalar column: its `name`, else the query string.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.text)
    }
}

/// One formula of the request.
pub(super) struct Formula {
    pub text: String,
    pub alias: Option<String>,
    pub expr: Expr,
    /// Each variable with the index of the query it names, in order of first appearance.
    pub vars: Vec<(String, usize)>,
    /// `limit` as sent (only the scalar endpoint reads it).
    pub limit: Option<Value>,
}

/// Validates a request body whose `data.type` must be `kind`, or returns the 400 message.
pub(super) fn parse_request(body: Option<&str>, kind: &str) -> Result<V2Request, String> {
    let body = body.ok_or_else(|| format!("{INVALID}the request body is empty"))?;
    let root: Value = serde_json::from_str(body)
        .map_err(|e| format!("{INVALID}the request body is not valid JSON ({e})"))?;
    let data = root
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| format!("{INVALID}'data' is required"))?;
    // Datadog checks the type first (its recorded 400 also had from/to in seconds).
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(format!("{INVALID}Invalid type. Expected \"{kind}\"."));
    }
    let attrs = data
        .get("attributes")
        .ok_or_else(|| format!("{INVALID}'data.attributes' is required"))?;
    let attrs = Attributes::deserialize(attrs).map_err(|e| format!("{INVALID}{e}"))?;

    let from_ms = timestamp_ms(attrs.from.as_ref(), "from")?;
    let to_ms = timestamp_ms(attrs.to.as_ref(), "to")?;
    if from_ms >= to_ms {
        return Err(format!("{INVALID}'from' must be before 'to'"));
    }
    let (from_s, to_s) = data::window_s_of_ms(from_ms, to_ms);
    let interval_ms = attrs.interval.as_ref().map(interval_ms).transpose()?;

    let specs = attrs.queries.unwrap_or_default();
    if specs.is_empty() {
        return Err(format!("{INVALID}'queries' must hold at least one query"));
    }
    let queries = specs
        .into_iter()
        .enumerate()
        .map(|(i, spec)| parse_query(i, spec))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, q) in queries.iter().enumerate() {
        if let Some(name) = &q.name {
            if queries[..i].iter().any(|p| p.name.as_ref() == Some(name)) {
                return Err(format!("{INVALID}two queries are named '{name}'"));
            }
        }
    }

    let window_s = to_s - from_s;
    v1::check_retention(window_s)?;
    let subs: Vec<SubQuery> = queries.iter().map(|q| q.sub.clone()).collect();
    v1::check_toobig(window_s, &subs)?;

    let formulas = attrs
        .formulas
        .unwrap_or_default()
        .into_iter()
        .map(|spec| parse_formula(spec, &queries))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(V2Request {
        from_ms,
        to_ms,
        from_s,
        to_s,
        interval_ms,
        queries,
        formulas,
    })
}

fn timestamp_ms(value: Option<&Value>, name: &str) -> Result<i64, String> {
    let value = value.ok_or_else(|| format!("{INVALID}'{name}' is required"))?;
    match value.as_i64() {
        Some(ms) if (0..=MAX_TS_MS).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "{INVALID}'{name}' must be a timestamp in milliseconds since the Unix epoch, got {value}"
        )),
    }
}

fn interval_ms(value: &Value) -> Result<i64, String> {
    match value.as_i64() {
        Some(ms) if (1..=data::MAX_WINDOW_S * 1000).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "{INVALID}'interval' must be a positive number of milliseconds, got {value}"
        )),
    }
}

fn parse_query(i: usize, spec: QuerySpec) -> Result<Query, String> {
    match spec.data_source.as_deref() {
        Some("metrics") => {}
        Some(other) => {
            return Err(format!(
                "{INVALID}queries[{i}]: unsupported data_source '{other}' (the simulator serves 'metrics' only)"
            ))
        }
        None => return Err(format!("{INVALID}queries[{i}]: 'data_source' is required")),
    }
    let text = spec
        .query
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| format!("{INVALID}queries[{i}]: 'query' is required"))?;
    let mut subs = query::parse_query(&text).map_err(|e| format!("Error parsing query: {e}"))?;
    if subs.len() != 1 {
        return Err(format!(
            "Error parsing query: '{text}' holds {} queries; send one query object per metric",
            subs.len()
        ));
    }
    Ok(Query {
        name: spec.name,
        text,
        sub: subs.remove(0),
        aggregator: spec.aggregator,
    })
}

fn parse_formula(spec: FormulaSpec, queries: &[Query]) -> Result<Formula, String> {
    let text = spec
        .formula
        .ok_or_else(|| format!("{INVALID}formulas: 'formula' is required"))?;
    let expr = formula::parse(&text).map_err(|e| format!("Invalid formula '{text}': {e}"))?;
    let vars = expr
        .variables()
        .into_iter()
        .map(|var| {
            queries
                .iter()
                .position(|q| q.name.as_deref() == Some(var))
                .map(|i| (var.to_string(), i))
                .ok_or_else(|| {
                    format!("Invalid formula '{text}': unknown variable '{var}' (no query has that name)")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Formula {
        text,
        alias: spec.alias,
        expr,
        vars,
        limit: spec.limit,
    })
}

/// The hosts of each group of `sub`, keyed by the group's tags (`host:web-1`, sorted; empty
/// without a group-by), in key order. Groups exist only for matching hosts.
pub(super) fn host_groups(sub: &SubQuery) -> BTreeMap<Vec<String>, Vec<&'static str>> {
    let mut groups: BTreeMap<Vec<String>, Vec<&'static str>> = BTreeMap::new();
    for host in sub.matching_hosts() {
        let mut tags: Vec<String> = sub
            .group_by
            .iter()
            .map(|key| format!("{key}:{}", data::host_tag_value(host, key).unwrap_or("N/A")))
            .collect();
        tags.sort();
        groups.entry(tags).or_default().push(host);
    }
    groups
}

/// One row of values per group, keyed by group tags.
pub(super) type Groups = BTreeMap<Vec<String>, Vec<Option<f64>>>;

/// What one query computed: its values per group (all-null groups included).
pub(super) struct QueryValues {
    /// Whether the query has a group-by (an ungrouped one broadcasts in formulas).
    pub grouped: bool,
    pub unit: Option<&'static str>,
    pub groups: Groups,
}

/// One series set (timeseries) or number column (scalar) of the response.
pub(super) struct Output {
    /// The formula's alias or text, or the query's label.
    pub name: String,
    pub unit: Option<&'static str>,
    /// Values per group, sorted by group tags; all-null groups still included.
    pub groups: Groups,
}

/// The outputs of a request: the queries without formulas, else one per formula, in order
/// (the position is the `query_index`). `len` is the length of every row.
pub(super) fn outputs(req: &V2Request, values: Vec<QueryValues>, len: usize) -> Vec<Output> {
    if req.formulas.is_empty() {
        return values
            .into_iter()
            .zip(&req.queries)
            .map(|(v, q)| Output {
                name: q.label().to_string(),
                unit: v.unit,
                groups: v.groups,
            })
            .collect();
    }
    req.formulas
        .iter()
        .map(|f| evaluate(f, &values, len))
        .collect()
}

/// A formula pointwise over its variables' groups: grouped variables are joined on identical
/// group tags (groups missing from one of them are left out), ungrouped ones broadcast to
/// every group.
fn evaluate(f: &Formula, values: &[QueryValues], len: usize) -> Output {
    let grouped: Vec<&QueryValues> = f
        .vars
        .iter()
        .map(|&(_, i)| &values[i])
        .filter(|v| v.grouped)
        .collect();
    let keys: Vec<Vec<String>> = match grouped.split_first() {
        None => vec![Vec::new()],
        Some((first, rest)) => first
            .groups
            .keys()
            .filter(|k| rest.iter().all(|v| v.groups.contains_key(*k)))
            .cloned()
            .collect(),
    };
    let no_tags: &[String] = &[];
    let groups = keys
        .into_iter()
        .map(|key| {
            let rows: Vec<(&str, Option<&Vec<Option<f64>>>)> = f
                .vars
                .iter()
                .map(|(name, i)| {
                    let v = &values[*i];
                    let row = if v.grouped {
                        v.groups.get(&key)
                    } else {
                        v.groups.get(no_tags)
                    };
                    (name.as_str(), row)
                })
                .collect();
            let row = (0..len)
                .map(|j| {
                    f.expr.eval(&|var| {
                        rows.iter()
                            .find(|(name, _)| *name == var)
                            .and_then(|(_, row)| row.and_then(|r| r.get(j).copied().flatten()))
                    })
                })
                .collect();
            (key, row)
        })
        .collect();
    Output {
        name: f.alias.clone().unwrap_or_else(|| f.text.clone()),
        unit: formula_unit(f, values),
        groups,
    }
}

/// A formula's unit: that of its first variable if all its variables share it, else null.
fn formula_unit(f: &Formula, values: &[QueryValues]) -> Option<&'static str> {
    let mut units = f.vars.iter().map(|&(_, i)| values[i].unit);
    let first = units.next()??;
    units.all(|u| u == Some(first)).then_some(first)
}

/// Whether a row has at least one value (all-null groups are left out of responses).
pub(super) fn has_data(row: &[Option<f64>]) -> bool {
    row.iter().any(Option::is_some)
}

/// The pipeline's answer for a computed body or a 400 message.
pub(super) fn answer(result: Result<String, String>) -> Answer {
    match result {
        Ok(body) => Answer::new(StatusCode::OK, body),
        Err(message) => Answer::new(StatusCode::BAD_REQUEST, json::error_body(&message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(attrs: Value) -> String {
        serde_json::json!({"data": {"type": "timeseries_request", "attributes": attrs}}).to_string()
    }

    fn err(attrs: Value) -> String {
        match parse_request(Some(&body(attrs)), "timeseries_request") {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    fn q(name: &str, query: &str) -> Value {
        serde_json::json!({"data_source": "metrics", "name": name, "query": query})
    }

    #[test]
    fn validation_messages() {
        let ok = |extra: Value| {
            let mut a = serde_json::json!({"from": 0, "to": 60_000, "queries": [q("a", "m{*}")]});
            if let (Some(a), Some(extra)) = (a.as_object_mut(), extra.as_object()) {
                a.extend(extra.clone());
            }
            a
        };
        assert!(err(ok(serde_json::json!({"from": 60_000}))).contains("before"));
        assert!(err(ok(serde_json::json!({"from": 1.5}))).contains("'from'"));
        assert!(err(ok(serde_json::json!({"to": "x"}))).contains("'to'"));
        assert!(err(ok(serde_json::json!({"queries": []}))).contains("at least one"));
        assert!(err(ok(serde_json::json!({"interval": 0}))).contains("'interval'"));
        let two = serde_json::json!({"queries": [q("a", "m{*},n{*}")]});
        assert!(err(ok(two)).contains("holds 2 queries"));
        let dup = serde_json::json!({"queries": [q("a", "m{*}"), q("a", "n{*}")]});
        assert!(err(ok(dup)).contains("two queries"));
        let logs =
            serde_json::json!({"queries": [{"data_source": "logs", "name": "a", "query": "m{*}"}]});
        assert!(err(ok(logs)).contains("data_source 'logs'"));
        let unknown = serde_json::json!({"formulas": [{"formula": "a + c"}]});
        assert!(err(ok(unknown)).contains("unknown variable 'c'"));
        let syntax = serde_json::json!({"formulas": [{"formula": "a +"}]});
        assert!(err(ok(syntax)).starts_with("Invalid formula 'a +'"));
        let req = parse_request(
            Some(&body(ok(serde_json::json!({"to": 60_001})))),
            "timeseries_request",
        )
        .expect("valid");
        assert_eq!((req.from_s, req.to_s), (0, 61));
    }

    #[test]
    fn formulas_join_groups_and_broadcast() {
        let row = |v: &[f64]| v.iter().copied().map(Some).collect::<Vec<_>>();
        let tags = |t: &str| vec![t.to_string()];
        let grouped = |pairs: &[(&str, &[f64])]| QueryValues {
            grouped: true,
            unit: None,
            groups: pairs.iter().map(|(t, v)| (tags(t), row(v))).collect(),
        };
        let values = vec![
            grouped(&[("host:a", &[1.0, 2.0]), ("host:b", &[3.0, 4.0])]),
            grouped(&[("host:b", &[10.0, 20.0]), ("host:c", &[0.0, 0.0])]),
            QueryValues {
                grouped: false,
                unit: None,
                groups: [(Vec::new(), vec![Some(100.0), None])]
                    .into_iter()
                    .collect(),
            },
        ];
        let formula = |text: &str| {
            let expr = formula::parse(text).expect("parses");
            let names = ["a", "b", "c"];
            let vars = expr
                .variables()
                .into_iter()
                .map(|v| {
                    (
                        v.to_string(),
                        names.iter().position(|n| *n == v).expect("known"),
                    )
                })
                .collect();
            Formula {
                text: text.to_string(),
                alias: None,
                expr,
                vars,
                limit: None,
            }
        };
        let out = evaluate(&formula("a + b"), &values, 2);
        assert_eq!(out.groups.len(), 1);
        assert_eq!(out.groups[&tags("host:b")], row(&[13.0, 24.0]));
        let out = evaluate(&formula("a * c"), &values, 2);
        assert_eq!(out.groups.len(), 2);
        assert_eq!(out.groups[&tags("host:a")], vec![Some(100.0), None]);
        let out = evaluate(&formula("c / 4"), &values, 2);
        assert_eq!(out.groups[&Vec::new()], vec![Some(25.0), None]);
    }
}
