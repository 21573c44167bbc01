"""Feed frames written straight to a socket's transport: each event framed once for all.

Through Starlette, every message to every socket costs an ASGI message, a trip through the
server's protocol object and a ``write`` call: tens of µs, so one core saturates near
25,000 messages/s (docs/benchmarks.md). A server's frames are never masked, so an
uncompressed text frame is the same bytes for every client: the hub frames each event
once and writes everything due to one socket in one ``transport.write``.

uvicorn's websockets protocol is subclassed for one thing only: to hand the app its
connection as the ASGI scope extension :data:`EXTENSION`. Where it is absent (another
server, a test client) or where permessage-deflate was negotiated (frames then differ per
socket), the feed keeps using ``send_text``.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

#: key of the scope extension that carries a :class:`Wire`
EXTENSION = "griddispatch.wire"


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented text frame, as a server sends it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Wire:
    """A socket's transport, for writing whole frames next to the protocol's own writes.

    Every write is synchronous and of whole frames, so they can never interleave with the
    frames the protocol writes itself (control messages, pings, the close)."""

    __slots__ = ("_proto",)

    def __init__(self, proto: WebSocketsSansIOProtocol) -> None:
        self._proto = proto

    @property
    def usable(self) -> bool:
        """Open, and framed like everyone else's (no compression negotiated)."""
        return self.open and not self._proto.conn.extensions

    @property
    def open(self) -> bool:
        p = self._proto
        return (
            p.handshake_complete
            and not p.close_sent
            and not p.disconnected
            and p.conn.state is State.OPEN
            and not p.transport.is_closing()
        )

    def write(self, frames: bytes) -> None:
        self._proto.transport.write(frames)

    def backlog(self) -> int:
        """Bytes written but not yet taken by the kernel: how far the client lags."""
        return self._proto.transport.get_write_buffer_size()

    async def writable(self) -> None:
        """Wait until the transport's buffer is below its low-water mark again."""
        await self._proto.writable.wait()


class FeedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol, exposing a :class:`Wire` in the scope."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # absent when the handshake was refused
            scope["extensions"][EXTENSION] = Wire(self)
