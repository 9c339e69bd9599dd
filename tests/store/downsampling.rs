//! downsample_streams and get_data: range rules, many points in one second, nulls, null
//! buckets across two runs, the downsample freeze, the downsampler maths.

use chrono::{DateTime, Duration, Utc};
use ddstream::store::{DataQuery, Granularity, StreamSpec, Time};
use serde_json::{json, Value};

use crate::common::{append_all, at, data, downsample, key, store, stream, values};

const MIN: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;
const MAX: DateTime<Utc> = DateTime::<Utc>::MAX_UTC;

#[tokio::test]
async fn first_downsampled_point_and_selections() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "foobar", Granularity::Seconds).await;
    let t0 = at(1, 12, 0, 3);
    ds.append(&id, json!(42), Some(t0), true).await.unwrap();
    ds.append(&id, json!(42), Some(t0 + Duration::minutes(1)), true)
        .await
        .unwrap();
    let new = ds
        .downsample_streams(None, Some(t0 + Duration::minutes(2)), true, None)
        .await
        .unwrap();
    // Latest is 12:01:03: 10-second buckets 12:00:00 .. 12:00:50 (6) and the minute 12:00.
    assert_eq!(new.len(), 7);
    assert_eq!(new[0].granularity, Granularity::Seconds10);
    assert_eq!(
        new[0].datapoint.v,
        Some(json!({"c": 1, "d": 0.0, "m": 42.0, "l": 42.0, "q": 1764.0, "s": 42.0, "u": 42.0}))
    );
    assert_eq!(new[6].granularity, Granularity::Minutes);
    assert_eq!(new[6].datapoint.key("c"), Some(&json!(1)));
    let tags = ds.get_tags(&id).await.unwrap();
    assert_eq!(
        tags["downsampled_until"]["10seconds"],
        json!("2000-01-01T12:01:00Z")
    );
    assert_eq!(
        tags["downsampled_until"]["minutes"],
        json!("2000-01-01T12:01:00Z")
    );
    assert_eq!(tags["downsampled_until"]["10minutes"], Value::Null);
    assert_eq!(tags["earliest_datapoint"], json!("2000-01-01T12:00:03Z"));
    assert_eq!(tags["latest_datapoint"], json!("2000-01-01T12:01:03Z"));

    let q = || DataQuery::start(DateTime::UNIX_EPOCH).end(t0 + Duration::hours(1));
    let full = data(&ds, &id, Granularity::Minutes, q()).await;
    assert_eq!(full.len(), 1);
    let p = &full[0];
    let keys: Vec<&str> =
        p.v.as_ref()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
    assert_eq!(keys.len(), 7);
    // Null 10-second buckets carry their middle as first/last time (12:00:15 .. 12:00:55).
    assert_eq!(
        p.t,
        Some(Time::Keys {
            first: Some(t0),
            mean: Some(t0),
            last: Some(at(1, 12, 0, 55))
        })
    );
    let count_only = data(
        &ds,
        &id,
        Granularity::Minutes,
        q().value_downsamplers(["count"]),
    )
    .await;
    assert_eq!(count_only[0].v, Some(json!({"c": 1})));
    assert_eq!(count_only[0].t, p.t);
    let first = data(
        &ds,
        &id,
        Granularity::Minutes,
        q().time_downsamplers(["first"]),
    )
    .await;
    assert_eq!(
        first[0].t,
        Some(Time::Keys {
            first: Some(t0),
            mean: None,
            last: None
        })
    );
    assert_eq!(first[0].v, p.v);
    let no_v = data(
        &ds,
        &id,
        Granularity::Minutes,
        q().value_downsamplers(Vec::<String>::new()),
    )
    .await;
    assert_eq!(no_v[0].v, None);
    assert_eq!(no_v[0].t, p.t);
    let no_t = data(
        &ds,
        &id,
        Granularity::Minutes,
        q().time_downsamplers(Vec::<String>::new()),
    )
    .await;
    assert_eq!(no_t[0].t, None);
    assert_eq!(no_t[0].to_json(), json!({"v": p.v.clone().unwrap()}));
    let nothing = data(
        &ds,
        &id,
        Granularity::Minutes,
        q().value_downsamplers(Vec::<String>::new())
            .time_downsamplers(Vec::<String>::new()),
    )
    .await;
    assert_eq!(nothing[0].to_json(), json!({}));
    // At the highest granularity the selections are ignored.
    let raw = data(
        &ds,
        &id,
        Granularity::Seconds,
        q().value_downsamplers(["count"]),
    )
    .await;
    assert_eq!(values(&raw), vec![json!(42.0), json!(42.0)]);
}

#[tokio::test]
async fn range_semantics_at_every_granularity() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "foodata", Granularity::Seconds).await;
    let s = at(1, 12, 0, 0);
    let e = at(1, 12, 1, 0);
    append_all(
        &ds,
        &id,
        (0..1200).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::seconds(1200)).await;
    let n = |g: Granularity, q: DataQuery| {
        let ds = ds.clone();
        let id = id.clone();
        async move { data(&ds, &id, g, q).await.len() }
    };
    use Granularity::*;
    // Seconds: end is inclusive.
    assert_eq!(n(Seconds, DataQuery::start(s).end(e)).await, 61);
    assert_eq!(n(Seconds, DataQuery::start_exclusive(s).end(e)).await, 60);
    assert_eq!(n(Seconds, DataQuery::start(s).end_exclusive(e)).await, 60);
    assert_eq!(
        n(Seconds, DataQuery::start_exclusive(s).end_exclusive(e)).await,
        59
    );
    assert_eq!(n(Seconds, DataQuery::start(s)).await, 1200);
    assert_eq!(n(Seconds, DataQuery::start_exclusive(s)).await, 1199);
    for end in [Some(MAX), None] {
        let with = |q: DataQuery| match end {
            Some(e) => q.end(e),
            None => q,
        };
        assert_eq!(n(Seconds, with(DataQuery::start(s))).await, 1200);
        assert_eq!(n(Seconds, with(DataQuery::start_exclusive(s))).await, 1199);
        assert_eq!(n(Seconds, with(DataQuery::start(MIN))).await, 1200);
        assert_eq!(
            n(Seconds, with(DataQuery::start_exclusive(MIN))).await,
            1200
        );
    }
    assert_eq!(
        n(Seconds, DataQuery::start(s).end_exclusive(MAX)).await,
        1200
    );
    assert_eq!(n(Seconds, DataQuery::start(MIN).end(e)).await, 61);
    assert_eq!(n(Seconds, DataQuery::start_exclusive(MIN).end(e)).await, 61);
    assert_eq!(n(Seconds, DataQuery::start(MIN).end_exclusive(e)).await, 60);
    assert_eq!(
        n(Seconds, DataQuery::start_exclusive(MIN).end_exclusive(e)).await,
        60
    );
    // 10 seconds: the latest point 12:19:59 closes buckets up to 12:19:50 (119 of them).
    assert_eq!(n(Seconds10, DataQuery::start(s).end(e)).await, 7);
    assert_eq!(n(Seconds10, DataQuery::start_exclusive(s).end(e)).await, 6);
    assert_eq!(n(Seconds10, DataQuery::start(s).end_exclusive(e)).await, 6);
    assert_eq!(
        n(Seconds10, DataQuery::start_exclusive(s).end_exclusive(e)).await,
        5
    );
    assert_eq!(n(Seconds10, DataQuery::start(MIN).end(MAX)).await, 119);
    // Minutes: up to 12:19 (19), then 10 minutes 12:00 only, nothing coarser.
    assert_eq!(n(Minutes, DataQuery::start(s).end(e)).await, 2);
    assert_eq!(n(Minutes, DataQuery::start_exclusive(s).end(e)).await, 1);
    assert_eq!(n(Minutes, DataQuery::start(s).end_exclusive(e)).await, 1);
    assert_eq!(
        n(Minutes, DataQuery::start_exclusive(s).end_exclusive(e)).await,
        0
    );
    assert_eq!(n(Minutes, DataQuery::start(MIN).end(MAX)).await, 19);
    assert_eq!(n(Minutes10, DataQuery::start(MIN)).await, 1);
    assert_eq!(n(Hours, DataQuery::start(MIN)).await, 0);
    assert_eq!(n(Hours6, DataQuery::start(MIN)).await, 0);
    assert_eq!(n(Days, DataQuery::start(MIN)).await, 0);
    // A start inside a bucket is floored to it.
    assert_eq!(
        n(Minutes, DataQuery::start(s + Duration::seconds(30)).end(e)).await,
        2
    );
    // Newest first.
    let rev = data(
        &ds,
        &id,
        Seconds,
        DataQuery::start(s).end(s + Duration::seconds(2)).reverse(),
    )
    .await;
    assert_eq!(values(&rev), vec![json!(2.0), json!(1.0), json!(0.0)]);
    let rev = data(&ds, &id, Minutes, DataQuery::start(s).reverse()).await;
    assert_eq!(rev.len(), 19);
    assert_eq!(rev[0].ts, at(1, 12, 18, 0));
    // The mean of minute 12:18 is the mean of 1080 ..= 1139.
    assert_eq!(rev[0].key("m"), Some(&json!((1080.0 + 1139.0) / 2.0)));
}

#[tokio::test]
async fn many_points_in_one_second() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "fooclub", Granularity::Seconds).await;
    let ts = at(1, 12, 0, 0);
    for v in 1..=5 {
        ds.append(&id, json!(v), Some(ts), true).await.unwrap();
    }
    ds.append(&id, Value::Null, Some(ts + Duration::hours(10)), true)
        .await
        .unwrap();
    downsample(&ds, ts + Duration::hours(11)).await;
    use Granularity::*;
    let n = |g: Granularity, q: DataQuery| {
        let ds = ds.clone();
        let id = id.clone();
        async move { data(&ds, &id, g, q).await.len() }
    };
    assert_eq!(n(Seconds, DataQuery::start(ts)).await, 6);
    assert_eq!(n(Seconds, DataQuery::start(ts).end(ts)).await, 5);
    assert_eq!(n(Seconds, DataQuery::start_exclusive(ts)).await, 1);
    assert_eq!(n(Seconds, DataQuery::start_exclusive(ts).end(ts)).await, 0);
    assert_eq!(
        n(Seconds, DataQuery::start_exclusive(ts).end_exclusive(ts)).await,
        0
    );
    assert_eq!(n(Seconds, DataQuery::start(ts).end_exclusive(ts)).await, 0);
    // Equal timestamps come back in insertion order.
    let same = data(&ds, &id, Seconds, DataQuery::start(ts).end(ts)).await;
    assert_eq!(
        values(&same),
        (1..=5).map(|v| json!(f64::from(v))).collect::<Vec<_>>()
    );
    let ten = data(&ds, &id, Seconds10, DataQuery::start(ts)).await;
    // Null buckets fill the ten hours up to the null point: 3600 10-second buckets.
    assert_eq!(ten.len(), 3600);
    assert_eq!(
        ten[0].t,
        Some(Time::Keys {
            first: Some(ts),
            mean: Some(ts),
            last: Some(ts)
        })
    );
    // 1..5: count 5, sum 15, squares 55, mean 3, population σ √(55/5 − 9) = √2.
    assert_eq!(
        ten[0].v,
        Some(
            json!({"c": 5, "s": 15.0, "q": 55.0, "l": 1.0, "u": 5.0, "m": 3.0, "d": 2.0f64.sqrt()})
        )
    );
    assert_eq!(
        ten[1].v,
        Some(json!({"c": 0, "s": null, "q": null, "l": null, "u": null, "m": null, "d": null}))
    );
    let mid = at(1, 12, 0, 15);
    assert_eq!(
        ten[1].t,
        Some(Time::Keys {
            first: Some(mid),
            mean: Some(mid),
            last: Some(mid)
        })
    );
    assert_eq!(n(Minutes, DataQuery::start(ts)).await, 600);
    assert_eq!(n(Minutes10, DataQuery::start(ts)).await, 60);
    assert_eq!(n(Hours, DataQuery::start(ts)).await, 10);
    // 6 hours: hours close at 22:00, so 6-hour buckets before 18:00: only 12:00.
    assert_eq!(n(Hours6, DataQuery::start(ts)).await, 1);
    assert_eq!(n(Days, DataQuery::start(ts)).await, 0);

    // Three points per second (test_granularities_multiple).
    let m = stream(&ds, "multi", Granularity::Seconds).await;
    let s = at(2, 12, 0, 0);
    append_all(
        &ds,
        &m,
        (0..1200).flat_map(|i| (0..3).map(move |j| (json!(j * i), s + Duration::seconds(i)))),
    )
    .await;
    downsample(&ds, s + Duration::seconds(1200)).await;
    let e = s + Duration::minutes(1);
    let n = |g: Granularity, q: DataQuery| {
        let ds = ds.clone();
        let m = m.clone();
        async move { data(&ds, &m, g, q).await.len() }
    };
    assert_eq!(n(Seconds, DataQuery::start(s).end(e)).await, 3 * 61);
    assert_eq!(
        n(Seconds, DataQuery::start_exclusive(s).end_exclusive(e)).await,
        3 * 59
    );
    assert_eq!(n(Seconds, DataQuery::start_exclusive(s)).await, 3 * 1199);
    assert_eq!(n(Seconds10, DataQuery::start(MIN).end(MAX)).await, 119);
    assert_eq!(n(Minutes, DataQuery::start(MIN).end(MAX)).await, 19);
    let first = data(&ds, &m, Seconds10, DataQuery::start(s)).await;
    // Seconds 0..9, values 0, i, 2i: count 30, sum 3 · 45 = 135.
    assert_eq!(first[0].key("c"), Some(&json!(30)));
    assert_eq!(first[0].key("s"), Some(&json!(135.0)));
}

#[tokio::test]
async fn nulls_and_null_buckets_across_two_runs() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "foo", Granularity::Seconds).await;
    let points = [
        (Value::Null, at(1, 12, 0, 0)),
        (json!(10), at(1, 12, 0, 1)),
        (Value::Null, at(1, 12, 1, 0)),
        (Value::Null, at(1, 12, 1, 1)),
        (json!(2), at(1, 12, 2, 0)),
    ];
    append_all(&ds, &id, points.clone()).await;
    let raw = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(at(1, 12, 0, 0)).end(at(1, 12, 2, 0)),
    )
    .await;
    assert_eq!(
        values(&raw),
        vec![
            Value::Null,
            json!(10.0),
            Value::Null,
            Value::Null,
            json!(2.0)
        ]
    );
    downsample(&ds, at(2, 0, 0, 0)).await;
    let ten = data(
        &ds,
        &id,
        Granularity::Seconds10,
        DataQuery::start(at(1, 12, 0, 0)).end(at(1, 12, 2, 0)),
    )
    .await;
    assert_eq!(
        ten[0].v,
        Some(json!({"c": 1, "d": 0.0, "m": 10.0, "l": 10.0, "q": 100.0, "s": 10.0, "u": 10.0}))
    );
    // The null point at 12:00:00 counts for the first time, not for the mean time.
    assert_eq!(
        ten[0].t,
        Some(Time::Keys {
            first: Some(at(1, 12, 0, 0)),
            mean: Some(at(1, 12, 0, 1)),
            last: Some(at(1, 12, 0, 1))
        })
    );
    assert_eq!(
        ten[1].v,
        Some(json!({"c": 0, "d": null, "m": null, "l": null, "q": null, "s": null, "u": null}))
    );
    // 12:01:00 holds two null points: a real bucket with count 0, times from the points.
    assert_eq!(ten[6].ts, at(1, 12, 1, 0));
    assert_eq!(ten[6].key("c"), Some(&json!(0)));
    assert_eq!(
        ten[6].t,
        Some(Time::Keys {
            first: Some(at(1, 12, 1, 0)),
            mean: Some(at(1, 12, 1, 5)),
            last: Some(at(1, 12, 1, 1))
        })
    );
    assert_eq!(ten.len(), 12);

    // Null buckets across two downsample runs.
    let bar = stream(&ds, "bar", Granularity::Seconds).await;
    ds.append(&bar, json!(10), Some(at(1, 12, 0, 0)), true)
        .await
        .unwrap();
    ds.append(&bar, json!(20), Some(at(1, 12, 10, 0)), true)
        .await
        .unwrap();
    downsample(&ds, at(1, 12, 13, 45)).await;
    ds.append(&bar, json!(30), Some(at(1, 12, 20, 0)), true)
        .await
        .unwrap();
    ds.append(&bar, json!(30), Some(at(1, 12, 21, 0)), true)
        .await
        .unwrap();
    downsample(&ds, at(2, 0, 0, 0)).await;
    let minutes = data(
        &ds,
        &bar,
        Granularity::Minutes,
        DataQuery::start(at(1, 12, 0, 0)).end_exclusive(at(1, 12, 21, 0)),
    )
    .await;
    let mut expected = vec![json!(10.0)];
    expected.extend(std::iter::repeat_n(Value::Null, 9));
    expected.push(json!(20.0));
    expected.extend(std::iter::repeat_n(Value::Null, 9));
    expected.push(json!(30.0));
    assert_eq!(key(&minutes, "m"), expected);
}

#[tokio::test]
async fn downsample_freeze() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "fooclub", Granularity::Seconds).await;
    ds.append(&id, json!(1), Some(at(1, 12, 0, 0)), true)
        .await
        .unwrap();
    ds.append(&id, json!(1), Some(at(3, 12, 0, 0)), true)
        .await
        .unwrap();
    downsample(&ds, at(3, 12, 0, 10)).await;
    // Closed only up to the latest point's bucket: Jan 1 12:00 .. Jan 3 11:59:50 = 2 days.
    let ten = data(&ds, &id, Granularity::Seconds10, DataQuery::start(MIN)).await;
    assert_eq!(ten.len(), 2 * 24 * 360);
    for (i, t) in [
        at(3, 12, 0, 0),
        at(3, 12, 0, 5),
        at(3, 12, 0, 10),
        at(4, 12, 0, 0),
    ]
    .into_iter()
    .enumerate()
    {
        ds.append(&id, json!(i), Some(t), true).await.unwrap();
    }
    downsample(&ds, at(10, 12, 0, 0)).await;
    for t in [
        at(5, 12, 0, 0),
        at(9, 12, 0, 0),
        at(10, 12, 0, 0),
        at(10, 12, 0, 1),
    ] {
        ds.append(&id, json!(1), Some(t), true).await.unwrap();
    }
    // An unchecked append into the closed range is kept raw and never folded into buckets.
    let before = data(
        &ds,
        &id,
        Granularity::Seconds10,
        DataQuery::start(at(2, 0, 0, 0)).end(at(2, 0, 0, 0)),
    )
    .await;
    ds.append(&id, json!(100), Some(at(2, 0, 0, 3)), false)
        .await
        .unwrap();
    downsample(&ds, at(11, 0, 0, 0)).await;
    let after = data(
        &ds,
        &id,
        Granularity::Seconds10,
        DataQuery::start(at(2, 0, 0, 0)).end(at(2, 0, 0, 0)),
    )
    .await;
    assert_eq!(before, after);
    assert_eq!(before[0].key("c"), Some(&json!(0)));
    let raw = data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(at(2, 0, 0, 0)).end(at(2, 0, 0, 10)),
    )
    .await;
    assert_eq!(values(&raw), vec![json!(100.0)]);
}

/// xorshift64*: deterministic test data.
fn random_values(n: usize, seed: u64) -> Vec<i64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % 2001) as i64 - 1000
        })
        .collect()
}

#[tokio::test]
async fn downsampler_maths_at_every_granularity() {
    let (_dir, ds) = store().await;
    // 0.05 a hundred times: the variance rounds to a tiny number, which is zero.
    let small = stream(&ds, "small", Granularity::Seconds).await;
    let t0 = at(1, 0, 0, 0);
    append_all(
        &ds,
        &small,
        (0..100).map(|i| (json!(0.05), t0 + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, t0 + Duration::seconds(100)).await;
    let m = data(&ds, &small, Granularity::Minutes, DataQuery::start(t0)).await;
    assert_eq!(m[0].key("d"), Some(&json!(0.0)));

    let points = 43205usize;
    let interval = 2i64;
    let src = random_values(points, 42);
    let id = stream(&ds, "test", Granularity::Seconds).await;
    for (chunk_no, chunk) in src.chunks(5000).enumerate() {
        let base = chunk_no * 5000;
        append_all(
            &ds,
            &id,
            chunk.iter().enumerate().map(|(i, v)| {
                (
                    json!(v),
                    t0 + Duration::seconds((base + i) as i64 * interval),
                )
            }),
        )
        .await;
        downsample(
            &ds,
            t0 + Duration::seconds((base + chunk.len()) as i64 * interval),
        )
        .await;
    }
    let end = t0 + Duration::seconds(points as i64 * interval);
    downsample(&ds, end).await;
    assert_eq!(
        data(
            &ds,
            &id,
            Granularity::Seconds,
            DataQuery::start(t0).end(end)
        )
        .await
        .len(),
        points
    );
    for g in &Granularity::ALL[1..] {
        let n = (g.seconds() / interval) as usize;
        let first = &src[..n];
        let d = data(&ds, &id, *g, DataQuery::start(t0).end(end)).await;
        let p = &d[0];
        let sum: i64 = first.iter().sum();
        let squares: i64 = first.iter().map(|x| x * x).sum();
        assert_eq!(p.key("c"), Some(&json!(n)), "{g}");
        assert_eq!(p.key("s"), Some(&json!(sum as f64)), "{g}");
        assert_eq!(p.key("q"), Some(&json!(squares as f64)), "{g}");
        assert_eq!(
            p.key("l"),
            Some(&json!(*first.iter().min().unwrap() as f64)),
            "{g}"
        );
        assert_eq!(
            p.key("u"),
            Some(&json!(*first.iter().max().unwrap() as f64)),
            "{g}"
        );
        let mean = p.key("m").and_then(Value::as_f64).unwrap();
        assert!((mean - sum as f64 / n as f64).abs() < 1e-9, "{g}");
        let e = squares as f64 / n as f64 - (sum as f64 / n as f64).powi(2);
        let sd = p.key("d").and_then(Value::as_f64).unwrap();
        assert!((sd - e.sqrt()).abs() < 1e-6, "{g}: {sd} vs {}", e.sqrt());
        let last = t0 + Duration::seconds((n as i64 - 1) * interval);
        let mean_t = t0 + Duration::seconds((n as i64 - 1) * interval / 2);
        assert_eq!(
            p.t,
            Some(Time::Keys {
                first: Some(t0),
                mean: Some(mean_t),
                last: Some(last)
            }),
            "{g}"
        );
    }

    // A stream without value downsamplers is never downsampled.
    let up = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "up"}),
            json!({}),
            Vec::<String>::new(),
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    append_all(
        &ds,
        &up,
        (0..100).map(|i| (json!(0.05), t0 + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, t0 + Duration::seconds(100)).await;
    assert_eq!(
        data(
            &ds,
            &up,
            Granularity::Seconds,
            DataQuery::start(t0).end(end)
        )
        .await
        .len(),
        100
    );
    for g in &Granularity::ALL[1..] {
        assert!(
            data(&ds, &up, *g, DataQuery::start(t0).end(end))
                .await
                .is_empty(),
            "{g}"
        );
    }
}

#[tokio::test]
async fn many_streams_counts_and_pre_downsampled_appends() {
    let (_dir, ds) = store().await;
    // 10 streams × 1000 points every 4 s: 399 + 66 + 6 + 1 new datapoints each (test_concurrent).
    for i in 0..10 {
        let id = stream(&ds, &format!("s{i}"), Granularity::Seconds).await;
        append_all(
            &ds,
            &id,
            (0..1000).map(|j| (json!(1), at(1, 0, 0, 0) + Duration::seconds(4 * j))),
        )
        .await;
    }
    assert_eq!(downsample(&ds, at(2, 0, 0, 0)).await, 4720);
    assert_eq!(downsample(&ds, at(2, 0, 0, 0)).await, 0);

    // 200 points a second apart: the last closes 10-second buckets up to 12:03:10 (19).
    let c = stream(&ds, "count", Granularity::Seconds).await;
    let s = at(3, 12, 0, 0);
    append_all(
        &ds,
        &c,
        (0..200).map(|i| (json!(i), s + Duration::seconds(i))),
    )
    .await;
    downsample(&ds, s + Duration::hours(1)).await;
    assert_eq!(
        data(
            &ds,
            &c,
            Granularity::Seconds10,
            DataQuery::start(s).end(s + Duration::seconds(200))
        )
        .await
        .len(),
        19
    );

    // Pre-downsampled dicts are read key by key (test_already_downsampled).
    let d = stream(&ds, "dicts", Granularity::Seconds).await;
    let dict = json!({"m": 3, "s": 9, "l": 3, "u": 3, "q": 27, "d": 0, "c": 3});
    let mut batch = Vec::new();
    for i in 0..30 {
        let t = s + Duration::seconds(i);
        batch.push((dict.clone(), t));
        batch.extend(std::iter::repeat_n((json!(3), t), 3));
    }
    append_all(&ds, &d, batch).await;
    downsample(&ds, s + Duration::hours(1)).await;
    let ten = data(&ds, &d, Granularity::Seconds10, DataQuery::start(s)).await;
    // Per second: the dict's 3 values and 3 more: count 6, sum 18, squares 27 + 27.
    assert_eq!(
        ten[0].v,
        Some(json!({"c": 60, "s": 180.0, "q": 540.0, "l": 3.0, "u": 3.0, "m": 3.0, "d": 0.0}))
    );
    let d2 = stream(&ds, "dicts2", Granularity::Seconds).await;
    let empty =
        json!({"m": null, "s": null, "l": null, "u": null, "q": null, "d": null, "c": null});
    let one = json!({"m": 42, "s": 42, "l": 42, "u": 42, "q": null, "d": 0, "c": 1});
    append_all(
        &ds,
        &d2,
        (0..30).flat_map(|i| {
            [
                (empty.clone(), s + Duration::seconds(i)),
                (one.clone(), s + Duration::seconds(i)),
            ]
        }),
    )
    .await;
    downsample(&ds, s + Duration::hours(1)).await;
    let ten = data(&ds, &d2, Granularity::Seconds10, DataQuery::start(s)).await;
    assert_eq!(ten[0].key("c"), Some(&json!(10)));
    assert_eq!(ten[0].key("s"), Some(&json!(420.0)));
    assert_eq!(ten[0].key("m"), Some(&json!(42.0)));
    assert_eq!(ten[0].key("q"), Some(&Value::Null));
}

#[tokio::test]
async fn frequency_downsamplers_for_nominal_and_numeric() {
    let (_dir, ds) = store().await;
    let s = at(1, 0, 0, 0);
    let nominal = ds
        .ensure_stream(
            StreamSpec::new(
                json!({"name": "states"}),
                json!({}),
                ["most_often", "least_often"],
                Granularity::Seconds,
            )
            .value_type("nominal"),
        )
        .await
        .unwrap();
    assert_eq!(
        ds.get_tags(&nominal).await.unwrap()["value_downsamplers"],
        json!(["count", "most_often", "least_often", "frequencies"])
    );
    // Seconds 0-9: up ×5, down ×3, "x" ×2; 10-19: down ×6, up ×4; then one point at 60 s.
    let mut points = Vec::new();
    for (i, v) in [
        "up", "down", "up", "x", "up", "down", "up", "x", "up", "down",
    ]
    .iter()
    .enumerate()
    {
        points.push((json!(v), s + Duration::seconds(i as i64)));
    }
    for i in 10..20 {
        points.push((
            json!(if i < 16 { "down" } else { "up" }),
            s + Duration::seconds(i),
        ));
    }
    points.push((json!("up"), s + Duration::seconds(60)));
    append_all(&ds, &nominal, points).await;
    downsample(&ds, s + Duration::hours(1)).await;
    let ten = data(&ds, &nominal, Granularity::Seconds10, DataQuery::start(s)).await;
    assert_eq!(
        ten[0].v,
        Some(json!({"c": 10, "o": "up", "r": "x", "f": [["down", 3], ["up", 5], ["x", 2]]}))
    );
    assert_eq!(
        ten[1].v,
        Some(json!({"c": 10, "o": "down", "r": "up", "f": [["down", 6], ["up", 4]]}))
    );
    // The minute sums the frequency tables: down 9, up 9, x 2; the tie goes to the smaller value.
    let minute = data(&ds, &nominal, Granularity::Minutes, DataQuery::start(s)).await;
    assert_eq!(
        minute[0].v,
        Some(json!({"c": 20, "o": "down", "r": "x", "f": [["down", 9], ["up", 9], ["x", 2]]}))
    );

    let numeric = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "n"}),
            json!({}),
            ["frequencies", "most_often"],
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    append_all(
        &ds,
        &numeric,
        [1.5, 2.5, 1.5, 10.0]
            .iter()
            .enumerate()
            .map(|(i, v)| (json!(v), s + Duration::seconds(i as i64))),
    )
    .await;
    ds.append(&numeric, json!(0), Some(s + Duration::seconds(60)), true)
        .await
        .unwrap();
    downsample(&ds, s + Duration::hours(1)).await;
    let ten = data(&ds, &numeric, Granularity::Seconds10, DataQuery::start(s)).await;
    // Sorted by value numerically (2.5 before 10).
    assert_eq!(
        ten[0].v,
        Some(json!({"c": 4, "o": 1.5, "f": [[1.5, 2], [2.5, 1], [10.0, 1]]}))
    );
}
