"""waitress serving the app from a background thread, stoppable.

Stopping happens inside waitress's own loop thread (a thunk pulled through its trigger): the
worker threads are shut down first, then every socket of the loop is closed and the loop's map
emptied, so the loop ends by itself. Closing sockets from another thread instead raced with the
loop's select() (`OSError: [Errno 9] Bad file descriptor`, logged by waitress) and left
keep-alive connections, and the loop thread with them, running.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

REQUESTS_TIMEOUT = 4.0  # seconds left to the requests in progress when stopping
LOOP_TIMEOUT = 2.0  # then seconds for the loop thread to end


class WebServer:
    """The WSGI app on host:port; `start()` returns once the socket listens."""

    def __init__(self, app: Any, host: str, port: int, *, threads: int = 8) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=threads,
                                          ident="plexfm", clear_untrusted_proxy_headers=True)
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)
        self._url = self._address()

    @property
    def url(self) -> str:
        return self._url

    def _address(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("web server listening on %s", self.url)

    def stop(self) -> bool:
        """Stop serving; True when the loop thread ended."""
        if not self._thread.is_alive():
            self._close_everything()
            return True
        self._server.trigger.pull_trigger(self._close_everything)
        self._thread.join(REQUESTS_TIMEOUT + LOOP_TIMEOUT)
        if self._thread.is_alive():
            log.warning("the web server's loop did not stop")
            return False
        return True

    def _close_everything(self) -> None:
        """In the loop thread: finish the requests in progress, then close every socket."""
        server = self._server
        server.task_dispatcher.shutdown(timeout=REQUESTS_TIMEOUT)
        trigger = server.trigger
        for channel in list(server._map.values()):
            try:
                if channel is server:  # the listening socket (its close() closes the trigger)
                    wasyncore.dispatcher.close(server)
                elif channel is not trigger:
                    channel.close()
            except OSError as exc:
                log.debug("closing %r: %s", channel, exc)
        if server.task_dispatcher.threads:  # a request outlived the timeout: it may still
            trigger.del_channel()  # pull the trigger, so its pipe stays open until exit
        else:
            trigger.close()
        server._map.clear()  # the loop ends: nothing left to serve

    def _serve(self) -> None:
        self._server.run()
        log.debug("web server stopped")
