"""Home Assistant REST states (v1.0's HA_OUTPUT): one ``POST {HA_URL}/api/states/<entity id>``
per value, with a long-lived access token (HA_TOKEN).

Entity ids keep v1.0's ``sensor.givtcp_<key>``, lower-case as Home Assistant stores them
("PV Power" -> ``sensor.givtcp_pv_power``; every run of characters other than a-z and 0-9 becomes
one "_"). Battery values add the battery serial at the end
(``sensor.givtcp_battery_soc_bg2130g120``); booleans are ``binary_sensor.givtcp_<key>`` with
``on``/``off``. These never clash with the MQTT discovery entities, whose ids start with
``givtcp_<serial>_``: with several inverters use MQTT discovery, because these REST ids, like
v1.0's, have no inverter serial.

Published: Power, Power/Flows, Energy/Today, Energy/Total, Invertor Details, Control, Timeslots
and every battery's Battery Details; text values (serials, "HHMM" slot times, schedule states)
are plain sensors without unit or classes. "Data Quality" (rejected values) is never published.
Attributes: ``friendly_name`` ("GivTCP PV Power"), and from the report metadata
``unit_of_measurement``, ``device_class`` and ``state_class`` (energy is ``energy`` in kWh,
never ``power`` as in v1.0). HA replaces a state's attributes on every POST, so each POST sends
all of them. Such states are not registry entities: HA forgets them on restart until the next
run posts them again.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from givtcp import report
from outputs import OutputError, Publication, os_reason, slug

log = logging.getLogger(__name__)

INVERTER_GROUPS = (
    report.GROUP_POWER,
    report.GROUP_FLOWS,
    report.GROUP_TODAY,
    report.GROUP_TOTAL,
    report.GROUP_DETAILS,
    report.GROUP_CONTROL,
    report.GROUP_TIMESLOTS,
)
TIMEOUT = (5.0, 10.0)  # connect, read (seconds) per request


def _state(
    group: str, key: str, value: Any, battery: str | None, publication: Publication
) -> tuple[str, dict[str, Any]]:
    """(entity id, POST body) for one value."""
    domain = "binary_sensor" if isinstance(value, bool) else "sensor"
    suffix = f"_{slug(battery)}" if battery else ""
    attributes: dict[str, Any] = {
        "friendly_name": f"GivTCP {key}" + (f" {battery}" if battery else "")
    }
    entry = publication.meta.get((group, key))
    if domain == "sensor" and entry is not None:
        for field, attribute in (
            ("unit", "unit_of_measurement"),
            ("device_class", "device_class"),
            ("state_class", "state_class"),
        ):
            setting = getattr(entry, field)
            if setting is not None:
                attributes[attribute] = setting
    state = ("on" if value else "off") if isinstance(value, bool) else str(value)
    return f"{domain}.givtcp_{slug(key)}{suffix}", {"state": state, "attributes": attributes}


def states(publication: Publication) -> list[tuple[str, dict[str, Any]]]:
    """Every (entity id, POST body) of a publication, in group order."""
    result = [
        _state(group, key, value, None, publication)
        for group in INVERTER_GROUPS
        for key, value in publication.groups.get(group, {}).items()
    ]
    for battery, values in publication.groups.get(report.GROUP_BATTERIES, {}).items():
        result += [
            _state(report.GROUP_BATTERIES, key, value, battery, publication)
            for key, value in values.items()
        ]
    return result


class HomeAssistantSink:
    name = "Home Assistant"

    def __init__(self, url: str, token: str, timeout: tuple[float, float] = TIMEOUT) -> None:
        self._url = url
        self._token = token
        self._timeout = timeout

    def publish(self, publication: Publication) -> None:
        bodies = states(publication)
        created = updated = 0
        refused: list[str] = []
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {self._token}"
            for entity_id, body in bodies:
                response = self._post(session, entity_id, body)
                if response.status_code == 201:
                    created += 1
                elif response.status_code == 200:
                    updated += 1
                else:  # 400: HA refused this one value; the others may still go through
                    refused.append(f"{entity_id}: HTTP 400 {_message(response)}")
        log.info(
            "Home Assistant: %d states created, %d updated, %d refused (of %d posted to %s)",
            created,
            updated,
            len(refused),
            len(bodies),
            self._url,
        )
        if refused:
            raise OutputError(
                f"Home Assistant at {self._url} refused {len(refused)} of {len(bodies)} states, "
                f"e.g. {refused[0]}"
            )

    def _post(
        self, session: requests.Session, entity_id: str, body: dict[str, Any]
    ) -> requests.Response:
        """One POST; any answer that will fail every other value too raises OutputError."""
        try:
            response = session.post(
                f"{self._url}/api/states/{entity_id}", json=body, timeout=self._timeout
            )
        except requests.Timeout as exc:
            raise OutputError(
                f"Home Assistant at HA_URL {self._url} did not answer within {self._timeout[1]:g} s"
            ) from exc
        except requests.RequestException as exc:
            raise OutputError(
                f"cannot reach Home Assistant at HA_URL {self._url}: {os_reason(exc)}"
            ) from exc
        if response.status_code == 401:
            raise OutputError(
                f"HA_TOKEN is wrong: Home Assistant at {self._url} refused the token (HTTP 401); "
                "create a long-lived access token in your Home Assistant user profile"
            )
        if response.status_code not in (200, 201, 400):
            raise OutputError(
                f"Home Assistant at HA_URL {self._url} answered HTTP {response.status_code} to "
                f"POST /api/states/{entity_id}: {_message(response)} (is HA_URL Home Assistant, "
                "with the api: integration, and HA_TOKEN an administrator's token?)"
            )
        return response


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except (ValueError, AttributeError):
        return " ".join(response.text.split())[:200]


def create(settings: Any) -> HomeAssistantSink:
    url = settings.ha_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise OutputError(
            "HA_URL must be Home Assistant's address with http:// or https:// "
            f"(e.g. http://homeassistant.local:8123), got {settings.ha_url!r}"
        )
    if not settings.ha_token:
        raise OutputError(
            "HA_TOKEN is empty: create a long-lived access token in your Home Assistant profile"
        )
    return HomeAssistantSink(url, settings.ha_token)
