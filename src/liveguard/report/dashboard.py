"""`/sessions`: the relay's live dashboard (health per session, recent incidents, timelines).

`add_dashboard_routes(app, registry)` mounts two routes on the relay's aiohttp app:

- `GET /sessions`: a self-contained page (inline CSS/JS) that polls the JSON every 2 s;
- `GET /sessions.json`: `SessionRegistry.snapshot()` plus each session's timeline SVG, drawn from
  its recent events (`?session=ID` returns that one session only, with its SVG).

The page shows transcripts (in timeline tooltips): put it behind the relay's auth like the rest.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from liveguard.report.timeline import render_timeline
from liveguard.telemetry.hostindex import HostView, merge
from liveguard.telemetry.registry import LiveSession, SessionRegistry

REGISTRY_KEY = web.AppKey("liveguard_session_registry", SessionRegistry)
MAX_TIMELINES = 50  # per JSON poll; the newest live sessions first

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<title>liveguard sessions</title><style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.1em;border-bottom:1px solid #ccc;margin-top:1.4em}
table{border-collapse:collapse;font-size:.85em;width:100%}th,td{border:1px solid #ddd;
padding:3px 6px;text-align:left}th{background:#eee}.meta{color:#666;font-size:.9em}
.h-healthy{background:#d8f0d8}.h-suspect{background:#fff0b3}.h-wedged{background:#f7c6c6}
.h-recovering{background:#cfe0ff}.h-failed{background:#e0a0a0}.h-ended{background:#eee}
.tl{margin:.8em 0}.tl h3{font-size:.95em;margin:.2em 0}
</style></head><body>
<h1>liveguard: live sessions</h1>
<p class="meta" id="status">loading…</p>
<h2>Sessions</h2>
<table id="live"><thead><tr><th>session</th><th>health</th><th>transport</th><th>turns</th>
<th>incidents</th><th>t (s)</th><th>state</th><th>worker</th></tr></thead><tbody></tbody>
</table>
<h2>Recent incidents</h2>
<table id="incidents"><thead><tr><th>session</th><th>t (s)</th><th>kind</th><th>detail</th></tr>
</thead><tbody></tbody></table>
<h2>Timelines</h2><div id="timelines"></div>
<script>
(function(){
  function cell(tr,text,cls){var td=document.createElement('td');td.textContent=text;
    if(cls){td.className=cls;}tr.appendChild(td);}
  function row(s,state){var tr=document.createElement('tr');cell(tr,s.session);
    cell(tr,s.health,'h-'+s.health);cell(tr,s.transport);cell(tr,String(s.turns));
    cell(tr,String(s.incidents));cell(tr,s.t.toFixed(1));cell(tr,state);
    cell(tr,s.worker||'');return tr;}
  function render(data){
    var body=document.querySelector('#live tbody');body.replaceChildren();
    data.live.forEach(function(s){body.appendChild(row(s,'live'));});
    data.ended.forEach(function(s){body.appendChild(row(s,'ended: '+s.end_reason));});
    var inc=document.querySelector('#incidents tbody');inc.replaceChildren();
    data.incidents.forEach(function(i){var tr=document.createElement('tr');cell(tr,i.session);
      cell(tr,i.t.toFixed(1));cell(tr,i.kind);cell(tr,i.detail);inc.appendChild(tr);});
    var tl=document.getElementById('timelines');tl.replaceChildren();
    (data.timelines||[]).forEach(function(x){var d=document.createElement('div');d.className='tl';
      var h=document.createElement('h3');h.textContent=x.session+' ('+x.health+')';d.appendChild(h);
      var svg=new DOMParser().parseFromString(x.svg,'image/svg+xml').documentElement;
      d.appendChild(document.importNode(svg,true));tl.appendChild(d);});
    document.getElementById('status').textContent=data.live.length+' live session(s), '+
      data.ended.length+' recently ended; updated '+new Date().toLocaleTimeString();
  }
  function poll(){fetch('sessions.json',{cache:'no-store'}).then(function(r){return r.json();})
    .then(render).catch(function(e){document.getElementById('status').textContent=
    'update failed: '+e;}).finally(function(){setTimeout(poll,2000);});}
  poll();
})();
</script></body></html>
"""


def _timeline(live: LiveSession) -> dict[str, Any]:
    return {
        "session": live.session_id,
        "health": live.health,
        "svg": render_timeline(list(live.recent), width=1000),
    }


def snapshot_with_timelines(registry: SessionRegistry, session: str | None = None) -> dict:
    """The JSON the page polls; timelines for the newest sessions (bounded)."""
    data = registry.snapshot()
    if session is not None:
        live = registry.get(session)
        data["timelines"] = [_timeline(live)] if live is not None else []
        return data
    sessions = list(reversed(registry.live())) + registry.ended()[::-1]
    data["timelines"] = [_timeline(s) for s in sessions[:MAX_TIMELINES]]
    return data


def add_dashboard_routes(
    app: web.Application, registry: SessionRegistry, host_view: HostView | None = None
) -> None:
    """Mount `/sessions` and `/sessions.json` on the relay's app. With `host_view` (the other
    workers' or nodes' snapshots, telemetry/hostindex.py) the tables show every call; timelines
    are drawn for this process's sessions only (the others publish tables, not events)."""
    app[REGISTRY_KEY] = registry

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    async def data(request: web.Request) -> web.Response:
        session = request.query.get("session")
        payload = snapshot_with_timelines(request.app[REGISTRY_KEY], session)
        if host_view is not None:
            payload = merge(payload, await host_view())
        if session is not None and not payload["timelines"]:
            rows = [s for s in payload["live"] + payload["ended"] if s["session"] == session]
            if not rows:
                raise web.HTTPNotFound(text=f"no session {session!r}")
            payload["live"] = [s for s in payload["live"] if s["session"] == session]
            payload["ended"] = [s for s in payload["ended"] if s["session"] == session]
        return web.json_response(payload, headers={"Cache-Control": "no-store"})

    app.router.add_get("/sessions", page)
    app.router.add_get("/sessions.json", data)
