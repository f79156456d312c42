"""Serve the engine's events to other programs: TCP, Unix socket and WebSocket (PROTOCOL.md).

protocol.py  wire format: newline-delimited JSON events and commands, limits, error codes
server.py    the asyncio server: transports, per-client bounded queues, auth, the web page
runner.py    the event source that runs the engine on a band (or a replayed session)
web/         the browser page served by ``emgrt serve --web`` (demos/web points here)
"""

from emgrt.serve.protocol import DEFAULT_PORT, DEFAULT_WS_PORT, PROTOCOL_VERSION
from emgrt.serve.server import EventSource, ServeConfig, Server

__all__ = ["DEFAULT_PORT", "DEFAULT_WS_PORT", "PROTOCOL_VERSION", "EventSource", "ServeConfig", "Server"]
