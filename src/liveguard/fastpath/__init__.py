"""Every shortcut past another library's own code on the per-frame paths, one module each, with
its reference path (the plain library call it replaces) beside it.

Each shortcut is a `seam.Shortcut`: on first use it probes that the library still has the shape
it needs; when something is missing the caller takes the reference path and one WARNING (logger
`liveguard.fastpath`) names the shortcut and what was missing.

- `sdk_parse`: model audio parsed with `json.loads` + base64, the rest through the SDK's private
  converter (reference: `AsyncSession.receive()`).
- `sdk_socket`: the websocket under the SDK's `AsyncSession` (`session._ws`).
- `sdk_audio`: caller audio as the SDK's own frame, written on that socket; the one writer a
  connection's caller audio takes (reference: `send_realtime_input(audio=...)`).
- `ws_reader`: the emulator's fast reader (reference: websockets' parser).
- `ws_pings`: the emulator's pong control (reference: websockets answers every ping).
- `ws_writer`: the emulator's raw server frames (reference: `protocol.send_binary()`).
- `ws_pump`: the emulator's pump, handed frames inside `data_received` (reference: a `recv()`
  loop under the model's next deadline).
- `caller_ws`: the relay's raw writes to its callers (reference: `ws.send_str()` / `send_bytes()`).
- `sdk_keepalive`: liveguard's ping settings put into an application's own client's stored
  connect arguments (reference: the client as built).
- `wsframe`: RFC 6455 frame headers for the writers above.
"""
