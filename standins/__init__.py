"""Stand-in HTTP servers that speak the real WeChat and Alipay login wire protocols.

Used by the tests and by ``citizencard demo``: ``standins.wechat.WeChatStandIn`` and
``standins.alipay.AlipayStandIn``. Each runs a werkzeug server on 127.0.0.1 (a free port)
in a daemon thread::

    with WeChatStandIn("wx-app", "secret") as wechat:
        login = WeChatLogin("wx-app", "secret", wechat.base_url)

This module holds their common part, :class:`StandInServer`.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

HTML_PAGE = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
             "<body><h1>502 Bad Gateway</h1><hr><center>stgw</center></body></html>")


class _QuietHandler(WSGIRequestHandler):
    """No access log: request lines carry secrets (WeChat sends its app secret in the URL)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Log nothing."""


class StandInServer:
    """A werkzeug server in a daemon thread, with a queue of scripted next answers.

    Subclasses implement :meth:`handle` (a werkzeug ``Request`` to a ``Response``) and
    may override :attr:`path` (the path part of :attr:`base_url`).
    """

    path = "/"

    def __init__(self) -> None:
        """Set up the lock and the scripted-answer queue; call :meth:`start` to serve."""
        self._lock = threading.Lock()
        self._scripted: deque[Callable[[Request], Response]] = deque()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandInServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread; returns ``self``."""
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        if isinstance(self._server, ThreadedWSGIServer):
            self._server.block_on_close = False  # stop() must never hang on a stuck request
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> StandInServer:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving a ``with`` block."""
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on (only while started)."""
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` followed by :attr:`path`."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def http_error_next(self, status: int = 502) -> None:
        """Answer the next request with a bare HTTP ``status`` (an HTML error page)."""
        self._script(lambda request: Response(HTML_PAGE, status=status, mimetype="text/html"))

    def serve_html_next(self) -> None:
        """Answer the next request with HTTP 200 and an HTML page instead of JSON."""
        self._script(lambda request: Response(HTML_PAGE, status=200, mimetype="text/html"))

    def _script(self, answer: Callable[[Request], Response]) -> None:
        """Queue ``answer`` for the next request (FIFO)."""
        with self._lock:
            self._scripted.append(answer)

    def _next_scripted(self) -> Callable[[Request], Response] | None:
        """Pop the next scripted answer, if any."""
        with self._lock:
            return self._scripted.popleft() if self._scripted else None

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The WSGI entry point: a scripted answer first, else :meth:`handle`."""
        request = Request(environ)
        scripted = self._next_scripted()
        response = scripted(request) if scripted else self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Answer one request; implemented by subclasses."""
        raise NotImplementedError
