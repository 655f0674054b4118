"""Consumers of engine messages: JSON lines, text, and (later) websocket and UI."""
