"""Handing a read to the enabled outputs, and telling MQTT when the inverter is offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Settings

if TYPE_CHECKING:
    from .reading import ReadResult


def publication(result: ReadResult) -> Any:
    """The sink-facing view of a read result."""
    from outputs import Publication

    inverter = result.inverter
    return Publication(
        serial=inverter.serial,
        groups=result.groups,
        meta=result.meta,
        device={
            "manufacturer": "GivEnergy",
            "model": " ".join(filter(None, (inverter.family, inverter.generation))),
            "firmware": inverter.firmware,
        },
        timestamp=result.timestamp,
    )


def mark_offline(settings: Settings) -> list[str]:
    """After a failed read, tell MQTT subscribers (Home Assistant) the inverter is offline.

    Returns messages for stderr; the run's exit code stays 1.
    """
    if not settings.mqtt_output or not settings.mqtt_address:
        return []
    from outputs import OutputError
    from outputs.mqtt import publish_offline

    try:
        publish_offline(settings)
    except OutputError as exc:
        return [f"mqtt output failed: {exc}"]
    return []


def prepare_outputs(settings: Settings) -> tuple[list[Any], list[str]]:
    """The enabled sinks, their libraries imported, and one message per sink that cannot
    start. Separate from publish() so that read.py can do it while the dongle answers."""
    from outputs import enabled_sinks

    return enabled_sinks(settings)


def publish(
    result: ReadResult,
    settings: Settings,
    prepared: tuple[list[Any], list[str]] | None = None,
) -> list[str]:
    """Deliver to every enabled sink (``prepared`` by prepare_outputs, or now); one failing
    sink does not stop the others. Returns one message per failed sink (empty when all
    delivered).
    """
    from outputs import OutputError

    sinks, problems = prepare_outputs(settings) if prepared is None else prepared
    failures = list(problems)
    item = publication(result)
    for sink in sinks:
        try:
            sink.publish(item)
        except OutputError as exc:
            failures.append(f"{sink.name} output failed: {exc}")
    return failures
