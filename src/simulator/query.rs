//! Parser for classic Datadog metric queries as the simulator understands them:
//! `q0,q1,...` where each sub-query is
//! `[space_agg:]metric{scope}[ by {key[,key]}][.rollup(time_agg[,seconds])]`.
//!
//! Commas split sub-queries only outside braces and parentheses, because scopes
//! (`{env:prod,host:web-1}`) and rollups contain commas too. Errors are plain messages; the
//! handler prefixes them with `Error parsing query: `.

use super::data::{self, Agg};

/// One tag filter of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScopeTag {
    /// `key:value` (or a bare tag, which matches no simulated host).
    pub tag: String,
    /// Written as `!tag`: hosts carrying the tag are excluded.
    pub negated: bool,
}

impl ScopeTag {
    fn matches(&self, host: &str) -> bool {
        data::host_has_tag(host, &self.tag) != self.negated
    }

    /// The tag as written (with its `!`).
    pub fn text(&self) -> String {
        if self.negated {
            format!("!{}", self.tag)
        } else {
            self.tag.clone()
        }
    }
}

/// `.rollup(method[, seconds])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rollup {
    pub agg: Agg,
    pub interval_s: Option<i64>,
}

/// One parsed sub-query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubQuery {
    /// The explicit `agg:` prefix; `None` means the default (avg) and a null `aggr`.
    pub space_agg: Option<Agg>,
    pub metric: String,
    /// The scope's tags, ANDed; empty for `*`.
    pub scope: Vec<ScopeTag>,
    /// Tag keys of `by {...}`, in the order written.
    pub group_by: Vec<String>,
    pub rollup: Option<Rollup>,
}

impl SubQuery {
    /// The simulated hosts matching the scope, in [`data::HOSTS`] order.
    pub fn matching_hosts(&self) -> Vec<&'static str> {
        data::HOSTS
            .iter()
            .map(|&(host, _)| host)
            .filter(|host| self.scope.iter().all(|t| t.matches(host)))
            .collect()
    }

    /// The scope as written, normalised: `*` or the tags joined with `,`.
    pub fn scope_text(&self) -> String {
        if self.scope.is_empty() {
            "*".to_string()
        } else {
            self.scope
                .iter()
                .map(ScopeTag::text)
                .collect::<Vec<_>>()
                .join(",")
        }
    }

    /// The `.rollup(...)` suffix of expressions, as written (empty without a rollup).
    pub fn rollup_text(&self) -> String {
        match self.rollup {
            None => String::new(),
            Some(Rollup {
                agg,
                interval_s: None,
            }) => format!(".rollup({agg})"),
            Some(Rollup {
                agg,
                interval_s: Some(n),
            }) => format!(".rollup({agg},{n})"),
        }
    }
}

/// Parses a full `query` parameter into its sub-queries.
pub(super) fn parse_query(q: &str) -> Result<Vec<SubQuery>, String> {
    split_top_level(q)?
        .into_iter()
        .map(parse_sub_query)
        .collect()
}

/// Splits on commas at brace/parenthesis depth 0.
pub(super) fn split_top_level(q: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in q.char_indices() {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("unbalanced '{c}' at position {i}"));
                }
            }
            ',' if depth == 0 => {
                parts.push(&q[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced braces or parentheses".to_string());
    }
    parts.push(&q[start..]);
    if let Some(i) = parts.iter().position(|p| p.trim().is_empty()) {
        return Err(format!("empty query at position {i}"));
    }
    Ok(parts)
}

/// Parses one sub-query.
pub(super) fn parse_sub_query(s: &str) -> Result<SubQuery, String> {
    let s = s.trim();
    let open = s
        .find('{')
        .ok_or_else(|| format!("missing scope '{{...}}' in '{s}'"))?;
    let (space_agg, metric) = match s[..open].split_once(':') {
        Some((agg, metric)) => (Some(parse_space_agg(agg)?), metric.trim()),
        None => (None, s[..open].trim()),
    };
    check_metric(metric)?;
    let (scope_body, mut rest) = take_braced(&s[open..])?;
    let scope = parse_scope(scope_body)?;

    let mut group_by = None;
    let mut rollup = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("by") {
            if group_by.is_some() {
                return Err("'by' given twice".to_string());
            }
            let (keys, after) = take_braced(after.trim_start())?;
            group_by = Some(parse_group_keys(keys)?);
            rest = after;
        } else if let Some(after) = rest.strip_prefix(".rollup") {
            if rollup.is_some() {
                return Err("'.rollup()' given twice".to_string());
            }
            let (args, after) = take_parenthesised(after.trim_start())?;
            rollup = Some(parse_rollup(args)?);
            rest = after;
        } else {
            return Err(format!("unexpected '{rest}'"));
        }
    }
    Ok(SubQuery {
        space_agg,
        metric: metric.to_string(),
        scope,
        group_by: group_by.unwrap_or_default(),
        rollup,
    })
}

fn parse_space_agg(s: &str) -> Result<Agg, String> {
    match s.trim().parse::<Agg>()? {
        Agg::Count => Err("'count' is not a space aggregator (use avg, min, max or sum)".into()),
        agg => Ok(agg),
    }
}

fn check_metric(metric: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match metric.chars().next() {
        None => Err("missing metric name".to_string()),
        Some(c) if !c.is_ascii_alphabetic() => {
            Err(format!("metric name '{metric}' must start with a letter"))
        }
        _ if !metric.chars().all(ok_char) => {
            Err(format!("invalid character in metric name '{metric}'"))
        }
        _ => Ok(()),
    }
}

/// `{body}rest` → `(body, rest)`.
fn take_braced(s: &str) -> Result<(&str, &str), String> {
    take_delimited(s, '{', '}')
}

/// `(body)rest` → `(body, rest)`.
fn take_parenthesised(s: &str) -> Result<(&str, &str), String> {
    take_delimited(s, '(', ')')
}

fn take_delimited(s: &str, open: char, close: char) -> Result<(&str, &str), String> {
    let body = s
        .strip_prefix(open)
        .ok_or_else(|| format!("expected '{open}' at '{s}'"))?;
    let end = body
        .find(close)
        .ok_or_else(|| format!("missing '{close}' in '{s}'"))?;
    Ok((&body[..end], &body[end + close.len_utf8()..]))
}

fn parse_scope(body: &str) -> Result<Vec<ScopeTag>, String> {
    let mut tags = Vec::new();
    for raw in body.split(',') {
        let raw = raw.trim();
        if raw == "*" {
            continue;
        }
        let (negated, tag) = match raw.strip_prefix('!') {
            Some(t) => (true, t.trim()),
            None => (false, raw),
        };
        if tag.is_empty() || tag.contains(['{', '}', '(', ')', ' ']) {
            return Err(format!("invalid tag '{raw}' in scope '{{{body}}}'"));
        }
        tags.push(ScopeTag {
            tag: tag.to_string(),
            negated,
        });
    }
    if tags.is_empty() && !body.split(',').any(|t| t.trim() == "*") {
        return Err("empty scope (use '{*}' for all hosts)".to_string());
    }
    Ok(tags)
}

fn parse_group_keys(body: &str) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    for key in body.split(',').map(str::trim) {
        if !matches!(key, "host" | "env") {
            return Err(format!(
                "unsupported group-by key '{key}' (the simulated hosts have 'host' and 'env' tags)"
            ));
        }
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
    }
    Ok(keys)
}

fn parse_rollup(args: &str) -> Result<Rollup, String> {
    let (agg, interval) = match args.split_once(',') {
        Some((agg, n)) => (agg, Some(n.trim())),
        None => (args, None),
    };
    let agg = agg.trim().parse::<Agg>()?;
    let interval_s = match interval {
        None => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if (1..=data::MAX_WINDOW_S).contains(&n) => Some(n),
            _ => {
                return Err(format!(
                    "invalid rollup interval '{n}' (expected seconds between 1 and {})",
                    data::MAX_WINDOW_S
                ))
            }
        },
    };
    Ok(Rollup { agg, interval_s })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_at_depth_zero() {
        let q = "avg:a{env:prod,host:web-1} by {host,env}.rollup(sum,60), b{*}";
        let parts = split_top_level(q).expect("splits");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].trim(), "b{*}");
        assert!(split_top_level("a{*},").is_err());
        assert!(split_top_level("a{*}}").is_err());
        assert!(split_top_level("a{*").is_err());
    }

    #[test]
    fn parses_the_full_grammar() {
        let q = parse_sub_query(
            " sum:system.cpu.user{env:prod, !host:web-2} by{host}.rollup(max, 120) ",
        )
        .expect("parses");
        assert_eq!(q.space_agg, Some(Agg::Sum));
        assert_eq!(q.metric, "system.cpu.user");
        assert_eq!(q.scope_text(), "env:prod,!host:web-2");
        assert_eq!(q.group_by, vec!["host"]);
        assert_eq!(
            q.rollup,
            Some(Rollup {
                agg: Agg::Max,
                interval_s: Some(120)
            })
        );
        assert_eq!(q.matching_hosts(), vec!["web-1"]);
        assert_eq!(q.rollup_text(), ".rollup(max,120)");

        let q = parse_sub_query("system.cpu.idle{*}").expect("parses");
        assert_eq!(q.space_agg, None);
        assert!(q.scope.is_empty());
        assert_eq!(q.scope_text(), "*");
        assert_eq!(q.matching_hosts().len(), 3);
        let q = parse_sub_query("m{*} by {env} .rollup(count)").expect("parses");
        assert_eq!(q.rollup.map(|r| r.interval_s), Some(None));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "system.cpu.user",
            "foo:m{*}",
            "count:m{*}",
            "m{}",
            "m{*} by {}",
            "m{*} by {service}",
            "m{*}.rollup(avg,abc)",
            "m{*}.rollup(avg,0)",
            "m{*}.rollup(median)",
            "m{*} junk",
            "1m{*}",
            "m{*}.rollup(avg",
        ] {
            assert!(parse_query(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
