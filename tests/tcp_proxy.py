"""A TCP proxy on loopback that a test can cut: it stands between a process under test and the
machine's PostgreSQL, so a test can take "the database" away without stopping the shared server.

`cut()` closes every open connection (both sides see the socket close, as when the server is
stopped) and refuses new ones (accepted and closed at once) until `restore()`. `blackhole()`
keeps connections open but forwards nothing (a partitioned network, or a server that accepts
and never answers: no answer, no error). With no upstream it is a black hole from the start.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `upstream`, one pair of threads per connection."""

    def __init__(self, upstream: tuple[str, int] | None) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)  # so the accept loop sees `closed`
        self.port: int = self.listener.getsockname()[1]
        self.down = False
        self.silent = upstream is None
        self.closed = False
        self.refused = 0  # connections turned away while cut
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, database_url: str) -> str:
        """`database_url` with its host and port replaced by the proxy's."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def cut(self) -> None:
        """Drop every connection and refuse new ones until restore()."""
        with self._lock:
            self.down = True
            sockets, self._open = self._open, set()
        for sock in sockets:
            _close(sock)

    def blackhole(self) -> None:
        """Forward nothing any more, on open connections and new ones, until cut()."""
        self.silent = True

    def restore(self) -> None:
        """Accept and forward connections again."""
        self.down, self.silent = False, self.upstream is None

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.down:
                self.refused += 1
                _close(client)
                continue
            if self.upstream is None:  # nothing behind it: read and answer nothing
                with self._lock:
                    self._open.add(client)
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                if self.down:  # cut while connecting
                    _close(client)
                    _close(server)
                    continue
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if not self.silent:
                    sink.sendall(data)
        _close(source)
        _close(sink)
        with self._lock:
            self._open -= {source, sink}

    def _swallow(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def tcp_proxy(upstream: tuple[str, int] | None) -> Iterator[TcpProxy]:
    """A running proxy to `upstream`, stopped (every connection closed) on exit."""
    proxy = TcpProxy(upstream)
    proxy._thread.start()
    try:
        yield proxy
    finally:
        proxy.closed = True
        proxy.cut()
        proxy._thread.join()
        proxy.listener.close()
