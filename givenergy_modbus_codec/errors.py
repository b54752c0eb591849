"""The project's exception hierarchy.

Every error a user can meet derives from GivTCPError and carries a message that says what to do.
Scripts map the families to documented exit codes (see README, "Exit codes").
"""

from __future__ import annotations


class GivTCPError(Exception):
    """Base class of every error this project raises on purpose."""


class CodecError(GivTCPError):
    """Bytes or values that the GivEnergy frame codec cannot accept."""


class RequestTooLarge(CodecError):
    """A read of more than 60 registers: the dongle answers those with an error frame."""


class ValidationError(GivTCPError):
    """A control payload or setting value is not acceptable; nothing was sent."""

    def __init__(self, message: str, field: str | None = None, allowed: str | None = None):
        super().__init__(message)
        self.field = field
        self.allowed = allowed

    def as_dict(self) -> dict[str, str]:
        """The JSON error body printed on stderr / returned by REST."""
        body = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
        if self.allowed is not None:
            body["allowed"] = self.allowed
        return body


class TransportError(GivTCPError):
    """The inverter could not be reached or did not give a valid answer."""


class InverterTimeout(TransportError):
    """No matching answer arrived within the request timeout, after all retries."""


class AnswerLost(InverterTimeout):
    """No good answer after all retries, but not plain silence: an answer came garbled (bad
    CRC) or cut off, or the connection dropped. The device may well be there."""


class InverterRefused(TransportError):
    """The inverter answered a request with an error frame (function | 0x80)."""


class NoValidData(TransportError):
    """The inverter answered, but nothing in the answer passed the plausibility checks."""


class UnsupportedModel(NoValidData):
    """The inverter's device type code (HR0) names a family this version cannot decode.

    Its registers are never decoded with another family's map: the run stops with exit 1.
    """

    def __init__(self, code: str, name: str | None = None) -> None:
        super().__init__(
            f"inverter model {code} ({name or 'unknown model'}) is not supported by this version"
        )
        self.code = code
        self.name = name


class LockTimeout(TransportError):
    """Another process held the dongle lock for longer than the lock timeout."""


class SettingsError(GivTCPError):
    """A setting is missing or malformed."""
