//! ensure_stream, tags, find_streams, value types, appends and their exceptions.

use chrono::{DateTime, Utc};
use ddstream::store::{DataQuery, Granularity, NewDatapoint, StoreError, StreamSpec};
use serde_json::{json, Map, Value};

use crate::common::{append_all, at, data, store, stream, values, SEVEN};

fn user_tags(all: &Map<String, Value>) -> Value {
    let mut m = all.clone();
    for k in ddstream::store::RESERVED_TAGS {
        m.remove(*k);
    }
    Value::Object(m)
}

#[tokio::test]
async fn ensure_stream_and_tags() {
    let (_dir, ds) = store().await;
    let query = json!({"name": "foobar"});
    let tags = json!({"andmore": "bar", "andcomplex": {"foo": ["bar", "foo"]}});
    let id = ds
        .ensure_stream(StreamSpec::new(
            query.clone(),
            tags.clone(),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    let t = ds.get_tags(&id).await.unwrap();
    assert_eq!(t["stream_id"], json!(id));
    let mut stored: Vec<&str> = t["value_downsamplers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    stored.sort_unstable();
    let mut seven = SEVEN.to_vec();
    seven.sort_unstable();
    assert_eq!(stored, seven);
    assert_eq!(t["time_downsamplers"], json!(["mean", "first", "last"]));
    assert_eq!(t["highest_granularity"], json!("seconds"));
    assert_eq!(t["earliest_datapoint"], Value::Null);
    assert_eq!(t["latest_datapoint"], Value::Null);
    assert_eq!(t["value_type"], json!("numeric"));
    assert_eq!(t["value_type_options"], json!({"high_accuracy": false}));
    assert_eq!(t["pending_backprocess"], json!(false));
    assert_eq!(
        t["downsampled_until"],
        json!({"10seconds": null, "minutes": null, "10minutes": null, "hours": null, "6hours": null, "days": null})
    );
    let combined =
        json!({"name": "foobar", "andmore": "bar", "andcomplex": {"foo": ["bar", "foo"]}});
    assert_eq!(user_tags(&t), combined);

    // The same query tags find the same stream.
    let again = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "foobar"}),
            tags.clone(),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    assert_eq!(again, id);
    // A query on two tags does not match ('andmore' is 'bar'): a new stream.
    let other = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "foobar", "andmore": "wrong"}),
            tags.clone(),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    assert_ne!(other, id);
    // Now {'name': 'foobar'} matches both.
    let err = ds
        .ensure_stream(StreamSpec::new(
            query.clone(),
            tags.clone(),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MultipleStreamsReturned(_)),
        "{err}"
    );
    ds.delete_streams(Some(json!({"name": "foobar", "andmore": "wrong"})))
        .await
        .unwrap();

    ds.remove_tag(&id, json!({"andmore": ""})).await.unwrap();
    assert_eq!(
        user_tags(&ds.get_tags(&id).await.unwrap()),
        json!({"name": "foobar", "andcomplex": {"foo": ["bar", "foo"]}})
    );
    ds.clear_tags(&id).await.unwrap();
    assert_eq!(user_tags(&ds.get_tags(&id).await.unwrap()), json!({}));
    ds.update_tags(&id, combined.clone()).await.unwrap();
    assert_eq!(user_tags(&ds.get_tags(&id).await.unwrap()), combined);
    // update_tags merges leaf paths.
    ds.update_tags(&id, json!({"andcomplex": {"x": 1}}))
        .await
        .unwrap();
    assert_eq!(
        ds.get_tags(&id).await.unwrap()["andcomplex"],
        json!({"foo": ["bar", "foo"], "x": 1})
    );

    // ensure_stream replaces the tags of an existing stream with query_tags ∪ tags.
    let x = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "xyz"}),
            json!({"x": 1}),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    assert_eq!(ds.get_tags(&x).await.unwrap()["x"], json!(1));
    let x2 = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "xyz"}),
            json!({"x": 2}),
            SEVEN,
            Granularity::Seconds,
        ))
        .await
        .unwrap();
    assert_eq!(x2, x);
    assert_eq!(ds.get_tags(&x).await.unwrap()["x"], json!(2));

    // Nothing to downsample, nothing to read.
    assert!(ds
        .downsample_streams(None, None, true, None)
        .await
        .unwrap()
        .is_empty());
    assert!(data(
        &ds,
        &id,
        Granularity::Seconds,
        DataQuery::start(DateTime::UNIX_EPOCH)
    )
    .await
    .is_empty());

    ds.delete_streams(Some(query)).await.unwrap();
    let err = ds
        .get_data(
            &id,
            Granularity::Minutes,
            DataQuery::start(DateTime::UNIX_EPOCH),
        )
        .await
        .err();
    assert!(matches!(err, Some(StoreError::StreamNotFound(_))));
}

#[tokio::test]
async fn find_streams_matches_nested_subsets() {
    let (_dir, ds) = store().await;
    assert!(ds.find_streams(None).await.unwrap().is_empty());
    let query = json!({"title": "Stream 1"});
    let mut id = String::new();
    for i in 0..11 {
        let tags = json!({
            "visualization": {"time_downsamplers": ["mean"], "hidden": false, "minimum": 0, "type": "line",
                              "value_downsamplers": ["mean", "min", "max"]},
            "stream_number": if i == 0 { 1 } else { i - 1 },
        });
        id = ds
            .ensure_stream(StreamSpec::new(
                query.clone(),
                tags,
                SEVEN,
                Granularity::Seconds,
            ))
            .await
            .unwrap();
    }
    let found = ds.find_streams(None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["title"], json!("Stream 1"));
    assert_eq!(found[0]["stream_number"], json!(9));
    let count = |q: Value| {
        let ds = ds.clone();
        async move { ds.find_streams(Some(q)).await.unwrap().len() }
    };
    // stream_id is not a tag for find_streams; internal fields are not tags.
    assert_eq!(count(json!({"stream_id": id})).await, 0);
    assert_eq!(count(json!({"tags": {"value_type": "numeric"}})).await, 0);
    assert_eq!(
        count(json!({"tags": {"highest_granularity": "Seconds"}})).await,
        0
    );
    assert_eq!(count(json!({"title": "Stream 1"})).await, 1);
    assert_eq!(count(json!({"stream_number": 1})).await, 0);
    assert_eq!(count(json!({"stream_number": 9})).await, 1);
    assert_eq!(
        count(json!({"visualization": {"value_downsamplers": "mean"}})).await,
        1
    );
    assert_eq!(
        count(json!({"visualization": {"type": "line", "hidden": false}})).await,
        1
    );
    assert_eq!(count(json!({"visualization": {"type": "bar"}})).await, 0);
    let err = ds
        .find_streams(Some(json!({"andmore__bar": "value"})))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReservedTagNameError(_)), "{err}");
    // delete_streams does take stream_id.
    ds.delete_streams(Some(json!({"stream_id": id})))
        .await
        .unwrap();
    assert!(ds.find_streams(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn reserved_tags_and_argument_errors() {
    let (_dir, ds) = store().await;
    let spec = |q: Value, t: Value| StreamSpec::new(q, t, SEVEN, Granularity::Seconds);
    for (q, t) in [
        (json!({"a__b": 1}), json!({})),
        (json!({"a": {"b__c": 1}}), json!({})),
        (json!({"name": "x"}), json!({"stream_id": 1})),
        (json!({"name": "x"}), json!({"latest_datapoint": 1})),
        (json!({"name": "x"}), json!({"deep": {"x__y": 1}})),
    ] {
        let err = ds.ensure_stream(spec(q, t)).await.unwrap_err();
        assert!(matches!(err, StoreError::ReservedTagNameError(_)), "{err}");
    }
    let id = ds
        .ensure_stream(spec(json!({"name": "x"}), json!({})))
        .await
        .unwrap();
    for bad in [json!({"value_type": "x"}), json!({"a__b": 1})] {
        assert!(matches!(
            ds.update_tags(&id, bad.clone()).await,
            Err(StoreError::ReservedTagNameError(_))
        ));
        assert!(matches!(
            ds.remove_tag(&id, bad).await,
            Err(StoreError::ReservedTagNameError(_))
        ));
    }
    let missing = "00000000-0000-0000-0000-000000000000";
    assert!(matches!(
        ds.get_tags(missing).await,
        Err(StoreError::StreamNotFound(_))
    ));
    assert!(matches!(
        ds.update_tags(missing, json!({"a": 1})).await,
        Err(StoreError::StreamNotFound(_))
    ));
    assert!(matches!(
        ds.remove_tag(missing, json!({"a": 1})).await,
        Err(StoreError::StreamNotFound(_))
    ));
    assert!(matches!(
        ds.clear_tags(missing).await,
        Err(StoreError::StreamNotFound(_))
    ));
    assert!(matches!(
        ds.append(missing, json!(1), None, true).await,
        Err(StoreError::StreamNotFound(_))
    ));

    let err = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "y"}),
            json!({}),
            ["mean", "bogus"],
            Granularity::Seconds,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedDownsampler(_)));
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = ds
        .ensure_stream(StreamSpec::new(
            json!({"name": "y"}),
            json!({}),
            ["median"],
            Granularity::Seconds,
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedDownsampler(_)));
    assert!(Granularity::parse("weeks")
        .is_err_and(|e| matches!(e, StoreError::UnsupportedGranularity(_))));
    let err = ds
        .ensure_stream(spec(json!({"name": "y"}), json!({})).value_type("wtfvaluewtf"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedValueType(_)), "{err}");
    let err = ds
        .ensure_stream(spec(json!({"name": "y"}), json!({})).value_type_options(json!("bar")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err}");
    let err = ds
        .ensure_stream(
            spec(json!({"name": "y"}), json!({}))
                .value_type_options(json!({"high_accuracy": true})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedValueType(_)), "{err}");
    let err = ds
        .ensure_stream(spec(json!("name"), json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err}");
    // A derived stream needs derive_op.
    let mut derived = spec(json!({"name": "d"}), json!({})).derive([id.as_str()], "sum");
    derived.derive_op = None;
    assert!(matches!(
        ds.ensure_stream(derived).await,
        Err(StoreError::InvalidArgument(_))
    ));
    // get_data's start/end combinations.
    let g = Granularity::Seconds;
    let t = at(1, 12, 0, 0);
    assert!(matches!(
        ds.get_data(&id, g, DataQuery::default()).await.err(),
        Some(StoreError::InvalidArgument(_))
    ));
    let both = DataQuery {
        start: Some(t),
        start_exclusive: Some(t),
        ..Default::default()
    };
    assert!(matches!(
        ds.get_data(&id, g, both).await.err(),
        Some(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        ds.get_data(&id, g, DataQuery::start(t).end(t).end_exclusive(t))
            .await
            .err(),
        Some(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        ds.get_data(&id, g, DataQuery::start(t).value_downsamplers(["median"]))
            .await
            .err(),
        Some(StoreError::UnsupportedDownsampler(_))
    ));
    assert!(matches!(
        ds.get_data(
            &id,
            g,
            DataQuery::start(t).time_downsamplers(["intervals_mean"])
        )
        .await
        .err(),
        Some(StoreError::UnsupportedDownsampler(_))
    ));
}

#[tokio::test]
async fn value_types() {
    let (_dir, ds) = store().await;
    let base = |name: &str, ds: &[&str]| {
        StreamSpec::new(
            json!({"name": name}),
            json!({}),
            ds.to_vec(),
            Granularity::Seconds,
        )
    };
    let foo = ds
        .ensure_stream(base("foo", &["count"]).value_type("graph"))
        .await
        .unwrap();
    let err = ds.ensure_stream(base("foo", &["count"])).await.unwrap_err();
    assert!(
        matches!(err, StoreError::InconsistentStreamConfiguration(_)),
        "{err}"
    );
    assert!(
        err.to_string().contains(&foo),
        "the message names the stream: {err}"
    );
    for vt in ["graph", "nominal"] {
        let err = ds
            .ensure_stream(base("bar", &SEVEN).value_type(vt))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedDownsampler(_)),
            "{err}"
        );
    }

    let graph = ds
        .ensure_stream(base("goo", &["count"]).value_type("graph"))
        .await
        .unwrap();
    let t0 = at(1, 0, 0, 0);
    let err = ds
        .append(&graph, json!(42), Some(t0), true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)));
    for bad in [
        json!({}),
        json!({"v": [{"foo": "bar"}]}),
        json!({"v": [{"foo": "bar"}], "e": []}),
        json!({"v": [{"i": "bar"}, {"i": "bar"}], "e": []}),
        json!({"v": [{"i": "foo"}, {"i": "bar"}], "e": [{}]}),
        json!({"v": [{"i": "foo"}, {"i": "bar"}], "e": [{"f": "foo"}]}),
        json!({"v": [{"i": "foo"}, {"i": "bar"}], "e": [{"f": "foo", "t": "wtf"}]}),
    ] {
        let err = ds
            .append(&graph, bad.clone(), Some(t0), true)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidArgument(_)),
            "{bad}: {err}"
        );
    }
    let g1 = json!({"v": [{"i": "foo"}, {"i": "bar"}], "e": [{"f": "foo", "t": "bar"}]});
    let g2 = json!({"v": [{"i": "foo"}, {"i": "bar"}], "e": []});
    ds.append(&graph, g1.clone(), Some(t0), true).await.unwrap();
    ds.append(&graph, g2.clone(), Some(at(1, 0, 0, 1)), true)
        .await
        .unwrap();
    ds.append(&graph, g2.clone(), Some(at(1, 0, 1, 1)), true)
        .await
        .unwrap();
    ds.downsample_streams(None, Some(at(2, 0, 0, 0)), false, None)
        .await
        .unwrap();
    let minutes = data(
        &ds,
        &graph,
        Granularity::Minutes,
        DataQuery::start(t0).end_exclusive(at(1, 0, 1, 0)),
    )
    .await;
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].key("c"), Some(&json!(2)));

    // Nominal streams take any value and give it back as is.
    let loo = ds
        .ensure_stream(base("loo", &["count"]).value_type("nominal"))
        .await
        .unwrap();
    let vals = vec![
        json!(10),
        json!({}),
        json!("label"),
        json!({"foo": "bar", "z": 42}),
    ];
    append_all(
        &ds,
        &loo,
        vals.iter().cloned().zip((0..4).map(|i| at(1, 0, 1, i))),
    )
    .await;
    assert_eq!(
        values(
            &data(
                &ds,
                &loo,
                Granularity::Seconds,
                DataQuery::start(DateTime::<Utc>::MIN_UTC)
            )
            .await
        ),
        vals
    );

    // Derive operators and value types.
    let graph_src = ds
        .ensure_stream(base("gsrc", &["count"]).value_type("graph"))
        .await
        .unwrap();
    let err = ds
        .ensure_stream(
            base("derived", &["count"])
                .value_type("graph")
                .derive([graph_src.as_str(), graph_src.as_str()], "sum"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedDeriveOperator(_)),
        "{err}"
    );
    let err = ds
        .ensure_stream(
            base("derived", &["count"])
                .value_type("nominal")
                .derive([loo.as_str(), loo.as_str()], "sum"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedDeriveOperator(_)),
        "{err}"
    );
}

#[tokio::test]
async fn appends_monotonic_range_and_batches() {
    let (_dir, ds) = store().await;
    let a = stream(&ds, "foo", Granularity::Seconds).await;
    let b = stream(&ds, "foo2", Granularity::Seconds).await;
    let batch: Vec<NewDatapoint> = (0..200)
        .map(|i| NewDatapoint {
            stream_id: if i % 2 == 0 { a.clone() } else { b.clone() },
            value: json!(i),
            timestamp: Some(at(1, 12, 0, 0) + chrono::Duration::seconds(i)),
        })
        .collect();
    ds.append_multiple(batch).await.unwrap();
    let all = |id: String| {
        let ds = ds.clone();
        async move {
            data(
                &ds,
                &id,
                Granularity::Seconds,
                DataQuery::start(DateTime::<Utc>::MIN_UTC),
            )
            .await
        }
    };
    assert_eq!(all(a.clone()).await.len(), 100);
    assert_eq!(all(b.clone()).await.len(), 100);

    // Monotonic timestamps (test_monotonicity_timestamp).
    let m = stream(&ds, "fooclub", Granularity::Seconds).await;
    ds.append(&m, json!(1), Some(at(1, 12, 0, 0)), true)
        .await
        .unwrap();
    ds.append(&m, json!(1), Some(at(3, 12, 0, 0)), true)
        .await
        .unwrap();
    let err = ds
        .append(&m, json!(1), Some(at(2, 12, 0, 0)), true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTimestamp(_)), "{err}");
    assert!(err.to_string().contains(&m));
    ds.append(&m, json!(1), Some(at(2, 12, 0, 0)), false)
        .await
        .unwrap();
    // latest_datapoint moved back to the unchecked append.
    assert_eq!(
        ds.get_tags(&m).await.unwrap()["latest_datapoint"],
        json!("2000-01-02T12:00:00Z")
    );
    assert_eq!(
        ds.get_tags(&m).await.unwrap()["earliest_datapoint"],
        json!("2000-01-01T12:00:00Z")
    );

    // The supported range (test_timestamp_ranges).
    let r = stream(&ds, "foopub", Granularity::Seconds).await;
    for t in [
        DateTime::UNIX_EPOCH - chrono::Duration::seconds(1),
        DateTime::<Utc>::MIN_UTC,
        DateTime::from_timestamp(i64::from(i32::MAX) + 1, 0).unwrap(),
        DateTime::<Utc>::MAX_UTC,
    ] {
        let err = ds.append(&r, json!(1), Some(t), true).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidTimestamp(_)), "{t}: {err}");
    }
    ds.append(&r, json!(1), Some(DateTime::UNIX_EPOCH), true)
        .await
        .unwrap();
    ds.append(
        &r,
        json!(1),
        Some(DateTime::from_timestamp(i64::from(i32::MAX), 0).unwrap()),
        true,
    )
    .await
    .unwrap();
    let last = data(
        &ds,
        &r,
        Granularity::Seconds,
        DataQuery::start(DateTime::<Utc>::MIN_UTC).end(DateTime::<Utc>::MAX_UTC),
    )
    .await;
    assert_eq!(last.len(), 2);

    // append_multiple keeps the points before a failing one and returns its error.
    let s = stream(&ds, "partial", Granularity::Seconds).await;
    let batch = vec![
        NewDatapoint {
            stream_id: s.clone(),
            value: json!(1),
            timestamp: Some(at(1, 0, 0, 5)),
        },
        NewDatapoint {
            stream_id: s.clone(),
            value: json!(2),
            timestamp: Some(at(1, 0, 0, 6)),
        },
        NewDatapoint {
            stream_id: s.clone(),
            value: json!(3),
            timestamp: Some(at(1, 0, 0, 1)),
        },
        NewDatapoint {
            stream_id: s.clone(),
            value: json!(4),
            timestamp: Some(at(1, 0, 0, 7)),
        },
    ];
    let err = ds.append_multiple(batch).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidTimestamp(_)));
    assert_eq!(values(&all(s).await), vec![json!(1.0), json!(2.0)]);

    // Numeric streams take numbers, null and downsampled dicts only.
    for bad in [json!("x"), json!(true), json!([1])] {
        assert!(matches!(
            ds.append(&a, bad, None, false).await,
            Err(StoreError::InvalidArgument(_))
        ));
    }
    let ret = ds
        .append(&a, json!(42), Some(at(1, 13, 0, 0)), true)
        .await
        .unwrap();
    assert_eq!(ret.stream_id, a);
    assert_eq!(ret.granularity, Granularity::Seconds);
    assert_eq!(ret.datapoint.v, Some(json!(42.0)));
    assert_eq!(
        ret.datapoint.to_json(),
        json!({"t": "2000-01-01T13:00:00Z", "v": 42.0})
    );
}

#[tokio::test]
async fn downsampled_dict_checks() {
    let (_dir, ds) = store().await;
    let id = stream(&ds, "test", Granularity::Seconds).await;
    let t = at(1, 0, 0, 0);
    for bad in [
        json!({"m": 3}),
        json!({"m": 3, "s": 9, "l": 3, "u": 3, "q": 27, "d": 0, "c": 3, "extra": 77}),
        json!({"m": "x", "s": 9, "l": 3, "u": 3, "q": 27, "d": 0, "c": 3}),
    ] {
        let err = ds
            .append(&id, bad.clone(), Some(t), true)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidArgument(_)),
            "{bad}: {err}"
        );
    }
    let derived = ds
        .ensure_stream(
            StreamSpec::new(json!({"name": "d"}), json!({}), SEVEN, Granularity::Seconds)
                .derive([id.as_str()], "derivative"),
        )
        .await
        .unwrap();
    let err = ds
        .append(&derived, json!(1), Some(t), true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AppendToDerivedStreamNotAllowed(_)),
        "{err}"
    );
    assert_eq!(err.kind(), "AppendToDerivedStreamNotAllowed");
}

#[tokio::test]
async fn a_store_held_by_another_writer_is_contended() {
    let dir = tempfile::tempdir().unwrap();
    let ds = ddstream::store::Datastream::open(dir.path()).await.unwrap();
    let id = stream(&ds, "busy", Granularity::Seconds).await;
    // Another process holding the write lock, as a second SQLite connection would.
    let other = rusqlite::Connection::open(dir.path().join("datastream.sqlite")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let options = ddstream::store::StoreOptions {
        busy_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let waiting = ddstream::store::Datastream::open_with(dir.path(), options)
        .await
        .unwrap();
    let err = waiting
        .append(&id, json!(1), Some(at(1, 0, 0, 0)), true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::StreamAppendContended(_)), "{err}");
    assert_eq!(err.kind(), "StreamAppendContended");
    // Reads are not blocked, and once the lock is released the append goes through.
    assert!(waiting.get_tags(&id).await.is_ok());
    other.execute_batch("ROLLBACK").unwrap();
    waiting
        .append(&id, json!(1), Some(at(1, 0, 0, 0)), true)
        .await
        .unwrap();
    assert_eq!(
        values(
            &data(
                &ds,
                &id,
                Granularity::Seconds,
                DataQuery::start(at(1, 0, 0, 0))
            )
            .await
        ),
        vec![json!(1.0)]
    );
}
