"""GivEnergy dongle frames as pymodbus objects: PDUs, a DecodePDU, a framer and a TCP client.

pymodbus is the project's Modbus stack where it fits: the GivEnergy messages are
``pymodbus.pdu.ModbusPDU`` subclasses dispatched by a ``DecodePDU``, and ``GivEnergyFramer``
plugs them into pymodbus' TransactionManager, so ``GivEnergyTcpClient`` answers the standard
client calls (``read_holding_registers``, ``read_input_registers``, ``write_register``)::

    with GivEnergyTcpClient("192.168.1.50") as client:
        page = client.read_input_registers(0, count=60, device_id=0x11)
        page.registers, page.inverter_serial

The byte layout lives only in frames.py: every PDU converts to and from a frames.py NamedTuple,
and the framer runs stream.StreamDecoder. This module imports pymodbus (~80 ms), so read.py and
the CLI use frames.py/stream.py directly and never import it.

Where pymodbus does not fit the dongle, and what is done instead:

* The envelope is part of the message: a response carries the inverter serial, base register
  and count, every frame the adapter serial, and the CRC spans from the device address. So a PDU's
  ``encode()`` is the whole frame and ``decode()`` takes the whole frame; there is no
  "function code + data" remainder to hand around as pymodbus framers do.
* No transaction ids, and the dongle copies every response to every connected client: the
  framer matches a response to the request it last built by shape (frames.answers) and stamps
  that request's transaction id on it, instead of trusting the next frame to arrive.
* Heartbeats, null frames, LAN broadcasts and garbage are interleaved with responses and must not
  raise: pymodbus' FramerBase.handleFrame raises on undecodable frames, so it is replaced.
* pymodbus has no hook for unsolicited messages, so a pymodbus connection cannot answer the
  dongle's heartbeats (every 180 s): keep pymodbus sessions short, as one-shot reads are.
* An error response has no exception code byte: ``exception_code`` stays 0.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, Self

from pymodbus.client import ModbusTcpClient
from pymodbus.framer import FramerBase
from pymodbus.logging import Log
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    WriteSingleRegisterRequest,
)

from .errors import CodecError
from .frames import (
    ERROR_BIT,
    INVERTER_ADDRESS,
    PLACEHOLDER_ADAPTER_SERIAL,
    TYPE_HEARTBEAT,
    CrcForm,
    ErrorResponse,
    Frame,
    Function,
    Heartbeat,
    ReadRequest,
    ReadResponse,
    Request,
    WriteRequest,
    WriteResponse,
    answers,
    decode_frame,
)
from .stream import StreamDecoder

DONGLE_PORT = 8899
INVERTER = INVERTER_ADDRESS
# Heartbeats are frame type 1 and have no function code; pymodbus dispatches on a one-byte code,
# so they use their frame type, which is never a GivEnergy transparent function.
HEARTBEAT_CODE = TYPE_HEARTBEAT


class GivEnergyPDU(ModbusPDU):
    """A pymodbus PDU that is one frames.py frame; ``encode``/``decode`` work on whole frames."""

    frame_type: ClassVar[type]

    def to_frame(self) -> Frame:
        """The frames.py frame this PDU stands for."""
        raise NotImplementedError

    def _load(self, frame: Any) -> None:
        raise NotImplementedError

    @classmethod
    def accepts(cls, frame: Frame) -> bool:
        """True if ``frame`` is of this class' kind (and function)."""
        return isinstance(frame, cls.frame_type) and frame.function == cls.function_code

    @classmethod
    def from_frame(cls, frame: Frame) -> Self:
        """The PDU for a decoded frame of this class' kind."""
        if not cls.accepts(frame):
            raise CodecError(f"{cls.__name__} cannot stand for {frame!r}")
        pdu = cls()
        pdu._load(frame)
        return pdu

    def encode(self) -> bytes:
        """The whole frame, as sent on the wire."""
        return self.to_frame().encode()

    def decode(self, data: bytes) -> None:
        """Load a whole frame; ValueError (what pymodbus' DecodePDU expects) if it is not one
        of this class' kind."""
        frame = decode_frame(data, lenient_requests=True)
        if not self.accepts(frame):
            raise ValueError(f"{type(self).__name__} cannot stand for {frame!r}")
        self._load(frame)


class GivEnergyReadRequest(GivEnergyPDU):
    """Read ``count`` registers from ``address`` at device ``dev_id``."""

    frame_type = ReadRequest

    def __init__(
        self,
        address: int = 0,
        count: int = 0,
        dev_id: int = INVERTER,
        adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL,
        transaction_id: int = 0,
    ) -> None:
        super().__init__(dev_id=dev_id, transaction_id=transaction_id, address=address, count=count)
        self.adapter_serial = adapter_serial
        self.unit_id = 1
        self.crc_form = CrcForm.STANDARD

    def to_frame(self) -> ReadRequest:
        return ReadRequest(
            self.dev_id,
            self.function_code,
            self.address,
            self.count,
            self.adapter_serial,
            self.unit_id,
        )

    def _load(self, frame: ReadRequest) -> None:
        self.dev_id, self.address, self.count = frame.device, frame.base, frame.count
        self.adapter_serial, self.unit_id = frame.adapter_serial, frame.unit_id
        self.crc_form = frame.crc_form


class GivEnergyReadHoldingRequest(GivEnergyReadRequest):
    function_code = Function.READ_HOLDING


class GivEnergyReadInputRequest(GivEnergyReadRequest):
    function_code = Function.READ_INPUT


class GivEnergyReadMeterRequest(GivEnergyReadRequest):
    function_code = Function.READ_METER


class GivEnergyReadResponse(GivEnergyPDU):
    """Register values from ``address`` on, with the serials the dongle wraps them in."""

    frame_type = ReadResponse

    def __init__(
        self,
        registers: list[int] | None = None,
        address: int = 0,
        dev_id: int = INVERTER,
        inverter_serial: str = "",
        adapter_serial: str = "",
        transaction_id: int = 0,
    ) -> None:
        super().__init__(
            dev_id=dev_id, transaction_id=transaction_id, address=address, registers=registers
        )
        self.inverter_serial = inverter_serial
        self.adapter_serial = adapter_serial

    def to_frame(self) -> ReadResponse:
        return ReadResponse(
            self.dev_id,
            self.function_code,
            self.inverter_serial,
            self.address,
            tuple(self.registers),
            self.adapter_serial,
        )

    def _load(self, frame: ReadResponse) -> None:
        self.dev_id, self.address = frame.device, frame.base
        self.registers, self.count = list(frame.values), frame.count
        self.inverter_serial, self.adapter_serial = frame.inverter_serial, frame.adapter_serial


class GivEnergyReadHoldingResponse(GivEnergyReadResponse):
    function_code = Function.READ_HOLDING


class GivEnergyReadInputResponse(GivEnergyReadResponse):
    function_code = Function.READ_INPUT


class GivEnergyReadMeterResponse(GivEnergyReadResponse):
    function_code = Function.READ_METER


class GivEnergyWriteRequest(GivEnergyPDU):
    """Write ``value`` into holding register ``address`` (kept as ``registers[0]`` like pymodbus'
    WriteSingleRegisterRequest)."""

    function_code = Function.WRITE_SINGLE
    frame_type = WriteRequest

    def __init__(
        self,
        address: int = 0,
        value: int = 0,
        dev_id: int = INVERTER,
        adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL,
        transaction_id: int = 0,
    ) -> None:
        super().__init__(
            dev_id=dev_id, transaction_id=transaction_id, address=address, registers=[value]
        )
        self.adapter_serial = adapter_serial
        self.unit_id = 1
        self.crc_form = CrcForm.STANDARD

    @property
    def value(self) -> int:
        return self.registers[0]

    def to_frame(self) -> WriteRequest:
        return WriteRequest(
            self.dev_id, self.address, self.value, self.adapter_serial, self.unit_id
        )

    def _load(self, frame: WriteRequest) -> None:
        self.dev_id, self.address, self.registers = frame.device, frame.register, [frame.value]
        self.adapter_serial, self.unit_id = frame.adapter_serial, frame.unit_id
        self.crc_form = frame.crc_form


class GivEnergyWriteResponse(GivEnergyPDU):
    """The inverter's read-back of a register after a write: success is ``value`` as written."""

    function_code = Function.WRITE_SINGLE
    frame_type = WriteResponse

    def __init__(
        self,
        address: int = 0,
        value: int = 0,
        dev_id: int = INVERTER,
        inverter_serial: str = "",
        adapter_serial: str = "",
        transaction_id: int = 0,
    ) -> None:
        super().__init__(
            dev_id=dev_id, transaction_id=transaction_id, address=address, registers=[value]
        )
        self.inverter_serial = inverter_serial
        self.adapter_serial = adapter_serial

    @property
    def value(self) -> int:
        return self.registers[0]

    def to_frame(self) -> WriteResponse:
        return WriteResponse(
            self.dev_id, self.inverter_serial, self.address, self.value, self.adapter_serial
        )

    def _load(self, frame: WriteResponse) -> None:
        self.dev_id, self.address, self.registers = frame.device, frame.register, [frame.value]
        self.inverter_serial, self.adapter_serial = frame.inverter_serial, frame.adapter_serial


class GivEnergyErrorResponse(GivEnergyPDU, ExceptionResponse):
    """The inverter refused a request (function | 0x80). An ExceptionResponse, so pymodbus code
    that checks ``isError()`` or ``isinstance(..., ExceptionResponse)`` works unchanged."""

    frame_type = ErrorResponse

    def __init__(
        self,
        function_code: int = Function.READ_HOLDING,
        address: int = 0,
        count: int = 0,
        dev_id: int = INVERTER,
        inverter_serial: str = "",
        adapter_serial: str = "",
        transaction_id: int = 0,
    ) -> None:
        ExceptionResponse.__init__(self, function_code, 0, dev_id, transaction_id)
        self.address, self.count = address, count
        self.inverter_serial = inverter_serial
        self.adapter_serial = adapter_serial

    @classmethod
    def accepts(cls, frame: Frame) -> bool:
        return isinstance(frame, ErrorResponse)

    def to_frame(self) -> ErrorResponse:
        return ErrorResponse(
            self.dev_id,
            self.function_code & ~ERROR_BIT,
            self.inverter_serial,
            self.address,
            self.count,
            self.adapter_serial,
        )

    def _load(self, frame: ErrorResponse) -> None:
        self.function_code = frame.function | ERROR_BIT
        self.dev_id, self.address, self.count = frame.device, frame.base, frame.count
        self.inverter_serial, self.adapter_serial = frame.inverter_serial, frame.adapter_serial


class GivEnergyHeartbeat(GivEnergyPDU):
    """The dongle's keep-alive (type-1 frame) and the client's identical-looking reply."""

    function_code = HEARTBEAT_CODE
    frame_type = Heartbeat

    def __init__(
        self,
        adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL,
        adapter_type: int = 1,
        unit_id: int = 1,
    ) -> None:
        super().__init__(dev_id=0)
        self.adapter_serial = adapter_serial
        self.adapter_type = adapter_type
        self.unit_id = unit_id

    @classmethod
    def accepts(cls, frame: Frame) -> bool:
        return isinstance(frame, Heartbeat)

    def to_frame(self) -> Heartbeat:
        return Heartbeat(self.adapter_serial, self.adapter_type, self.unit_id)

    def _load(self, frame: Heartbeat) -> None:
        self.adapter_serial, self.adapter_type = frame.adapter_serial, frame.adapter_type
        self.unit_id = frame.unit_id

    def reply(self, adapter_serial: str = PLACEHOLDER_ADAPTER_SERIAL) -> GivEnergyHeartbeat:
        """The client's answer: its own serial, the echoed adapter type."""
        return GivEnergyHeartbeat.from_frame(self.to_frame().reply(adapter_serial))


class GivEnergyDecodePDU(DecodePDU):
    """Dispatches GivEnergy frames to the PDU classes above by function code.

    It has its own tables: pymodbus' standard PDUs never appear on this wire. ``is_server``
    selects the request classes (a dongle or simulator) or the response classes (a client);
    frames travelling the other way are ignored.
    """

    pdu_table: ClassVar[dict[int, tuple[type[ModbusPDU], type[ModbusPDU]]]] = {}
    pdu_sub_table: ClassVar[dict[int, dict[int, tuple[type[ModbusPDU], type[ModbusPDU]]]]] = {}

    def from_frame(self, frame: Frame) -> GivEnergyPDU | None:
        """The PDU for a decoded frame, or None for frames that carry nothing for this side
        (bad, null and LAN frames; requests on a client; responses on a server)."""
        if isinstance(frame, ErrorResponse):
            return GivEnergyErrorResponse.from_frame(frame) if self.pdu_inx else None
        if isinstance(frame, Heartbeat):
            code = HEARTBEAT_CODE
        elif isinstance(frame, ReadRequest | WriteRequest | ReadResponse | WriteResponse):
            code = frame.function
        else:
            return None
        pdu_class = self.pdu_table.get(code, (None, None))[self.pdu_inx]
        if pdu_class is None or not pdu_class.accepts(frame):
            return None
        return pdu_class.from_frame(frame)

    def decode(self, frame: bytes) -> ModbusPDU | None:
        """A whole GivEnergy frame (not pymodbus' "function code + data", see the module
        docstring) to its PDU; None if it carries nothing for this side."""
        return self.from_frame(decode_frame(frame, lenient_requests=not self.pdu_inx))


for _request, _response in (
    (GivEnergyReadHoldingRequest, GivEnergyReadHoldingResponse),
    (GivEnergyReadInputRequest, GivEnergyReadInputResponse),
    (GivEnergyReadMeterRequest, GivEnergyReadMeterResponse),
    (GivEnergyWriteRequest, GivEnergyWriteResponse),
    (GivEnergyHeartbeat, GivEnergyHeartbeat),
):
    GivEnergyDecodePDU.add_pdu(_request, _response)


def frame_from_pdu(pdu: ModbusPDU) -> Frame:
    """The frames.py frame for a GivEnergy PDU, or for pymodbus' own read-holding/read-input/
    write-register requests (what ModbusTcpClient's read_*/write_register calls build)."""
    if isinstance(pdu, GivEnergyPDU):
        return pdu.to_frame()
    if isinstance(pdu, ReadHoldingRegistersRequest):  # also ReadInputRegistersRequest
        return ReadRequest(pdu.dev_id, pdu.function_code, pdu.address, pdu.count)
    if isinstance(pdu, WriteSingleRegisterRequest):
        return WriteRequest(pdu.dev_id, pdu.address, pdu.registers[0])
    raise CodecError(
        f"the dongle only carries reads (0x03/0x04/0x16) and single writes (0x06), "
        f"not {type(pdu).__name__}"
    )


class GivEnergyFramer(FramerBase):
    """pymodbus framer for the dongle's TCP stream (see the module docstring for why
    ``handleFrame`` is replaced rather than built on ``decode``).

    ``buildFrame`` encodes through frames.py and, on a client, remembers the request;
    ``handleFrame`` takes every byte it is given into a StreamDecoder (which keeps partial frames
    itself) and returns the next PDU that answers that request, or on a server the next request.
    """

    MAX_SIZE = 4096  # pymodbus' async transport drops its buffer past this; a read holds many

    def __init__(self, decoder: GivEnergyDecodePDU) -> None:
        super().__init__(decoder)
        self.decoder: GivEnergyDecodePDU = decoder
        self._is_client = bool(decoder.pdu_inx)
        self._stream = StreamDecoder(lenient_requests=not self._is_client)
        self._ready: deque[tuple[Frame, GivEnergyPDU]] = deque()
        self._pending: Request | None = None

    def buildFrame(self, message: ModbusPDU) -> bytes:
        """The whole frame for ``message``; raises CodecError for a request the dongle would
        refuse (e.g. more than 60 registers), before anything is sent."""
        frame = frame_from_pdu(message)
        data = frame.encode()
        if self._is_client and isinstance(frame, ReadRequest | WriteRequest):
            self._pending = frame
        return data

    def handleFrame(
        self, data: bytes, exp_devid: int, exp_tid: int
    ) -> tuple[int, ModbusPDU | None]:
        """Consume ``data``; return the next deliverable PDU (or None, to wait for more)."""
        for frame in self._stream.feed(data):
            pdu = self.decoder.from_frame(frame)
            if pdu is None:
                Log.debug("GivEnergy framer: ignoring {}", frame)
            else:
                self._ready.append((frame, pdu))
        while self._ready:
            frame, pdu = self._ready.popleft()
            if not self._is_client:
                return len(data), pdu
            if self._pending is not None and answers(self._pending, frame):
                self._pending = None
                pdu.transaction_id = exp_tid  # the shape match stands in for a transaction id
                return len(data), pdu
            Log.debug("GivEnergy framer: not an answer to the pending request: {}", frame)
        return len(data), None


class GivEnergyTcpClient(ModbusTcpClient):
    """pymodbus' synchronous TCP client speaking the dongle's framing (port 8899).

    pymodbus chooses framers from a fixed list (FramerType), so the GivEnergy framer is put in
    after construction, in the two places the client keeps it. Pass ``device_id=0x11`` (the
    inverter) or a battery/meter address to the read/write calls; pymodbus defaults to 1.
    """

    def __init__(
        self, host: str, *, port: int = DONGLE_PORT, timeout: float = 2.0, retries: int = 1
    ) -> None:
        super().__init__(host, port=port, timeout=timeout, retries=retries)
        self.framer = GivEnergyFramer(GivEnergyDecodePDU(is_server=False))
        self.transaction.framer = self.framer
