"""A loopback TCP proxy in front of a real server, for fault tests.

It passes bytes both ways, and can make the server slow (rate: about so
many bytes a second), hold its traffic (open cleared: bytes wait, both
ways, until it is set again; held says some came meanwhile), reset every
connection (cut(), RST as a dead host's kernel would) or go away
(down(): no new connections either).  up and down_bytes count what the
client sent and what came back.
"""

import socket
import struct
import threading
import time


class Proxy:
    def __init__(self, port, rate=None):
        self.port = port
        self.rate = rate
        self.up = self.down_bytes = 0
        self.open = threading.Event()
        self.open.set()
        self.held = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.local = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.local}"
        self.uri = f"mongodb://127.0.0.1:{self.local}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            with self.lock:
                self.conns += [client, upstream]
            for src, dst, up in ((upstream, client, False),
                                 (client, upstream, True)):
                threading.Thread(target=self._pipe, args=(src, dst, up),
                                 daemon=True).start()

    def _pipe(self, src, dst, up):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self.open.is_set():
                    self.held.set()
                self.open.wait()
                if self.rate:
                    time.sleep(len(data) / self.rate)
                dst.sendall(data)
                if up:
                    self.up += len(data)
                else:
                    self.down_bytes += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        """Reset every connection (RST, as a dead host's kernel would)."""
        with self.lock:
            for c in self.conns:
                # shutdown() wakes the threads blocked on it; the close
                # then resets the connection.
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def down(self):
        """The server has gone away: no new connections, none left."""
        self.open.set()
        # shutdown() first: a bare close() leaves the socket listening
        # while the accepting thread holds it.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.cut()

    close = down
