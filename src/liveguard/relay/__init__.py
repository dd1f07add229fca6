"""The relay: `liveguard serve` — an aiohttp server whose transports bridge callers to guarded
sessions. `server.Relay` runs it in-process; `app.build_app` is the route table; `context` is what
every call handler shares."""
