"""micro-websocket: permessage-deflate (RFC 7692) whose inflating is bounded by the message limit.

wsproto's own extension inflates each incoming frame whole, so a few hundred kilobytes
of compressed zeros become gigabytes in memory before any size check can look at the
message: a compression bomb. :class:`BoundedDeflate` keeps wsproto's negotiation and
its compression of outgoing messages, and replaces the inbound half:

- each piece of a compressed frame is inflated with ``max_length`` set to what is left
  of ``max_message_size`` for the current message, plus one byte, so output beyond
  the limit is never produced;
- a message that goes past the limit sets :attr:`BoundedDeflate.overflowed`, the
  inflater is dropped, and from then on every compressed payload is discarded unread
  (the connection is closing with 1009; see :mod:`micro_websocket.connection`, which
  checks the flag after each frame). wsproto's parser stays alive, so the peer's Close
  is still understood and the closing handshake completes as for any other close.

Memory per connection therefore stays near ``max_message_size`` (plus zlib's window)
whatever the compression ratio. The limit counts bytes, after inflating (for text, the
UTF-8 bytes), the unit :class:`~micro_websocket.connection.WebSocketConnection` counts
uncompressed messages in.
"""

from __future__ import annotations

import zlib
from typing import Any

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["BoundedDeflate"]

# RFC 7692 7.2.2: the sender removes the empty stored block that ends each message;
# the receiver appends it again before inflating the message's last bytes.
_MESSAGE_TAIL = b"\x00\x00\xff\xff"
_RSV1 = RsvBits(True, False, False)


class BoundedDeflate(PerMessageDeflate):
    """permessage-deflate that never inflates a message past ``max_message_size`` bytes.

    The keyword options are wsproto's (``client_max_window_bits``,
    ``client_no_context_takeover``, ``server_max_window_bits``,
    ``server_no_context_takeover``), negotiated as wsproto negotiates them.
    """

    def __init__(self, max_message_size: int, **options: Any) -> None:
        if max_message_size < 0:
            raise ValueError(f"max_message_size must be >= 0, not {max_message_size}")
        super().__init__(**options)
        self.max_message_size = max_message_size
        #: True once a message inflated past the limit; the rest is discarded.
        self.overflowed = False
        # A zlib decompress object, made on first use (typeshed names its type privately).
        self._inflater: Any = None
        self._message_compressed = False  # the current data message has RSV1
        self._frame_compressed = False  # the current frame is part of such a message
        self._inflated = 0  # bytes the current message has inflated to so far
        self._client_bits_agreed = False

    def accept(self, offer: str) -> bool | str | None:
        accepted = super().accept(offer)
        # RFC 7692 7.1.2.2: a client that did not offer client_max_window_bits was not
        # told to use a narrower window, so it may refer back 32 KiB whatever this side
        # wished; only a window the answer names is assumed when inflating.
        self._client_bits_agreed = (
            isinstance(accepted, str) and "client_max_window_bits" in accepted
        )
        return accepted

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if opcode.iscontrol() or opcode is Opcode.CONTINUATION:
            if rsv.rsv1:  # RFC 7692 6.1: only a message's first frame carries RSV1
                return CloseReason.PROTOCOL_ERROR
            self._frame_compressed = self._message_compressed and not opcode.iscontrol()
        else:  # TEXT or BINARY: a new message starts
            self._message_compressed = self._frame_compressed = rsv.rsv1
            self._inflated = 0
        return _RSV1

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._frame_compressed:
            return data
        return self._inflate(proto, data)

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if not fin or not self._frame_compressed:
            return None
        self._message_compressed = self._frame_compressed = False
        tail = self._inflate(proto, _MESSAGE_TAIL)
        self._inflated = 0
        takeover_off = (
            self.server_no_context_takeover if proto.client else self.client_no_context_takeover
        )
        if self._inflater is not None and (takeover_off or self._inflater.eof):
            self._inflater = None  # the next message starts a fresh window
        return tail

    def _inflate(self, proto: FrameDecoder | FrameProtocol, data: bytes) -> bytes | CloseReason:
        if self.overflowed:
            return b""
        if self._inflater is None:
            if proto.client:
                bits = self.server_max_window_bits
            else:
                bits = self.client_max_window_bits if self._client_bits_agreed else 15
            self._inflater = zlib.decompressobj(-bits)
        room = self.max_message_size - self._inflated
        try:
            # At most one byte past the room: enough to know the message is too big.
            out: bytes = self._inflater.decompress(data, room + 1)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if len(out) > room or self._inflater.unconsumed_tail:
            self.overflowed = True
            self._inflater = None  # frees the window and the input not yet inflated
            return b""
        self._inflated += len(out)
        return out
