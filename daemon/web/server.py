"""waitress serving the app from a background thread, stoppable."""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress.server import create_server

log = logging.getLogger(__name__)


class WebServer:
    """The WSGI app on host:port; `start()` returns once the socket listens."""

    def __init__(self, app: Any, host: str, port: int, *, threads: int = 8) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=threads,
                                          ident="plexfm", clear_untrusted_proxy_headers=True)
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("web server listening on %s", self.url)

    def stop(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:  # the socket closed under run() while stopping
            log.debug("web server stopped")
