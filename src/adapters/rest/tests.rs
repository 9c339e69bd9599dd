//! The REST adapter's requests and response handling, without a server.

use super::*;
use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use std::time::Duration;

fn columns() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec {
            name: "id".into(),
            pointer: Pointer::parse("/id").unwrap(),
            kind: ColumnType::Int64,
        },
        ColumnSpec {
            name: "created".into(),
            pointer: Pointer::parse("/created_at").unwrap(),
            kind: ColumnType::Timestamp(TimeFormat::Auto),
        },
    ]
}

fn options(paging: Paging) -> RestOptions {
    RestOptions {
        name: "page_api",
        method: Method::GET,
        url: url::Url::parse("http://127.0.0.1:9/api/page/events").unwrap(),
        params: vec![
            ("total".into(), Value::Plain("5".into())),
            ("api_key".into(), Value::Secret(Secret::new("s3cr3t"))),
        ],
        headers: vec![(
            "authorization".into(),
            Value::Secret(Secret::new("Bearer tok")),
        )],
        body: None,
        params_in: ParamLocation::Query,
        records: Pointer::parse("/data").unwrap(),
        paging,
        has_more: None,
        columns: columns(),
        time: None,
        lenient_types: false,
    }
}

fn page_paging() -> Paging {
    Paging::PageNumber {
        param: "page".into(),
        first: 1,
        size_param: Some("per_page".into()),
        size: 2,
        total: Some(Pointer::parse("/total").unwrap()),
        total_header: None,
        total_pages: None,
        stop_on_short_page: true,
    }
}

fn response(body: &str, link: Option<&str>) -> ApiResponse {
    let mut headers = HeaderMap::new();
    if let Some(l) = link {
        headers.insert(http::header::LINK, HeaderValue::from_str(l).unwrap());
    }
    ApiResponse {
        status: 200,
        headers,
        body: Bytes::from(body.to_string()),
        elapsed: Duration::ZERO,
    }
}

fn rows(outcome: &ParsedResponse) -> (&RecordBatch, Option<&Cursor>, Option<u64>) {
    match outcome {
        ParsedResponse::Rows {
            batch,
            next,
            last_page,
        } => (batch, next.as_ref(), *last_page),
        other => panic!("{other:?}"),
    }
}

#[test]
fn page_requests_carry_the_page_the_size_and_the_static_parameters() {
    let a = RestAdapter::new(options(page_paging())).unwrap();
    assert_eq!(a.first_cursor(), Cursor::Page { number: 1, size: 2 });
    let r = a
        .build_request(&Cursor::Page { number: 3, size: 2 })
        .unwrap();
    assert_eq!(
        r.url.as_str(),
        "http://127.0.0.1:9/api/page/events?total=5&api_key=s3cr3t&page=3&per_page=2"
    );
    assert!(r.headers["authorization"].is_sensitive());
    assert!(r.body.is_none());
    assert!(!format!("{a:?}").contains("s3cr3t"));
}

#[test]
fn a_total_gives_the_last_page_and_short_or_empty_pages_end() {
    let a = RestAdapter::new(options(page_paging())).unwrap();
    let body = r#"{"data":[{"id":1,"created_at":"2026-01-01T00:00:00Z"},{"id":2,"created_at":1767225660}],"total":5}"#;
    let out = a
        .parse(&Cursor::Page { number: 1, size: 2 }, &response(body, None))
        .unwrap();
    let (batch, next, last) = rows(&out);
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(next, Some(&Cursor::Page { number: 2, size: 2 }));
    assert_eq!(last, Some(3));
    let out = a
        .parse(
            &Cursor::Page { number: 3, size: 2 },
            &response(r#"{"data":[{"id":5}],"total":5}"#, None),
        )
        .unwrap();
    assert_eq!(rows(&out).1, None);
    let out = a
        .parse(
            &Cursor::Page { number: 2, size: 2 },
            &response(r#"{"data":[]}"#, None),
        )
        .unwrap();
    assert_eq!(rows(&out).1, None);
}

#[test]
fn tokens_from_a_pointer_the_last_record_or_a_link() {
    let mut o = options(Paging::Token {
        param: "cursor".into(),
        next: TokenSource::Pointer(Pointer::parse("/meta/next").unwrap()),
        size: Some(("limit".into(), 2)),
    });
    o.records = Pointer::parse("/results/items").unwrap();
    let a = RestAdapter::new(o.clone()).unwrap();
    let first = a.build_request(&Cursor::Token(None)).unwrap();
    assert!(!first.url.as_str().contains("cursor="));
    let r = a.build_request(&Cursor::Token(Some("c1".into()))).unwrap();
    assert!(r.url.as_str().ends_with("&limit=2&cursor=c1"), "{}", r.url);
    let out = a
        .parse(
            &Cursor::Token(None),
            &response(
                r#"{"results":{"items":[{"id":1}]},"meta":{"next":"c2"}}"#,
                None,
            ),
        )
        .unwrap();
    assert_eq!(rows(&out).1, Some(&Cursor::Token(Some("c2".into()))));
    for done in [r#""""#, "null"] {
        let body = format!(r#"{{"results":{{"items":[]}},"meta":{{"next":{done}}}}}"#);
        let out = a
            .parse(&Cursor::Token(None), &response(&body, None))
            .unwrap();
        assert_eq!(rows(&out).1, None, "{done}");
    }

    o.paging = Paging::Token {
        param: "starting_after".into(),
        next: TokenSource::LastRecord(Pointer::parse("/id").unwrap()),
        size: None,
    };
    o.records = Pointer::parse("/data").unwrap();
    o.has_more = Some(Pointer::parse("/has_more").unwrap());
    let a = RestAdapter::new(o.clone()).unwrap();
    let out = a
        .parse(
            &Cursor::Token(None),
            &response(r#"{"data":[{"id":1},{"id":7}],"has_more":true}"#, None),
        )
        .unwrap();
    assert_eq!(rows(&out).1, Some(&Cursor::Token(Some("7".into()))));
    assert_eq!(rows(&out).0.num_rows(), 2);
    let out = a
        .parse(
            &Cursor::Token(None),
            &response(r#"{"data":[{"id":8}],"has_more":false}"#, None),
        )
        .unwrap();
    assert_eq!(rows(&out).1, None);

    o.paging = Paging::Token {
        param: "page".into(),
        next: TokenSource::LinkHeader,
        size: None,
    };
    o.has_more = None;
    let a = RestAdapter::new(o).unwrap();
    let link = r#"<http://127.0.0.1:9/api/page/events?page=2&total=5&api_key=s3cr3t>; rel="next""#;
    let out = a
        .parse(
            &Cursor::Token(None),
            &response(r#"{"data":[{"id":1}]}"#, Some(link)),
        )
        .unwrap();
    let next = rows(&out).1.cloned().unwrap();
    // The secret parameter is not kept in the cursor (cursors show in errors) ...
    assert_eq!(
        next,
        Cursor::Token(Some(
            "http://127.0.0.1:9/api/page/events?page=2&total=5".into()
        ))
    );
    // ... and is added back to the request.
    let r = a.build_request(&next).unwrap();
    assert_eq!(
        r.url.as_str(),
        "http://127.0.0.1:9/api/page/events?page=2&total=5&api_key=s3cr3t"
    );
    let elsewhere = r#"<https://evil.example/steal>; rel="next""#;
    let err = a
        .parse(
            &Cursor::Token(None),
            &response(r#"{"data":[{"id":1}]}"#, Some(elsewhere)),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("another origin"), "{err}");
}

#[test]
fn post_bodies_carry_the_paging_and_time_parameters() {
    let mut o = options(page_paging());
    o.method = Method::POST;
    o.params_in = ParamLocation::Body;
    o.body = Some(
        serde_json::json!({"filter": {"kind": "x"}})
            .as_object()
            .cloned()
            .unwrap(),
    );
    o.time = Some(TimeRange {
        column: 1,
        start_ms: 1_767_225_600_000,
        end_ms: 1_767_229_200_000,
        start_param: Some("start".into()),
        end_param: Some("end".into()),
        format: TimeFormat::Rfc3339,
    });
    let a = RestAdapter::new(o).unwrap();
    let r = a
        .build_request(&Cursor::Page { number: 1, size: 2 })
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"filter": {"kind": "x"}, "page": 1, "per_page": 2,
            "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"})
    );
    assert_eq!(r.headers["content-type"], "application/json");
}

#[test]
fn records_outside_the_range_are_dropped_and_pages_put_in_time_order() {
    let mut o = options(page_paging());
    o.time = Some(TimeRange {
        column: 1,
        start_ms: 1_767_225_600_000,
        end_ms: 1_767_225_780_000,
        start_param: None,
        end_param: None,
        format: TimeFormat::EpochSeconds,
    });
    let a = RestAdapter::new(o).unwrap();
    let body = r#"{"data":[{"id":3,"created_at":1767225720},{"id":9,"created_at":1767225780},
        {"id":1,"created_at":1767225600},{"id":0,"created_at":1767225540}]}"#;
    let out = a
        .parse(&Cursor::Page { number: 1, size: 4 }, &response(body, None))
        .unwrap();
    let ids: Vec<i64> = rows(&out)
        .0
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(ids, [1, 3]);
}

#[test]
fn wrong_types_name_the_column_record_and_page() {
    let a = RestAdapter::new(options(page_paging())).unwrap();
    let err = a
        .parse(
            &Cursor::Page { number: 4, size: 2 },
            &response(r#"{"data":[{"id":1},{"id":"oops"}]}"#, None),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("page_api")
            && err.contains("page 4")
            && err.contains("record 2")
            && err.contains("column 'id'")
            && err.contains("\"oops\""),
        "{err}"
    );
    let mut o = options(page_paging());
    o.lenient_types = true;
    let a = RestAdapter::new(o).unwrap();
    let out = a
        .parse(
            &Cursor::Page { number: 4, size: 2 },
            &response(r#"{"data":[{"id":1},{"id":"oops"}]}"#, None),
        )
        .unwrap();
    assert!(rows(&out).0.column(0).is_null(1));
}

#[test]
fn a_time_column_out_of_range_is_a_config_error() {
    let mut o = options(page_paging());
    o.time = Some(TimeRange {
        column: 2,
        start_ms: 0,
        end_ms: i64::MAX,
        start_param: None,
        end_param: None,
        format: TimeFormat::Auto,
    });
    let err = RestAdapter::new(o).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("time column is column 2") && text.contains("only 2 columns"),
        "{text}"
    );
}

#[test]
fn page_numbers_and_totals_at_the_top_of_u64_do_not_overflow() {
    let mut paging = page_paging();
    if let Paging::PageNumber { total_pages, .. } = &mut paging {
        *total_pages = Some(Pointer::parse("/pages").unwrap());
    }
    let a = RestAdapter::new(options(paging)).unwrap();
    // The API claims u64::MAX pages after the first page 1: the last page saturates.
    let body = r#"{"data":[{"id":1},{"id":2}],"pages":18446744073709551615}"#;
    let out = a
        .parse(&Cursor::Page { number: 1, size: 2 }, &response(body, None))
        .unwrap();
    let (_, next, last_page) = rows(&out);
    assert_eq!(next, Some(&Cursor::Page { number: 2, size: 2 }));
    assert_eq!(last_page, Some(u64::MAX));
    // A full page numbered u64::MAX, with no total: no page number follows it.
    let body = r#"{"data":[{"id":1},{"id":2}]}"#;
    let top = Cursor::Page {
        number: u64::MAX,
        size: 2,
    };
    let out = a.parse(&top, &response(body, None)).unwrap();
    let (batch, next, last_page) = rows(&out);
    assert_eq!((batch.num_rows(), next, last_page), (2, None, None));
}
