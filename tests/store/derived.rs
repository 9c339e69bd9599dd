//! Derived streams: sum, derivative, counter_reset, counter_derivative, chaining, coarser
//! sources, backprocess, nulls, and deletion in dependency order.

use chrono::Duration;
use ddstream::store::{DataQuery, DeriveSource, Granularity, StoreError, StreamSpec};
use serde_json::{json, Value};

use crate::common::{append_all, at, data, downsample, key, store, stream, values, SEVEN};

fn derived(name: &str, highest: Granularity) -> StreamSpec {
    StreamSpec::new(json!({ "name": name }), json!({}), SEVEN, highest)
}

fn nums(v: &[f64]) -> Vec<Value> {
    v.iter().map(|x| json!(x)).collect()
}

#[tokio::test]
async fn operator_checks() {
    let (_dir, ds) = store().await;
    let a = stream(&ds, "srcA", Granularity::Seconds).await;
    let b = stream(&ds, "srcB", Granularity::Minutes).await;
    for highest in [Granularity::Seconds, Granularity::Minutes] {
        let err = ds
            .ensure_stream(derived("derived", highest).derive([a.as_str(), b.as_str()], "sum"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::IncompatibleGranularities(_)),
            "{err}"
        );
    }
    let err = ds
        .ensure_stream(
            derived("derived", Granularity::Minutes).derive([a.as_str(), b.as_str()], "foobar"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedDeriveOperator(_)),
        "{err}"
    );
    let err = ds
        .ensure_stream(
            derived("derived", Granularity::Seconds)
                .derive([a.as_str(), "00000000-0000-0000-0000-000000000000"], "sum"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StreamNotFound(_)), "{err}");
    let x = stream(&ds, "srcX", Granularity::Seconds).await;
    let err = ds
        .ensure_stream(
            derived("derived", Granularity::Seconds).derive([a.as_str(), x.as_str()], "derivative"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidOperatorArguments(_)),
        "{err}"
    );
    // A finer granularity than the source's highest.
    let err = ds
        .ensure_stream(
            derived("derived4", Granularity::Seconds).derive(
                [
                    DeriveSource::new(a.as_str()).named("A"),
                    DeriveSource::new(b.as_str())
                        .named("C")
                        .at(Granularity::Seconds),
                ],
                "sum",
            ),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IncompatibleGranularities(_)),
        "{err}"
    );
    // counter_derivative's sources.
    let reset = ds
        .ensure_stream(
            StreamSpec::new(
                json!({"name": "r"}),
                json!({}),
                ["count"],
                Granularity::Seconds,
            )
            .value_type("nominal")
            .derive([a.as_str()], "counter_reset"),
        )
        .await
        .unwrap();
    for sources in [
        vec![DeriveSource::new(x.as_str())],
        vec![
            DeriveSource::new(reset.as_str()),
            DeriveSource::new(x.as_str()),
        ],
        vec![
            DeriveSource::new(reset.as_str()).named("reset"),
            DeriveSource::new(x.as_str()).named("data"),
        ],
    ] {
        let err = ds
            .ensure_stream(
                derived("rate", Granularity::Seconds).derive(sources, "counter_derivative"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidOperatorArguments(_)),
            "{err}"
        );
    }
    let err = ds
        .ensure_stream(derived("rate", Granularity::Seconds).derive(
            [
                DeriveSource::new(reset.as_str()).named("reset"),
                DeriveSource::new(reset.as_str()),
            ],
            "counter_derivative",
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IncompatibleTypes(_)), "{err}");
    let err = ds
        .ensure_stream(
            derived("rate", Granularity::Seconds)
                .derive(
                    [
                        DeriveSource::new(reset.as_str()).named("reset"),
                        DeriveSource::new(x.as_str()),
                    ],
                    "counter_derivative",
                )
                .derive_args(json!({"max_value": "big"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidOperatorArguments(_)),
        "{err}"
    );
    // counter_reset produces a nominal stream; sum of a nominal source is refused.
    let err = ds
        .ensure_stream(derived("cr", Granularity::Seconds).derive([a.as_str()], "counter_reset"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedDeriveOperator(_)),
        "{err}"
    );
    let err = ds
        .ensure_stream(derived("s", Granularity::Seconds).derive([reset.as_str()], "sum"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IncompatibleTypes(_)), "{err}");

    let sum = ds
        .ensure_stream(
            derived("derived", Granularity::Seconds).derive([a.as_str(), x.as_str()], "sum"),
        )
        .await
        .unwrap();
    for spec in [
        derived("derived", Granularity::Seconds).derive([a.as_str(), x.as_str()], "derivative"),
        derived("derived", Granularity::Seconds).derive([x.as_str()], "sum"),
        derived("derived", Granularity::Seconds),
    ] {
        let err = ds.ensure_stream(spec).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InconsistentStreamConfiguration(_)),
            "{err}"
        );
    }
    let ta = ds.get_tags(&a).await.unwrap();
    assert_eq!(ta["contributes_to"].as_object().map(|m| m.len()), Some(2));
    let ts = ds.get_tags(&sum).await.unwrap();
    assert_eq!(
        ts["derived_from"],
        json!({"stream_ids": [a, x], "op": "sum", "args": {}})
    );
    assert!(ts.get("contributes_to").is_none());
    assert!(ds
        .get_tags(&b)
        .await
        .unwrap()
        .get("contributes_to")
        .is_none());
}

#[tokio::test]
async fn sum_derivative_and_chains() {
    let (_dir, ds) = store().await;
    let a = stream(&ds, "srcX", Granularity::Seconds).await;
    let b = stream(&ds, "srcY", Granularity::Seconds).await;
    let sum = ds
        .ensure_stream(
            derived("derived", Granularity::Seconds).derive([a.as_str(), b.as_str()], "sum"),
        )
        .await
        .unwrap();
    let deriv = ds
        .ensure_stream(derived("derived2", Granularity::Seconds).derive([a.as_str()], "derivative"))
        .await
        .unwrap();
    let chained = ds
        .ensure_stream(
            derived("chained", Granularity::Seconds).derive([a.as_str(), deriv.as_str()], "sum"),
        )
        .await
        .unwrap();
    let seconds = [0, 1, 2, 3, 4, 10, 11];
    let va = [21, 25, 28, 32, 25, 70, 74];
    let vb = [21, 25, 28, 32, 25, 42, 42];
    for i in 0..seconds.len() {
        let t = at(1, 12, 0, seconds[i]);
        if i == 4 {
            ds.append(&b, json!(vb[i]), Some(t), true).await.unwrap();
            ds.append(&a, json!(va[i]), Some(t), true).await.unwrap();
        } else {
            ds.append(&a, json!(va[i]), Some(t), true).await.unwrap();
            ds.append(&b, json!(vb[i]), Some(t), true).await.unwrap();
        }
    }
    let from = DataQuery::start(at(1, 12, 0, 0));
    // A + B per second.
    assert_eq!(
        values(&data(&ds, &sum, Granularity::Seconds, from.clone()).await),
        nums(&[42.0, 50.0, 56.0, 64.0, 50.0, 112.0, 116.0])
    );
    // (25−21)/1, (28−25)/1, (32−28)/1, (25−32)/1, (70−25)/6, (74−70)/1.
    assert_eq!(
        values(&data(&ds, &deriv, Granularity::Seconds, from.clone()).await),
        nums(&[4.0, 3.0, 4.0, -7.0, 7.5, 4.0])
    );
    // A + derivative(A) where both exist (12:00:00 has no derivative).
    assert_eq!(
        values(&data(&ds, &chained, Granularity::Seconds, from.clone()).await),
        nums(&[29.0, 31.0, 36.0, 18.0, 77.5, 78.0])
    );

    // Named sources.
    let fa = stream(&ds, "fooA", Granularity::Seconds).await;
    let fb = stream(&ds, "fooB", Granularity::Seconds).await;
    let named = ds
        .ensure_stream(derived("derived3", Granularity::Seconds).derive(
            [
                DeriveSource::new(fa.as_str()).named("Stream A"),
                DeriveSource::new(fb.as_str()).named("Stream B"),
            ],
            "sum",
        ))
        .await
        .unwrap();
    for (i, v) in [21, 25].iter().enumerate() {
        let t = at(1, 12, 0, i as u32);
        ds.append(&fa, json!(v), Some(t), true).await.unwrap();
        ds.append(&fb, json!(v), Some(t), true).await.unwrap();
    }
    assert_eq!(
        values(&data(&ds, &named, Granularity::Seconds, from.clone()).await),
        nums(&[42.0, 50.0])
    );

    // Sum of 10-second datapoints: filled only by downsampling the sources.
    let ga = stream(&ds, "gA", Granularity::Seconds).await;
    let gb = stream(&ds, "gB", Granularity::Seconds).await;
    let tens = ds
        .ensure_stream(
            derived("sumdifg", Granularity::Seconds10).derive(
                [
                    DeriveSource::new(ga.as_str())
                        .named("Stream A")
                        .at(Granularity::Seconds10),
                    DeriveSource::new(gb.as_str())
                        .named("Stream B")
                        .at(Granularity::Seconds10),
                ],
                "sum",
            ),
        )
        .await
        .unwrap();
    for i in 0..32 {
        let t = at(1, 12, 0, i);
        ds.append(&ga, json!(5), Some(t), true).await.unwrap();
        ds.append(&gb, json!(5), Some(t), true).await.unwrap();
    }
    assert!(data(&ds, &tens, Granularity::Seconds10, from.clone())
        .await
        .is_empty());
    downsample(&ds, at(1, 22, 0, 0)).await;
    // Each closed 10-second bucket (12:00:00, :10, :20) has mean 5 in both sources.
    assert_eq!(
        values(&data(&ds, &tens, Granularity::Seconds10, from.clone()).await),
        nums(&[10.0, 10.0, 10.0])
    );
}

#[tokio::test]
async fn counters_and_backprocess() {
    let (_dir, ds) = store().await;
    let cr_a = stream(&ds, "crA", Granularity::Seconds).await;
    let nominal = |name: &str, src: &str| {
        StreamSpec::new(
            json!({ "name": name }),
            json!({}),
            ["count"],
            Granularity::Seconds,
        )
        .value_type("nominal")
        .derive([src], "counter_reset")
    };
    let reset = ds.ensure_stream(nominal("reset", &cr_a)).await.unwrap();
    let series = [
        10, 23, 28, 44, 2, 17, 90, 30, 2, 5, 10, 15, 23, 1, 7, 12, 19, 25, 31, 45, 51,
    ];
    append_all(
        &ds,
        &cr_a,
        series
            .iter()
            .enumerate()
            .map(|(i, v)| (json!(v), at(1, 12, 0, i as u32))),
    )
    .await;
    let from = DataQuery::start(at(1, 12, 0, 0));
    // Drops at 44→2, 90→30, 30→2, 23→1.
    assert_eq!(
        values(&data(&ds, &reset, Granularity::Seconds, from.clone()).await),
        vec![json!(1); 4]
    );
    let reset_times: Vec<_> = data(&ds, &reset, Granularity::Seconds, from.clone())
        .await
        .iter()
        .map(|p| p.ts)
        .collect();
    assert_eq!(
        reset_times,
        vec![
            at(1, 12, 0, 4),
            at(1, 12, 0, 7),
            at(1, 12, 0, 8),
            at(1, 12, 0, 13)
        ]
    );
    // The reset stream's latest follows its source (12:00:20), so 12:00:10 closes too.
    assert_eq!(
        ds.get_tags(&reset).await.unwrap()["latest_datapoint"],
        json!("2000-01-01T12:00:20Z")
    );
    downsample(&ds, at(1, 22, 0, 0)).await;
    let ten = data(
        &ds,
        &reset,
        Granularity::Seconds10,
        from.clone().end_exclusive(at(1, 12, 0, 20)),
    )
    .await;
    assert_eq!(key(&ten, "c"), vec![json!(3), json!(1)]);

    // counter_derivative with a reset stream and max_value 256.
    let up = stream(&ds, "up", Granularity::Seconds).await;
    let rsup = ds.ensure_stream(nominal("rsup", &up)).await.unwrap();
    let data_id = stream(&ds, "data", Granularity::Seconds).await;
    let rate_spec = |name: &str, reset: &str| {
        derived(name, Granularity::Seconds)
            .derive(
                [
                    DeriveSource::new(reset).named("reset"),
                    DeriveSource::new(data_id.as_str()),
                ],
                "counter_derivative",
            )
            .derive_args(json!({"max_value": 256}))
    };
    let rate = ds.ensure_stream(rate_spec("rate", &rsup)).await.unwrap();
    let uptime = [10, 23, 28, 44, 2, 17, 90, 30, 2];
    let counter = [5, 12, 7, 25, 7, 18, 33, 40, 5];
    for i in 0..uptime.len() {
        let t = at(1, 12, 0, i as u32);
        ds.append(&up, json!(uptime[i]), Some(t), true)
            .await
            .unwrap();
        ds.append(&data_id, json!(counter[i]), Some(t), true)
            .await
            .unwrap();
    }
    // 12−5, wrap 256−12+7, 25−7, (reset at 4) 18−7, 33−18, (resets at 7 and 8).
    let expected = nums(&[7.0, 251.0, 18.0, 11.0, 15.0]);
    assert_eq!(
        values(&data(&ds, &rate, Granularity::Seconds, from.clone()).await),
        expected
    );

    // The same, created after the data exists: pending until backprocessed.
    let rsup2 = ds.ensure_stream(nominal("rsup2", &up)).await.unwrap();
    let rate2 = ds.ensure_stream(rate_spec("rate2", &rsup2)).await.unwrap();
    assert_eq!(
        ds.get_tags(&rate2).await.unwrap()["pending_backprocess"],
        json!(true)
    );
    assert!(data(&ds, &rate2, Granularity::Seconds, from.clone())
        .await
        .is_empty());
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &rate2, Granularity::Seconds, from.clone()).await),
        expected
    );
    assert_eq!(
        ds.get_tags(&rate2).await.unwrap()["pending_backprocess"],
        json!(false)
    );

    // Without backprocessing: never pending, stays empty.
    let rsup3 = ds
        .ensure_stream(nominal("rsup3", &up).derive_backprocess(false))
        .await
        .unwrap();
    let rate3 = ds
        .ensure_stream(rate_spec("rate3", &rsup3).derive_backprocess(false))
        .await
        .unwrap();
    assert_eq!(
        ds.get_tags(&rate3).await.unwrap()["pending_backprocess"],
        json!(false)
    );
    ds.backprocess_streams(None).await.unwrap();
    assert!(data(&ds, &rate3, Granularity::Seconds, from.clone())
        .await
        .is_empty());

    // Backprocess of many points (more than one page of each source).
    let ba = stream(&ds, "batchA", Granularity::Seconds).await;
    let bb = stream(&ds, "batchB", Granularity::Seconds).await;
    for id in [&ba, &bb] {
        append_all(
            &ds,
            id,
            (0..5000).map(|i| (json!(1), at(2, 0, 0, 0) + Duration::seconds(i))),
        )
        .await;
    }
    let big = ds
        .ensure_stream(
            derived("derived5", Granularity::Seconds).derive([ba.as_str(), bb.as_str()], "sum"),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    let sums = data(
        &ds,
        &big,
        Granularity::Seconds,
        DataQuery::start(at(2, 0, 0, 0)),
    )
    .await;
    assert_eq!(sums.len(), 5000);
    assert!(sums.iter().all(|p| p.v == Some(json!(2.0))));

    // Deletion in dependency order.
    for name in ["up", "data", "rsup"] {
        let err = ds
            .delete_streams(Some(json!({ "name": name })))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::OutstandingDependenciesError(_)),
            "{name}: {err}"
        );
    }
    ds.delete_streams(Some(json!({"name": "rate2"})))
        .await
        .unwrap();
    ds.delete_streams(Some(json!({"name": "rsup2"})))
        .await
        .unwrap();
    assert_eq!(
        ds.get_tags(&up).await.unwrap()["contributes_to"]
            .as_object()
            .map(|m| m.len()),
        Some(2)
    );
    ds.delete_streams(Some(json!({}))).await.unwrap();
    assert!(ds.find_streams(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn nulls_through_derived_streams() {
    let (_dir, ds) = store().await;
    let foo = stream(&ds, "foo", Granularity::Seconds).await;
    let times = [
        at(1, 12, 0, 0),
        at(1, 12, 0, 1),
        at(1, 12, 1, 0),
        at(1, 12, 1, 1),
        at(1, 12, 2, 0),
    ];
    append_all(
        &ds,
        &foo,
        [Value::Null, json!(10), Value::Null, Value::Null, json!(2)]
            .into_iter()
            .zip(times),
    )
    .await;
    let ones = stream(&ds, "bar1", Granularity::Seconds).await;
    append_all(&ds, &ones, times.iter().map(|t| (json!(1), *t))).await;
    let from = DataQuery::start(at(1, 12, 0, 0));

    let s1 = ds
        .ensure_stream(
            derived("null_sum1", Granularity::Seconds).derive([foo.as_str(), ones.as_str()], "sum"),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &s1, Granularity::Seconds, from.clone()).await),
        nums(&[1.0, 11.0, 1.0, 1.0, 3.0])
    );

    let nulls = stream(&ds, "bar2", Granularity::Seconds).await;
    append_all(&ds, &nulls, times.iter().map(|t| (Value::Null, *t))).await;
    let s2 = ds
        .ensure_stream(
            derived("null_sum2", Granularity::Seconds)
                .derive([foo.as_str(), nulls.as_str()], "sum"),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &s2, Granularity::Seconds, from.clone()).await),
        vec![
            Value::Null,
            json!(10.0),
            Value::Null,
            Value::Null,
            json!(2.0)
        ]
    );

    // derivative: nulls are carried on; 10 and 2 each follow a null, so they only prime.
    let d = ds
        .ensure_stream(
            derived("null_derivative", Granularity::Seconds).derive([foo.as_str()], "derivative"),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &d, Granularity::Seconds, from.clone()).await),
        vec![Value::Null; 3]
    );

    let reset = stream(&ds, "reset", Granularity::Seconds).await;
    let cd = ds
        .ensure_stream(
            derived("null_counter_derivative", Granularity::Seconds).derive(
                [
                    DeriveSource::new(reset.as_str()).named("reset"),
                    DeriveSource::new(foo.as_str()),
                ],
                "counter_derivative",
            ),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &cd, Granularity::Seconds, from.clone()).await),
        vec![Value::Null; 3]
    );

    // counter_reset skips nulls: 10 then 2 is one reset.
    let cr = ds
        .ensure_stream(
            StreamSpec::new(
                json!({"name": "null_reset"}),
                json!({}),
                ["count"],
                Granularity::Seconds,
            )
            .value_type("nominal")
            .derive([foo.as_str()], "counter_reset"),
        )
        .await
        .unwrap();
    ds.backprocess_streams(None).await.unwrap();
    assert_eq!(
        values(&data(&ds, &cr, Granularity::Seconds, from.clone()).await),
        vec![json!(1)]
    );
}
