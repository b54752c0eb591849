"""One redaction for everything that leaves the process: log lines, their tracebacks, and the
error lines the scripts print."""

from __future__ import annotations

import logging

import pytest

from givtcp import logs


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    logs.set_secrets([])
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 500: echo Authorization: Token tok-abc-123456; Host: x",
        "headers={'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig'}",
        "Authorization=Token tok-abc-123456",
        "bad auth: Bearer tok-abc-123456",
        'body {"password": "tok-abc-123456"}',
        "GET /write?db=x&token=tok-abc-123456 failed",
        "cannot reach http://user:tok-abc-123456@influx:8086/api",
    ],
)
def test_credentials_are_hidden_even_when_not_a_configured_secret(text):
    hidden = logs.redact(text)
    assert "tok-abc-123456" not in hidden and "eyJhbGciOiJIUzI1NiJ9" not in hidden
    assert logs.HIDDEN in hidden


def test_configured_secrets_are_hidden_anywhere():
    logs.set_secrets(["pw", "hunter2-secret"])
    assert logs.redact("x hunter2-secret y") == f"x {logs.HIDDEN} y"


def test_plain_messages_are_left_alone():
    text = "HA_TOKEN is wrong: Home Assistant at http://h:8123 refused the token (HTTP 401)"
    assert logs.redact(text) == text


def test_log_lines_and_tracebacks_are_redacted(capsys, tmp_path):
    logs.setup_logging(True, tmp_path, ["s3cret-token-value"])
    log = logging.getLogger("givtcp.test")
    try:
        raise ValueError("server said Authorization: Bearer s3cret-token-value")
    except ValueError:
        log.exception("output failed with %s", "s3cret-token-value")
    logs.emit("influx failed: s3cret-token-value")
    err = capsys.readouterr().err
    debug = (tmp_path / logs.DEBUG_LOG_NAME).read_text()
    for text in (err, debug):
        assert "s3cret-token-value" not in text
        assert "Traceback" in text or "influx failed" in text
    assert "influx failed: ***" in err


def test_an_unusable_debug_folder_is_one_warning(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert logs.setup_logging(False, blocker, []) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DEBUG_FILE_LOCATION" in err
