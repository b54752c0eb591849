"""GivTCP REST service: the read and control functions over HTTP.

    gunicorn -w 4 -b 127.0.0.1:6345 REST:giv_api

GET /runAll (/runALL), /getTimeslots, /getCombinedStats, /getModesandTimes return the same JSON
as read.py; reads arriving within a few seconds share one inverter read. POST /<control
function> with the write.py JSON payload writes and reads back. With REST_TOKEN set, POST
routes need "Authorization: Bearer <token>". Status codes: 200 ok, 400 bad payload, 401 bad
token, 403 control routes off (no REST_TOKEN on a public bind, see docker/entrypoint.sh), 404
no such route, 405 wrong method, 413 body too large, 502 the inverter refused or did not
confirm a write, 504 the inverter did not answer. Every answer is JSON, keys in read.py's order.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from givenergy_modbus_codec.commands import CONTROL_FUNCTIONS
from givenergy_modbus_codec.errors import (
    CodecError,
    InverterTimeout,
    SettingsError,
    TransportError,
    ValidationError,
)
from givtcp import reading, shared_reads, writing
from givtcp.config import Settings, load_settings
from givtcp.logs import setup_logging
from givtcp.timed_actions import FUNCTIONS as TIMED_FUNCTIONS

log = logging.getLogger("givtcp.rest")
giv_api = Flask(__name__)
giv_api.json.sort_keys = False  # the groups and keys in read.py's / write.py's order
# Bodies beyond this are refused with 413 unread; up to it, one over writing's payload limit gets
# the same 400 as write.py (a payload is a few dozen bytes).
BODY_LIMIT_BYTES = 1024 * 1024
giv_api.config["MAX_CONTENT_LENGTH"] = BODY_LIMIT_BYTES

# Set by docker/entrypoint.sh when it serves on a non-loopback address without REST_TOKEN.
READ_ONLY_ENV = "GIVTCP_REST_READ_ONLY"


def _settings() -> Settings:
    settings = load_settings()
    settings.require_inverter()
    settings.check_state_folder()  # an unusable one: a JSON 500 naming STATE_LOCATION
    return settings


def _error(status: int, message: str, **extra: Any):
    return jsonify({"error": message, **extra}), status


def _inverter_error(exc: TransportError):
    status = 504 if isinstance(exc, InverterTimeout) else 502
    return _error(status, reading.unreachable_message(exc))


@giv_api.errorhandler(SettingsError)
def _settings_error(exc: SettingsError):
    return _error(500, f"GivTCP is not configured: {exc}")


@giv_api.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """404, 405, 413 ... as JSON like every other answer (Flask's default is an HTML page)."""
    messages = {
        404: f"no such route {request.path[:100]!r}: GET /runAll, /getTimeslots, "
        "/getCombinedStats, /getModesandTimes; POST /<control function>",
        405: f"{request.method} is not allowed on {request.path[:100]}",
        413: f"the request body is larger than {BODY_LIMIT_BYTES} bytes",
    }
    status = exc.code or 500
    return _error(status, messages.get(status, exc.name))


@giv_api.errorhandler(Exception)
def _unexpected_error(exc: Exception):
    log.exception("unexpected error in %s %s", request.method, request.path[:100])
    return _error(500, f"internal error ({type(exc).__name__}); see the GivTCP log")


def _read_route(function: str):
    def handler():
        settings = _settings()
        try:
            groups, failures = shared_reads.read_shared(function, settings)
        except TransportError as exc:
            return _inverter_error(exc)
        for failure in failures:
            log.warning("%s", failure)
        return jsonify(groups)

    handler.__name__ = f"read_{function}"
    return handler


for _name in reading.READ_FUNCTIONS:
    giv_api.add_url_rule(f"/{_name}", view_func=_read_route(_name), methods=["GET"])
giv_api.add_url_rule("/runALL", view_func=_read_route("runAll"), methods=["GET"], endpoint="runALL")


def _authorised(settings: Settings) -> bool:
    if not settings.rest_token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {settings.rest_token}".encode())


def _control_route(function: str):
    def handler():
        settings = _settings()
        if not settings.rest_token and os.environ.get(READ_ONLY_ENV):
            return _error(
                403,
                "the control routes are off: the REST API listens on a non-loopback address "
                "and REST_TOKEN is empty; set REST_TOKEN and send Authorization: Bearer <token>",
            )
        if not _authorised(settings):
            return _error(401, "missing or wrong token: send Authorization: Bearer <REST_TOKEN>")
        try:
            # JSON whatever the Content-Type says: plain `curl -d` sends form-urlencoded.
            payload = writing.parse_payload(request.get_data(cache=False))
            writing.plan_control(function, payload)
            report = writing.write_inverter(function, payload, settings)
        except ValidationError as exc:
            return jsonify(exc.as_dict()), 400
        except CodecError as exc:
            return _error(400, str(exc))
        except TransportError as exc:
            return _inverter_error(exc)
        # A write that was sent ends every shared read's window (write_state's stamp).
        return jsonify(report.as_dict()), 200 if report.ok else 502

    handler.__name__ = f"control_{function}"
    return handler


for _name in (*CONTROL_FUNCTIONS, *TIMED_FUNCTIONS):
    giv_api.add_url_rule(f"/{_name}", view_func=_control_route(_name), methods=["POST"])


def _configure_logging() -> None:
    try:
        settings = load_settings()
    except SettingsError:
        return  # reported on each request
    setup_logging(
        False, settings.debug_file_location if settings.debug else None, settings.secrets()
    )


_configure_logging()
