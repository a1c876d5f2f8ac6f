"""A loopback TCP proxy that delays every request on its way to Keycloak and counts the requests.

Each chunk the client sends is forwarded `delay_seconds` after it arrived (in order, without
holding back the chunks behind it), so every request/response round trip gains the delay, as
a network hop would add it; answers come back at once. The client-to-server stream is framed
as HTTP/1.1 (Content-Length bodies) to count requests by method and path.

Bounded: loopback addresses only, at most `max_connections` at once, and the proxy stops by
itself after `max_lifetime_seconds` even if nobody stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from types import TracebackType

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_READ_SIZE = 65536
_MAX_HEAD_BYTES = 64 * 1024
_QUEUE_CHUNKS = 256


class RequestFramer:
    """Finds the requests in one connection's client-to-server bytes."""

    def __init__(self, on_request: Callable[[str, str], None]) -> None:
        self._on_request = on_request
        self._buffer = bytearray()
        self._body_left = 0
        self.unframed = False

    def feed(self, data: bytes) -> None:
        if self.unframed:
            return
        self._buffer += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                del self._buffer[:taken]
                self._body_left -= taken
                if self._body_left:
                    return
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_HEAD_BYTES:
                    self.unframed = True
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            request_line, *header_lines = head.split("\r\n")
            parts = request_line.split(" ")
            if len(parts) < 2:
                self.unframed = True
                return
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)
            }
            self._on_request(parts[0], parts[1].split("?", 1)[0])
            if "chunked" in headers.get("transfer-encoding", "").lower():
                # Not sent by requests for str/bytes bodies; stop counting rather than guess.
                self.unframed = True
                return
            self._body_left = int(headers.get("content-length", "0") or 0)


class DelayProxy:
    """`with DelayProxy(port, 0.05) as proxy:` then send requests to `proxy.url`."""

    def __init__(
        self,
        upstream_port: int,
        delay_seconds: float,
        upstream_host: str = "127.0.0.1",
        max_connections: int = 512,
        max_lifetime_seconds: float = 1800.0,
    ) -> None:
        if upstream_host not in _LOOPBACK:
            raise ValueError(f"the proxy only forwards to loopback, not {upstream_host}")
        if not 0 <= delay_seconds <= 5:
            raise ValueError("delay must be between 0 and 5 seconds")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.delay_seconds = delay_seconds
        self.max_connections = max_connections
        self.max_lifetime_seconds = max_lifetime_seconds
        self.port = 0
        self.refused = 0
        self.unframed_connections = 0
        self._requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._active = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> Counter[str]:
        """Requests seen so far, keyed "METHOD /path"."""
        with self._lock:
            return Counter(self._requests)

    def start(self) -> DelayProxy:
        self._thread = threading.Thread(target=self._run, name="delay-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the proxy did not start")
        if self._error is not None:
            raise RuntimeError("the proxy failed to start") from self._error
        return self

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as error:  # noqa: BLE001 - reported to start() or ends a proxy nobody waits on
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        async with server:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=self.max_lifetime_seconds)
            server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _count(self, method: str, path: str) -> None:
        with self._lock:
            self._requests[f"{method} {path}"] += 1

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._active >= self.max_connections:
            self.refused += 1
            client_writer.close()
            return
        self._active += 1
        upstream_writer: asyncio.StreamWriter | None = None
        framer = RequestFramer(self._count)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
            await asyncio.gather(
                self._forward_delayed(client_reader, upstream_writer, framer),
                self._forward(upstream_reader, client_writer),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            self._active -= 1
            if framer.unframed:
                self.unframed_connections += 1
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()

    async def _forward_delayed(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framer: RequestFramer
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)

        async def receive() -> None:
            while data := await reader.read(_READ_SIZE):
                framer.feed(data)
                await queue.put((loop.time() + self.delay_seconds, data))
            await queue.put((loop.time() + self.delay_seconds, b""))

        async def send() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(receive(), send())

    @staticmethod
    async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(_READ_SIZE):
            writer.write(data)
            await writer.drain()
        writer.close()
