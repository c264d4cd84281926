"""The SMTP sink's own ceiling: mails per second an aiosmtpd server accepts on this machine
when the client costs next to nothing (bare sockets, commands written from prepared bytes, one
transaction at a time per connection, as SMTP without PIPELINING requires).

No client can beat this figure against the same server; the notifier's rate is read against it.
"""

from __future__ import annotations

import asyncio

_EHLO = b"EHLO ceiling.bench\r\n"


async def _expect(reader: asyncio.StreamReader, code: bytes) -> None:
    """Read one (possibly multi-line) reply; it must carry ``code``."""
    while True:
        line = await reader.readline()
        if not line.startswith(code):
            raise RuntimeError(f"expected {code.decode()}, got {line!r}")
        if line[3:4] != b"-":
            return


async def _connection(port: int, mails: int, message: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _expect(reader, b"220")
    writer.write(_EHLO)
    await _expect(reader, b"250")
    for _ in range(mails):
        writer.write(b"MAIL FROM:<ceiling@bench.test>\r\n")
        await _expect(reader, b"250")
        writer.write(b"RCPT TO:<someone@example.com>\r\n")
        await _expect(reader, b"250")
        writer.write(b"DATA\r\n")
        await _expect(reader, b"354")
        writer.write(message)
        await _expect(reader, b"250")
    writer.write(b"QUIT\r\n")
    await _expect(reader, b"221")
    writer.close()
    await writer.wait_closed()


async def ceiling(port: int, mails: int, connections: int, message: bytes) -> float:
    """Mails per second; ``message`` is the raw mail with CRLF line endings (dot-stuffed)."""
    payload = message.rstrip(b"\r\n") + b"\r\n.\r\n"
    loop = asyncio.get_running_loop()
    started = loop.time()
    share = mails // connections
    await asyncio.gather(*(_connection(port, share, payload) for _ in range(connections)))
    return share * connections / (loop.time() - started)
