"""The command's HTTP client against a server that closes kept-alive connections, as
gunicorn does with idle ones between two polls of `--wait`."""

from __future__ import annotations

import socket
import threading

from ims_portal.cli.client import Portal

BODY = b'{"ok": true}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


class ClosingServer:
    """Answers the first request of each connection, then closes it without a word when
    the next request comes on it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        self.dropped = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.listener.accept()
            with conn:
                conn.recv(65536)
                self.requests += 1
                conn.sendall(ANSWER)
                if conn.recv(65536):  # the next request on the kept-alive connection
                    self.dropped += 1


def test_a_request_on_a_connection_the_server_closed_is_sent_again():
    server = ClosingServer()
    portal = Portal(server.url, "imsp_test")
    for _ in range(3):
        assert portal.get("/exports/1/") == {"ok": True}
    assert server.dropped == 2  # the second and third each met a closed connection first
    assert server.requests == 3
