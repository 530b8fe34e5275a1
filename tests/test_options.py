"""Options and endpoint are checked before anything is sent: a clear one-line message and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import build_parser
from tests.conftest import Cli

# A dead loopback port: should a check be missing, the run fails there, never on the network.
NOWHERE = "http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key and no real endpoint in the environment: nothing these tests run can reach a real API."""
    for name in ("AS_API_KEY", "ATOMSCALE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AS_API_ENDPOINT", NOWHERE)


def refused(ran_err: str, option: str, message: str) -> bool:
    """Whether stderr is the one-line usage error for `option` with `message`."""
    lines = ran_err.strip().splitlines()
    return len(lines) == 1 and f"argument {option}: {message}" in lines[0] and "Traceback" not in ran_err


RUN_OPTIONS = [
    ("--concurrency", "65", "must be at least 1 and at most 64, got 65"),
    ("--concurrency", "100000000", "must be at least 1 and at most 64, got 100000000"),
    ("--concurrency", "eight", "must be a whole number, got 'eight'"),
    ("--concurrency", "4.5", "must be a whole number, got '4.5'"),
    ("--concurrency", "", "must be a whole number, got ''"),
    ("--max-attempts", "0", "must be at least 1 and at most 100, got 0"),
    ("--max-attempts", "1000000", "must be at least 1 and at most 100, got 1000000"),
    ("--max-attempts", "many", "must be a whole number, got 'many'"),
    ("--rate-limit", "inf", "must be a finite number, got 'inf'"),
    ("--rate-limit", "nan", "must be a finite number, got 'nan'"),
    ("--rate-limit", "1e400", "must be a finite number, got '1e400'"),
    ("--rate-limit", "-1", "must be at least 0.01 and at most 10000, got '-1'"),
    ("--rate-limit", "0", "must be at least 0.01 and at most 10000, got '0'"),
    ("--rate-limit", "-0.0", "must be at least 0.01 and at most 10000, got '-0.0'"),
    ("--rate-limit", "1e300", "must be at least 0.01 and at most 10000, got '1e300'"),
    ("--rate-limit", "fast", "must be a number, got 'fast'"),
    ("--rate-limit", "1e-9", "must be at least 0.01 and at most 10000, got '1e-9'"),
    ("--timeout", "1e-300", "must be at least 0.1 and at most 3600, got '1e-300'"),
    ("--timeout", "inf", "must be a finite number, got 'inf'"),
    ("--timeout", "-inf", "must be a finite number, got '-inf'"),
    ("--timeout", "NaN", "must be a finite number, got 'NaN'"),
    ("--timeout", "1e400", "must be a finite number, got '1e400'"),
    ("--timeout", "-1", "must be at least 0.1 and at most 3600, got '-1'"),
    ("--timeout", "0", "must be at least 0.1 and at most 3600, got '0'"),
    ("--timeout", "1e10", "must be at least 0.1 and at most 3600, got '1e10'"),
    ("--timeout", "30s", "must be a number, got '30s'"),
    ("--wavelength-tolerance", "0", "must be more than 0 and at most 50, got '0'"),
    ("--wavelength-tolerance", "-0.5", "must be more than 0 and at most 50, got '-0.5'"),
    ("--wavelength-tolerance", "51", "must be more than 0 and at most 50, got '51'"),
    ("--wavelength-tolerance", "nan", "must be a finite number, got 'nan'"),
    ("--wavelength-tolerance", "inf", "must be a finite number, got 'inf'"),
    ("--wavelength-tolerance", "0.5nm", "must be a number, got '0.5nm'"),
]


@pytest.mark.parametrize("command", ["plan", "apply"])
@pytest.mark.parametrize(("option", "value", "message"), RUN_OPTIONS)
def test_run_options_out_of_range_or_not_numbers_are_refused(
    cli: Cli, command: str, option: str, value: str, message: str
) -> None:
    """plan and apply refuse each bad value in one line naming option, bound and value: exit 1."""
    ran = cli(command, f"{option}={value}", "examples/")
    assert ran.code == 1
    assert refused(ran.err, option, message), ran.err
    assert ran.out == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--concurrency", "65", "must be at least 1 and at most 64, got 65"),
        ("--max-attempts", "0", "must be at least 1 and at most 100, got 0"),
        ("--max-attempts", "x", "must be a whole number, got 'x'"),
        ("--timeout", "nan", "must be a finite number, got 'nan'"),
    ],
)
def test_export_options_are_checked_the_same_way(cli: Cli, option: str, value: str, message: str) -> None:
    """export takes the same bounds for the options it shares with plan and apply."""
    ran = cli("export", f"{option}={value}", "d290f1ee-6c54-4b01-90e6-d701748f0851")
    assert ran.code == 1
    assert refused(ran.err, option, message), ran.err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-changes", "-1", "must be at least 0, got -1"),
        ("--max-changes", "ten", "must be a whole number, got 'ten'"),
    ],
)
def test_max_changes_is_a_whole_number_of_zero_or_more(
    cli: Cli, option: str, value: str, message: str
) -> None:
    """--max-changes refuses a negative or non-numeric value with a message, not the type function's name."""
    ran = cli("apply", f"{option}={value}", "examples/")
    assert ran.code == 1
    assert refused(ran.err, option, message), ran.err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--latency", "nan", "must be a finite number, got 'nan'"),
        ("--latency", "inf", "must be a finite number, got 'inf'"),
        ("--latency", "-1", "must be at least 0 and at most 3600, got '-1'"),
        ("--latency", "1e300", "must be at least 0 and at most 3600, got '1e300'"),
        ("--timeout-delay", "nan", "must be a finite number, got 'nan'"),
        ("--timeout-delay", "-0.5", "must be at least 0 and at most 3600, got '-0.5'"),
        ("--fault-rate", "nan", "must be a finite number, got 'nan'"),
        ("--fault-rate", "1.5", "must be at least 0 and at most 1, got '1.5'"),
        ("--fault-rate", "-0.1", "must be at least 0 and at most 1, got '-0.1'"),
        ("--fail-first", "-1", "must be at least 0, got -1"),
        ("--fail-first", "twice", "must be a whole number, got 'twice'"),
        ("--synthetic", "-1", "must be at least 0, got -1"),
        ("--peaks", "0", "must be at least 1, got 0"),
        ("--points", "-5", "must be at least 1, got -5"),
        ("--differing", "-1", "must be at least 0, got -1"),
        ("--seed", "abc", "must be a whole number, got 'abc'"),
        ("--port", "http", "must be a whole number, got 'http'"),
    ],
)
def test_sandbox_fault_options_refuse_nan_negative_and_non_numbers(
    cli: Cli, option: str, value: str, message: str
) -> None:
    """The sandbox's fault and size options are checked as the run's are (before --print-data prints)."""
    ran = cli("sandbox", f"{option}={value}", "--print-data")
    assert ran.code == 1
    assert refused(ran.err, option, message), ran.err
    assert ran.out == ""


def test_a_long_bad_value_is_cut_short_in_the_message(cli: Cli) -> None:
    """A pasted paragraph as a value does not fill the screen: the message shows its first 40 characters."""
    ran = cli("plan", "--timeout", "x" * 5000, "examples/")
    assert ran.code == 1
    assert refused(ran.err, "--timeout", f"must be a number, got '{'x' * 40}…'"), ran.err


def test_the_bounds_themselves_are_accepted() -> None:
    """1 and 64 workers, 1 and 100 attempts, 0.1 and 3600 s, 0.01 and 10000 per second: taken as given."""
    parser = build_parser()
    low = parser.parse_args(
        ["plan", "--concurrency=1", "--max-attempts=1", "--timeout=0.1", "--rate-limit=0.01", "x"]
    )
    high = parser.parse_args(
        ["apply", "--concurrency=64", "--max-attempts=100", "--timeout=3600", "--rate-limit=10000", "x"]
    )
    assert (low.concurrency, low.max_attempts, low.timeout, low.rate_limit) == (1, 1, 0.1, 0.01)
    assert (high.concurrency, high.max_attempts, high.timeout, high.rate_limit) == (64, 100, 3600.0, 10000.0)


def test_wavelength_tolerance_bounds_and_default() -> None:
    """--wavelength-tolerance takes any finite value above 0 up to 50 nm; 0.5 nm when not given."""
    parser = build_parser()
    assert parser.parse_args(["plan", "x"]).wavelength_tolerance == 0.5
    assert parser.parse_args(["apply", "--wavelength-tolerance=50", "x"]).wavelength_tolerance == 50.0
    assert parser.parse_args(["plan", "--wavelength-tolerance=1e-3", "x"]).wavelength_tolerance == 0.001


def test_overwrite_conflicts_is_an_apply_option(cli: Cli) -> None:
    """plan has no --overwrite-conflicts: a plan only reports conflicts."""
    ran = cli("plan", "--overwrite-conflicts", "examples/")
    assert ran.code == 1
    assert "unrecognized arguments: --overwrite-conflicts" in ran.err


def test_overwrite_conflicts_with_a_saved_plan_is_refused(cli: Cli, tmp_path: Path) -> None:
    """A saved plan's conflicts were decided when it was made: the flag cannot change them; refused."""
    ran = cli("apply", "--plan", str(tmp_path / "plan.json"), "--overwrite-conflicts")
    assert ran.code == 1
    assert ran.err.strip() == (
        "InputError: apply --plan applies the changes the saved plan decided, and its conflicts were "
        "decided then: apply the override files with --overwrite-conflicts instead"
    )


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_endpoint_variable_is_refused_before_anything_else(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """An empty AS_API_ENDPOINT is refused by name (never read as Atomscale's host), before the key."""
    monkeypatch.setenv("AS_API_ENDPOINT", value)
    ran = cli("plan", "examples/")
    assert ran.code == 1
    assert ran.err.strip() == (
        "ConfigError: AS_API_ENDPOINT is set but empty: give the API's URL, "
        "or unset the variable to use https://api.atomscale.ai/"
    )


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("", "--endpoint is set but empty: give the API's URL, or leave the option out"),
        (f"{NOWHERE}?key=1", f"--endpoint '{NOWHERE}?key=1' has a query or fragment"),
        (f"{NOWHERE}#api", f"--endpoint '{NOWHERE}#api' has a query or fragment"),
        ("http://[::1", "--endpoint 'http://[::1' is not a valid URL: Invalid IPv6 URL"),
        ("http://127.0.0.1:65536/", "is not a valid URL: Port out of range 0-65535"),
        ("http://127.0.0.1:port/", "is not a valid URL: Port could not be cast to integer"),
        ("http://127.0.0.1/my api/", "holds a space or a control character"),
    ],
)
def test_unusable_endpoint_flag_is_one_line_and_exit_1(cli: Cli, endpoint: str, message: str) -> None:
    """A bad --endpoint is a ConfigError naming the flag and the reason, never a traceback."""
    ran = cli("plan", "--endpoint", endpoint, "examples/")
    assert ran.code == 1
    assert len(ran.err.strip().splitlines()) == 1, ran.err
    assert ran.err.startswith("ConfigError: ")
    assert message in ran.err


@pytest.mark.parametrize(
    "argv", [("undo", "99999999999999999999999"), ("history", "--limit", "99999999999999999999999")]
)
def test_a_run_id_or_limit_beyond_a_database_integer_is_a_usage_error(
    cli: Cli, argv: tuple[str, ...]
) -> None:
    """A number SQLite cannot hold: one line naming the range, exit 1, not a traceback."""
    ran = cli(*argv)
    assert ran.code == 1
    assert "Traceback" not in ran.err
    assert "and at most 9223372036854775807" in ran.err
