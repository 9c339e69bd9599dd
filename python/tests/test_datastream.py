"""ddstream.Datastream: upstream datastream's API over the store, from Python.

Expected values are worked out here from the points appended (sums, counts, means, range
rules from upstream's tests), not read back from the store's own maths.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess

import pytest

import ddstream
from ddstream import Granularity, exceptions

from conftest import cli_binary

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    return ddstream.Datastream(str(tmp_path / "store"))


def seconds_stream(store, name="foo", downsamplers=("count", "sum", "mean", "min", "max")):
    return store.ensure_stream({"name": name}, {}, list(downsamplers), Granularity.Seconds)


def test_upstream_usage_runs_with_only_the_import_changed(tmp_path):
    # docs/usage.rst and the README's example, with `import ddstream as datastream` and the
    # store backend in place of MongoDB's.
    import ddstream as datastream
    from ddstream.backends import store

    stream = datastream.Datastream(store.Backend(str(tmp_path / "db")))
    stream_id = stream.ensure_stream(
        {"name": "foo"}, {}, ["mean", "min", "max"], datastream.Granularity.Seconds
    )
    stream.append(stream_id, 42)
    datapoints = stream.get_data(
        stream_id, datastream.Granularity.Seconds, dt.datetime.utcfromtimestamp(0)
    )
    assert len(datapoints) == 1
    assert datapoints[0]["v"] == 42
    assert isinstance(datapoints[0]["t"], dt.datetime)
    assert datapoints[0]["t"].tzinfo is not None
    # Appended "now": within a few seconds of the wall clock.
    assert abs((datapoints[0]["t"] - dt.datetime.now(UTC)).total_seconds()) < 60


def test_granularities_are_ordered_finest_greatest_with_upstream_names():
    g = Granularity
    assert g.Seconds > g.Seconds10 > g.Minutes > g.Minutes10 > g.Hours > g.Hours6 > g.Days
    assert [x.name for x in g.values] == [
        "seconds", "10seconds", "minutes", "10minutes", "hours", "6hours", "days",
    ]
    assert [x.key for x in g.values] == ["s", "S", "m", "M", "h", "H", "d"]
    at = dt.datetime(2026, 1, 1, 13, 47, 31, tzinfo=UTC)
    assert g.Hours6.round_timestamp(at) == dt.datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert g.Minutes10.round_timestamp(at) == dt.datetime(2026, 1, 1, 13, 40, tzinfo=UTC)
    assert g.Days.duration_in_seconds() == 86_400


def test_ensure_stream_is_idempotent_and_tags_are_merged(store):
    first = store.ensure_stream({"name": "cpu"}, {"unit": "%"}, ["mean"], Granularity.Seconds)
    again = store.ensure_stream({"name": "cpu"}, {"host": "a"}, ["mean"], Granularity.Seconds)
    assert first == again
    tags = store.get_tags(first)
    assert tags["name"] == "cpu" and tags["host"] == "a"
    assert tags["stream_id"] == first
    assert tags["highest_granularity"] is Granularity.Seconds
    assert tags["latest_datapoint"] is None

    store.update_tags(first, {"location": {"room": "r1", "rack": 2}})
    assert store.find_streams({"location": {"room": "r1"}})[0]["stream_id"] == first
    assert store.find_streams({"location": {"room": "r2"}}) == []
    store.remove_tag(first, {"location": {"rack": ""}})
    assert store.get_tags(first)["location"] == {"room": "r1"}
    store.clear_tags(first)
    assert "name" not in store.get_tags(first)

    other = store.ensure_stream({"name": "mem"}, {}, [], Granularity.Seconds)
    store.update_tags(other, {"kind": "x"})
    store.update_tags(first, {"kind": "x"})
    with pytest.raises(exceptions.MultipleStreamsReturned):
        store.ensure_stream({"kind": "x"}, {}, [], Granularity.Seconds)


def test_range_rules_of_upstream_get_data(store):
    # upstream test_common: 1200 one-second points from 12:00:00; start=12:00:00 and
    # end=12:01:00 give 61 (the end is inclusive), end_exclusive gives 60.
    sid = seconds_stream(store)
    store.append_multiple(
        {"stream_id": sid, "value": i, "timestamp": T0 + dt.timedelta(seconds=i)}
        for i in range(1200)
    )
    minute = T0 + dt.timedelta(minutes=1)
    assert len(store.get_data(sid, Granularity.Seconds, start=T0, end=minute)) == 61
    assert len(store.get_data(sid, Granularity.Seconds, start=T0, end_exclusive=minute)) == 60
    after = store.get_data(sid, Granularity.Seconds, start_exclusive=T0, end=minute)
    assert [p["v"] for p in after][:2] == [1, 2] and len(after) == 60
    newest = store.get_data(sid, Granularity.Seconds, start=T0, reverse=True)
    assert newest[0]["v"] == 1199 and newest[-1]["v"] == 0
    # Slices as upstream's result object: 200 points, [190:210] holds 10.
    first200 = store.get_data(
        sid, Granularity.Seconds, start=T0, end_exclusive=T0 + dt.timedelta(seconds=200)
    )
    assert len(first200[190:210]) == 10
    # Iteration streams the same points as indexing.
    assert [p["v"] for p in store.get_data(sid, Granularity.Seconds, start=T0)] == list(
        range(1200)
    )
    # Naive datetimes are UTC, as upstream.
    naive = T0.replace(tzinfo=None)
    assert len(store.get_data(sid, Granularity.Seconds, start=naive, end=naive)) == 1


def test_downsampled_points_have_upstreams_keys_and_maths(store):
    sid = seconds_stream(store, downsamplers=("count", "sum", "sum_squares", "min", "max",
                                              "mean", "std_dev"))
    # Two hours of points every 5 s, values 0, 1, 2, ... and one null.
    points = [(T0 + dt.timedelta(seconds=5 * i), float(i % 37)) for i in range(1440)]
    points[3] = (points[3][0], None)
    store.append_multiple({"stream_id": sid, "value": v, "timestamp": t} for t, v in points)
    store.downsample_streams(until=T0 + dt.timedelta(days=1))

    minutes = list(store.get_data(sid, Granularity.Minutes, start=T0))
    # A bucket closes once a later point exists: the last minute stays open.
    assert len(minutes) == 119
    for k, bucket in enumerate(minutes):
        start = T0 + dt.timedelta(minutes=k)
        inside = [(t, v) for t, v in points if start <= t < start + dt.timedelta(minutes=1)]
        values = [v for _, v in inside if v is not None]
        n = len(values)
        mean = sum(values) / n
        var = sum(x * x for x in values) / n - mean * mean
        v = bucket["v"]
        assert v["c"] == n
        assert v["s"] == pytest.approx(sum(values))
        assert v["q"] == pytest.approx(sum(x * x for x in values))
        assert v["l"] == min(values) and v["u"] == max(values)
        assert v["m"] == pytest.approx(mean)
        assert v["d"] == pytest.approx(math.sqrt(var if abs(var) >= 1e-6 else 0.0))
        t = bucket["t"]
        assert t["a"] == inside[0][0] and t["z"] == inside[-1][0]
        mean_ts = sum(int(t.timestamp()) for t, v in inside if v is not None) // n
        assert t["m"] == dt.datetime.fromtimestamp(mean_ts, tz=UTC)

    only_count = store.get_data(sid, Granularity.Minutes, start=T0, value_downsamplers=["count"])
    assert set(only_count[0]["v"]) == {"c"}
    no_values = store.get_data(sid, Granularity.Minutes, start=T0, value_downsamplers=[])
    assert "v" not in no_values[0] and set(no_values[0]["t"]) == {"a", "m", "z"}
    first_only = store.get_data(
        sid, Granularity.Minutes, start=T0, value_downsamplers=[], time_downsamplers=["first"]
    )
    assert first_only[0] == {"t": {"a": T0}}
    # The hour is built from the minutes: its count is every non-null point of the hour.
    hours = store.get_data(sid, Granularity.Hours, start=T0)
    assert len(hours) == 1
    assert hours[0]["v"]["c"] == sum(1 for t, v in points if t < T0 + dt.timedelta(hours=1)
                                     and v is not None)
    tags = store.get_tags(sid)
    assert tags["latest_datapoint"] == points[-1][0]
    assert tags["downsampled_until"]["hours"] == T0 + dt.timedelta(hours=1)


def test_return_datapoints_and_filter_stream(store):
    a = seconds_stream(store, "a", ["count"])
    b = seconds_stream(store, "b", ["count"])
    for sid in (a, b):
        store.append_multiple(
            {"stream_id": sid, "value": 1, "timestamp": T0 + dt.timedelta(seconds=i)}
            for i in range(0, 130)
        )
    seen = []

    def only_a(tags):
        seen.append(tags["name"])
        return tags["name"] == "a"

    new = store.downsample_streams(
        until=T0 + dt.timedelta(days=1), return_datapoints=True, filter_stream=only_a
    )
    assert sorted(seen) == ["a", "b"]
    assert {p["stream_id"] for p in new} == {a}
    # 12 ten-second buckets and 2 minutes are closed by the point at 12:02:09.
    by_granularity = {}
    for p in new:
        by_granularity.setdefault(p["granularity"], []).append(p)
    assert len(by_granularity[Granularity.Seconds10]) == 12
    assert len(by_granularity[Granularity.Minutes]) == 2
    assert by_granularity[Granularity.Minutes][0]["datapoint"]["v"]["c"] == 60
    assert store.get_data(b, Granularity.Minutes, start=T0).count() == 0

    def broken(tags):
        raise KeyError("no such tag")

    with pytest.raises(KeyError):
        store.downsample_streams(filter_stream=broken)

    def reentrant(tags):
        return bool(store.get_tags(tags["stream_id"]))

    # Calling the store from inside its own callback is a clear error, not a crash.
    with pytest.raises(exceptions.InvalidArgument, match="filter_stream"):
        store.downsample_streams(filter_stream=reentrant)


def test_derived_streams_are_fed_on_append_and_backprocessed(store):
    src = seconds_stream(store, "counter", ["count"])
    pts = [(T0 + dt.timedelta(seconds=10 * i), float(v)) for i, v in enumerate([5, 8, 8, 20])]
    store.append(src, pts[0][1], pts[0][0])
    store.append(src, pts[1][1], pts[1][0])
    # Created after two points: backprocess feeds them, later appends feed it live.
    deriv = store.ensure_stream(
        {"name": "rate"}, {}, ["mean"], Granularity.Seconds,
        derive_from=src, derive_op="derivative",
    )
    store.backprocess_streams()
    for t, v in pts[2:]:
        store.append(src, v, t)
    got = [(p["t"], p["v"]) for p in store.get_data(deriv, Granularity.Seconds, start=T0)]
    expected = [
        (pts[i][0], (pts[i][1] - pts[i - 1][1]) / (pts[i][0] - pts[i - 1][0]).total_seconds())
        for i in range(1, len(pts))
    ]
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected])
    assert store.get_tags(deriv)["derived_from"]["op"] == "derivative"

    with pytest.raises(exceptions.AppendToDerivedStreamNotAllowed) as e:
        store.append(deriv, 1.0)
    assert isinstance(e.value, ValueError)
    with pytest.raises(exceptions.OutstandingDependenciesError):
        store.delete_streams({"name": "counter"})
    store.delete_streams({"name": "rate"})
    store.delete_streams({"name": "counter"})
    assert store.find_streams() == []


def test_nominal_values_and_frequencies(store):
    sid = store.ensure_stream(
        {"name": "state"}, {}, ["count", "most_often", "least_often", "frequencies"],
        Granularity.Seconds, value_type="nominal",
    )
    values = ["up", "up", "down", "up", "idle", "down", "up"]
    store.append_multiple(
        {"stream_id": sid, "value": v, "timestamp": T0 + dt.timedelta(seconds=i)}
        for i, v in enumerate(values)
    )
    store.append(sid, "up", T0 + dt.timedelta(minutes=5))
    store.downsample_streams(until=T0 + dt.timedelta(days=1))
    minute = store.get_data(sid, Granularity.Minutes, start=T0)[0]["v"]
    counts = {v: values.count(v) for v in set(values)}
    assert minute["c"] == len(values)
    assert max(counts.values()) == counts["up"] and min(counts.values()) == counts["idle"]
    assert minute["o"] == "up"
    assert minute["r"] == "idle"
    assert sorted(map(tuple, minute["f"])) == sorted(counts.items())


def test_every_exception_class_and_its_upstream_base(store):
    sid = seconds_stream(store)
    store.append(sid, 1, T0)
    cases = [
        (lambda: store.get_tags("0123456789abcdef01234567"), exceptions.StreamNotFound, None),
        (lambda: store.get_data("nope", Granularity.Seconds, start=T0),
         exceptions.StreamNotFound, None),
        (lambda: store.ensure_stream({"name": "x"}, {"stream_id": 1}, [], Granularity.Seconds),
         exceptions.ReservedTagNameError, ValueError),
        (lambda: store.ensure_stream({"a__b": 1}, {}, [], Granularity.Seconds),
         exceptions.ReservedTagNameError, ValueError),
        (lambda: store.ensure_stream({"name": "y"}, {}, ["nope"], Granularity.Seconds),
         exceptions.UnsupportedDownsampler, ValueError),
        (lambda: store.ensure_stream({"name": "y"}, {}, [], "seconds"),
         exceptions.UnsupportedGranularity, ValueError),
        (lambda: store.ensure_stream({"name": "y"}, {}, [], Granularity.Seconds,
                                     value_type="complex"),
         exceptions.UnsupportedValueType, TypeError),
        (lambda: store.ensure_stream({"name": "y"}, {}, [], Granularity.Seconds,
                                     derive_from=sid, derive_op="integral"),
         exceptions.UnsupportedDeriveOperator, ValueError),
        (lambda: store.ensure_stream({"name": "y"}, {}, [], Granularity.Seconds,
                                     derive_from=[sid, sid], derive_op="derivative"),
         exceptions.InvalidOperatorArguments, ValueError),
        (lambda: store.ensure_stream({"name": "foo"}, {}, [], Granularity.Seconds,
                                     value_type="nominal"),
         exceptions.InconsistentStreamConfiguration, None),
        (lambda: store.append(sid, 2, T0 - dt.timedelta(seconds=1)),
         exceptions.InvalidTimestamp, ValueError),
        (lambda: store.append(sid, 2, dt.datetime(2040, 1, 1)),
         exceptions.InvalidTimestamp, ValueError),
        (lambda: store.get_data(sid, Granularity.Seconds, start=T0, start_exclusive=T0),
         exceptions.InvalidArgument, AttributeError),
        (lambda: store.get_data(sid, Granularity.Seconds),
         exceptions.InvalidArgument, AttributeError),
        (lambda: store.get_data(sid, Granularity.Minutes, start=T0,
                                value_downsamplers=["median"]),
         exceptions.UnsupportedDownsampler, ValueError),
        (lambda: store.append(sid, {1, 2}), exceptions.InvalidArgument, TypeError),
        (lambda: store.get_data(sid, Granularity.Seconds, start="2026-01-01"),
         exceptions.InvalidArgument, None),
    ]
    for call, cls, base in cases:
        with pytest.raises(cls) as caught:
            call()
        assert isinstance(caught.value, exceptions.DatastreamException)
        assert isinstance(caught.value, ddstream.Error)
        if base is not None:
            assert isinstance(caught.value, base)
        message = str(caught.value)
        assert message and "\n" not in message and "Error(" not in message, message


def test_append_multiple_keeps_the_points_before_a_bad_one(store):
    sid = seconds_stream(store)
    batch = [{"stream_id": sid, "value": i, "timestamp": T0 + dt.timedelta(seconds=i)}
             for i in range(5)]
    batch.insert(3, {"stream_id": sid, "value": 99, "timestamp": T0})  # older than the last
    with pytest.raises(exceptions.InvalidTimestamp):
        store.append_multiple(batch)
    kept = store.get_data(sid, Granularity.Seconds, start=T0)
    assert [p["v"] for p in kept] == [0, 1, 2]


def test_a_store_written_from_python_is_read_by_the_cli_with_sql(tmp_path):
    location = str(tmp_path / "shared")
    store = ddstream.Datastream(location)
    sid = seconds_stream(store, "cpu")
    values = [float(i * i % 17) for i in range(300)]
    store.append_multiple(
        {"stream_id": sid, "value": v, "timestamp": T0 + dt.timedelta(seconds=i)}
        for i, v in enumerate(values)
    )
    store.downsample_streams(until=T0 + dt.timedelta(days=1))
    sql = (
        "SELECT granularity, count(*) AS n, sum(value) AS raw_sum, sum(sum) AS bucket_sum "
        "FROM store.datapoints GROUP BY granularity ORDER BY granularity"
    )
    out = subprocess.run(
        [str(cli_binary()), "--store", location, "-q", "--format", "json", sql],
        capture_output=True, text=True, check=True,
    )
    rows = {r["granularity"]: r for r in json.loads(out.stdout)}
    assert rows["seconds"]["n"] == 300
    assert rows["seconds"]["raw_sum"] == pytest.approx(sum(values))
    # Four whole minutes are closed by the point at 12:04:59; the fifth stays open.
    assert rows["minutes"]["n"] == 4
    assert rows["minutes"]["bucket_sum"] == pytest.approx(sum(values[:240]))


def test_repr_and_errors_name_the_location(tmp_path):
    store = ddstream.Datastream(str(tmp_path / "r"))
    assert repr(store) == f"ddstream.Datastream({str(tmp_path / 'r')!r})"
    with pytest.raises(exceptions.InvalidArgument) as e:
        ddstream.Datastream("s3://bucket/prefix")
    assert "meta" in str(e.value)
