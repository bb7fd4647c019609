"""A loopback TCP proxy that can go silent: a database (or any server) that still accepts
connections but never answers, without touching the real server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class SilentProxy:
    """Forwards 127.0.0.1:`port` to `target`; after `stall()` it accepts and reads but
    forwards nothing (the server seems to hang); `cut()` closes every connection and
    forwards again. With `target` None it is silent from the start."""

    def __init__(self, target: tuple[str, int] | None) -> None:
        self.target = target
        self.stalled = target is None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False

    def stall(self) -> None:
        self.stalled = True

    def cut(self) -> None:
        """Drop every connection (their clients see a reset) and forward new ones again."""
        with self.lock:
            doomed, self.sockets = self.sockets, []
            self.stalled = self.target is None
        for sock in doomed:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def serve(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.sockets.append(client)
            if self.stalled or self.target is None:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _swallow(self, sock: socket.socket) -> None:
        with suppress(OSError):
            while sock.recv(65536):
                pass

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if not self.stalled:
                    sink.sendall(data)
        with suppress(OSError):  # one side hung up: so does the other
            sink.shutdown(socket.SHUT_WR)


@contextmanager
def silent_proxy(target: tuple[str, int] | None = None) -> Iterator[SilentProxy]:
    """Run a SilentProxy in a thread; closes it and every connection on exit."""
    proxy = SilentProxy(target)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.closed = True
        with suppress(OSError):
            proxy.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        proxy.listener.close()
        proxy.cut()
