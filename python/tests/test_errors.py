"""Errors: the exception classes, the API's own message on 403, and keys never shown."""

from __future__ import annotations

import pytest

import ddstream
from conftest import DAY0

SECRET_API = "SEKRIT-api-key-4242"
SECRET_APP = "SEKRIT-app-key-5353"


def test_unknown_adapter_lists_the_adapters():
    with pytest.raises(ddstream.UnknownAdapterError) as e:
        ddstream.stream("datadog_v9", {"query": "q"})
    assert "datadog_v1" in str(e.value) and "token_api" in str(e.value)
    assert isinstance(e.value, ddstream.ConfigError) and isinstance(e.value, ddstream.Error)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"query": "system.cpu.user{*}", "granularity": "often"}, "granularity"),
        ({"query": "system.cpu.user{*}", "colour": "blue"}, "unknown option 'colour'"),
        ("{not json", "JSON"),
        ({"query": "system.cpu.user{*}", "range_start": "yesterday"}, "range_start"),
    ],
)
def test_bad_configs_say_what_is_wrong(config, expected):
    with pytest.raises(ddstream.ConfigError) as e:
        ddstream.stream("datadog_v1", config)
    assert expected in str(e.value)
    assert "Error {" not in str(e.value) and "Config(" not in str(e.value)


def test_403_carries_the_api_message_and_never_the_keys():
    with ddstream.Simulator(api_key="the-right-key", app_key="the-right-app") as sim:
        config = {"query": "system.cpu.user{*}", "base_url": sim.base_url,
                  "api_key": SECRET_API, "app_key": SECRET_APP}
        s = ddstream.stream("datadog_v1", config, start=DAY0, end=DAY0 + 3600)
        with pytest.raises(ddstream.ApiError) as e:
            list(s)
        assert e.value.status == 403
        assert e.value.api_message and e.value.api_message in str(e.value)
        shown = [str(e.value), repr(e.value), repr(s), e.value.api_message]
        # next_batch: None and the same error as text.
        s2 = ddstream.stream("datadog_v1", config, start=DAY0, end=DAY0 + 3600)
        assert s2.next_batch() is None
        shown += [s2.last_error(), repr(s2)]
        assert "403" in s2.last_error()
        # validate() checks the key against the API.
        with pytest.raises(ddstream.ApiError):
            ddstream.validate("datadog_v1", config)
        cfg = ddstream.DDStreamConfig(query="system.cpu.user{*}", base_url=sim.base_url,
                                      api_key=SECRET_API, app_key=SECRET_APP)
        shown += [ddstream.DDStream.validate(cfg) or "", repr(cfg)]
        table = ddstream.table("datadog_v1", config)
        shown.append(repr(table))
        for text in shown:
            assert SECRET_API not in text and SECRET_APP not in text, text


def test_keys_stay_out_of_config_errors():
    with pytest.raises(ddstream.ConfigError) as e:
        ddstream.stream("datadog_v1", {"query": "system.cpu.user{*}", "api_key": SECRET_API,
                                       "granularity": SECRET_APP})
    assert SECRET_API not in str(e.value)


def test_session_and_sql_errors():
    with pytest.raises(ddstream.SqlError):
        ddstream.sql("SELEKT 1")
    with pytest.raises(ddstream.ConfigError) as e:
        ddstream.Session(settings={"ddstream.nonsense": "1"})
    assert "nonsense" in str(e.value)


def test_rate_limit_exhaustion_is_a_rate_limit_error():
    with ddstream.Simulator(faults="p=1; kinds=429; seed=1") as sim:
        config = {"query": "system.cpu.user{*}", "base_url": sim.base_url, "max_retries": "1"}
        with pytest.raises(ddstream.RateLimitError) as e:
            list(ddstream.stream("datadog_v1", config, start=DAY0, end=DAY0 + 3600))
        assert e.value.status == 429
