from __future__ import annotations

import pickle
from typing import Any

import pytest

from cogen_aio.config import LOG_LEVELS, SETTINGS, SETTINGS_BY_NAME, Config, ConfigError

EXPECTED_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "uds": None,
    "fd": None,
    "loop": "auto",
    "http": "h11",
    "factory": False,
    "root_path": "",
    "log_level": "info",
    "access_log": True,
    "backlog": 2048,
    "timeout_keep_alive": 5.0,
    "timeout_header": 10.0,
    "timeout_body": 60.0,
    "timeout_write": 60.0,
    "timeout_graceful_shutdown": 30.0,
    "wake_parked_on_shutdown": False,
    "limit_concurrency": None,
    "limit_request_body": 1073741824,
    "input_spool_size": 524288,
    "stream_input": False,
    "h11_max_incomplete_event_size": 16384,
    "op_timeout": None,
    "legacy_environ": False,
    "debug": False,
    "server_header": True,
    "date_header": True,
}

TIMEOUTS = [s.name for s in SETTINGS if s.name.startswith("timeout_")] + ["op_timeout"]
BOOLEANS = [s.name for s in SETTINGS if s.kind in ("flag", "pair")]


def error_for(**kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Config(**kwargs)
    return info.value


# --- the table -------------------------------------------------------------


def test_table_has_exactly_the_settings_in_order() -> None:
    assert [s.name for s in SETTINGS] == list(EXPECTED_DEFAULTS)


def test_defaults() -> None:
    assert Config().as_dict() == EXPECTED_DEFAULTS


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented_and_has_a_flag(setting: Any) -> None:
    assert len(setting.help) > 40
    assert "\n" not in setting.help
    assert setting.flag == "--" + setting.name.replace("_", "-")
    assert setting.group
    # The default must survive its own caster, or from_strings/replace
    # would reject a Config built from defaults.
    assert setting.caster(setting.default) == setting.default


def test_booleans_on_by_default_are_pairs_and_the_rest_are_flags() -> None:
    for setting in SETTINGS:
        if setting.kind == "pair":
            assert setting.default is True
        elif setting.kind == "flag":
            assert setting.default is False


def test_config_attributes_match_the_table() -> None:
    assert set(Config.__slots__) == set(SETTINGS_BY_NAME)
    assert set(Config.__annotations__) == set(SETTINGS_BY_NAME)


# --- integers ----------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("0", 0), ("65535", 65535), (" 9000 ", 9000), (80, 80)])
def test_port_accepts(value: Any, expected: int) -> None:
    assert Config(port=value).port == expected


@pytest.mark.parametrize("value", ["abc", "-1", "65536", "80.0", "", True, 80.0, None])
def test_port_rejects(value: Any) -> None:
    assert str(error_for(port=value)) == (
        f"port: expected an integer between 0 and 65535, got {value!r}"
    )


def test_integer_lower_bound_only() -> None:
    assert Config(backlog="1").backlog == 1
    assert str(error_for(backlog="0")) == "backlog: expected an integer >= 1, got '0'"
    assert Config(limit_request_body=0).limit_request_body == 0
    assert str(error_for(input_spool_size=-1)) == "input_spool_size: expected an integer >= 0, got -1"
    assert str(error_for(h11_max_incomplete_event_size="16k")) == (
        "h11_max_incomplete_event_size: expected an integer >= 1, got '16k'"
    )


@pytest.mark.parametrize("value, expected", [("none", None), ("", None), (None, None), ("10", 10), (3, 3)])
def test_optional_integer_accepts(value: Any, expected: int | None) -> None:
    assert Config(limit_concurrency=value).limit_concurrency == expected


def test_optional_integer_rejects() -> None:
    assert str(error_for(limit_concurrency="0")) == (
        "limit_concurrency: expected an integer >= 1 or 'none', got '0'"
    )
    assert str(error_for(fd="-1")) == "fd: expected an integer >= 0 or 'none', got '-1'"
    assert Config(fd="0").fd == 0


# --- seconds -----------------------------------------------------------------


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize(
    "value, expected",
    [("2.5", 2.5), ("0", 0.0), (3, 3.0), (1.5, 1.5), ("none", None), ("None", None), ("", None),
     (None, None), ("inf", None), (float("inf"), None)],
)
def test_timeouts_accept(name: str, value: Any, expected: float | None) -> None:
    result = getattr(Config(**{name: value}), name)
    assert result == expected
    assert result is None or type(result) is float


@pytest.mark.parametrize("name", TIMEOUTS)
@pytest.mark.parametrize("value", ["-1", -0.5, "soon", "nan", float("nan"), True, "1s"])
def test_timeouts_reject(name: str, value: Any) -> None:
    assert str(error_for(**{name: value})) == (
        f"{name}: expected a number of seconds >= 0 or 'none', got {value!r}"
    )


# --- booleans ----------------------------------------------------------------

TRUE_WORDS = ["true", "yes", "on", "y", "t", "1", "TRUE", "Yes", " On "]
FALSE_WORDS = ["false", "no", "off", "n", "f", "0", "FALSE", "No", "oFF"]


@pytest.mark.parametrize("name", BOOLEANS)
def test_booleans_accept(name: str) -> None:
    for word in TRUE_WORDS + [True, 1]:
        assert getattr(Config(**{name: word}), name) is True
    for word in FALSE_WORDS + [False, 0]:
        assert getattr(Config(**{name: word}), name) is False


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, None])
def test_booleans_reject(value: Any) -> None:
    assert str(error_for(debug=value)) == (
        f"debug: expected a boolean (true/false, yes/no, on/off, 1/0), got {value!r}"
    )


# --- choices, strings, log level -------------------------------------------


def test_choices() -> None:
    assert Config(loop="uvloop").loop == "uvloop"
    assert Config(loop="AsyncIO").loop == "asyncio"
    assert str(error_for(loop="trio")) == "loop: expected one of auto, asyncio, uvloop, got 'trio'"
    assert str(error_for(http="spdy")) == "http: expected one of h11, httptools, got 'spdy'"
    assert Config(http="httptools").http == "httptools"


def test_strings() -> None:
    assert Config(host="0.0.0.0").host == "0.0.0.0"
    assert str(error_for(host=8080)) == "host: expected a string, got 8080"


def test_optional_string() -> None:
    assert Config(uds="/run/app.sock").uds == "/run/app.sock"
    assert Config(uds="").uds is None
    assert Config(uds=None).uds is None
    assert str(error_for(uds=3)) == "uds: expected a string, got 3"


@pytest.mark.parametrize("value, expected", [("", ""), ("/app", "/app"), ("/app/", "/app"), ("/", "")])
def test_root_path(value: str, expected: str) -> None:
    assert Config(root_path=value).root_path == expected


def test_root_path_must_be_absolute() -> None:
    assert str(error_for(root_path="app")) == (
        "root_path: expected an empty string or a path starting with '/', got 'app'"
    )


@pytest.mark.parametrize("name", list(LOG_LEVELS))
def test_log_levels(name: str) -> None:
    assert Config(log_level=name.upper()).log_level == name
    assert Config(log_level=LOG_LEVELS[name]).log_level == name


def test_trace_is_level_5() -> None:
    assert LOG_LEVELS["trace"] == 5


def test_bad_log_level() -> None:
    assert str(error_for(log_level="loud")) == (
        "log_level: expected one of critical, error, warning, info, debug, trace, got 'loud'"
    )


# --- Config ------------------------------------------------------------------


def test_unknown_setting_suggests_the_closest_name() -> None:
    error = error_for(timeout_keepalive=3)
    assert str(error) == "timeout_keepalive: unknown setting (did you mean 'timeout_keep_alive'?)"
    assert error.setting == "timeout_keepalive"


def test_unknown_setting_without_a_close_name() -> None:
    assert str(error_for(workers=4)) == "workers: unknown setting"


def test_unknown_name_is_reported_before_bad_values() -> None:
    assert error_for(port="abc", prot=1).setting == "prot"


def test_error_is_a_value_error_with_separate_parts() -> None:
    error = error_for(port="abc")
    assert isinstance(error, ValueError)
    assert (error.setting, error.message) == ("port", "expected an integer between 0 and 65535, got 'abc'")


def test_uds_and_fd_are_exclusive() -> None:
    assert str(error_for(uds="/tmp/s", fd=3)) == "fd: cannot be combined with uds; give one or the other"


def test_from_strings() -> None:
    config = Config.from_strings(
        {
            "port": " 9000 ",
            "timeout-keep-alive": "none",
            "access_log": "off",
            "limit_concurrency": "100",
            "root_path": "/app",
        }
    )
    assert config.port == 9000
    assert config.timeout_keep_alive is None
    assert config.access_log is False
    assert config.limit_concurrency == 100
    assert config.root_path == "/app"


def test_from_strings_errors_name_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^backlog: expected an integer >= 1, got 'lots'$"):
        Config.from_strings({"backlog": "lots"})
    with pytest.raises(ConfigError, match=r"^prot: unknown setting \(did you mean 'port'\?\)$"):
        Config.from_strings({"prot": "80"})


def test_replace_returns_a_new_validated_config() -> None:
    config = Config(port=9000)
    other = config.replace(debug=True)
    assert (other.port, other.debug) == (9000, True)
    assert config.debug is False
    with pytest.raises(ConfigError, match="^port: "):
        config.replace(port=-1)


def test_config_is_immutable() -> None:
    config = Config()
    with pytest.raises(AttributeError, match="replace"):
        config.port = 1  # type: ignore[misc]


def test_repr_lists_only_non_default_values() -> None:
    assert repr(Config()) == "Config()"
    assert repr(Config(port="9000", debug=True)) == "Config(port=9000, debug=True)"


def test_equality_and_pickle() -> None:
    config = Config(port=9000, timeout_body=None)
    assert config == Config(port="9000", timeout_body="none")
    assert config != Config()
    assert hash(config) == hash(Config(port=9000, timeout_body=None))
    assert pickle.loads(pickle.dumps(config)) == config
