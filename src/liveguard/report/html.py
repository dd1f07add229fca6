"""The one self-contained HTML report: inline CSS, JS and SVG, no external requests.

Sections: the frequency paragraphs per time window, a sortable session table, a timeline per
(selected) session, and the upstream bug report for the chosen session with a copy button.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from liveguard.report.summary import SessionSummary

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#eee;cursor:pointer;user-select:none}th.sorted-asc::after{content:" ▲"}
th.sorted-desc::after{content:" ▼"}td.l,th.l{text-align:left}
tr.wedged td{background:#fde4e4}tr.recovered td{background:#fff6d6}
.meta{color:#666;font-size:.9em}.tl{margin:1em 0}.tl h3{font-size:1em;margin:.3em 0}
.legend span{display:inline-block;margin-right:1em}.sw{display:inline-block;width:12px;
height:12px;vertical-align:middle;margin-right:4px}
button{font-size:.9em}
"""

JS = """
(function(){
  var table=document.getElementById('sessions');
  if(table){
    var ths=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths,function(th,idx){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('sorted-asc');
        Array.prototype.forEach.call(ths,function(h){h.classList.remove('sorted-asc','sorted-desc');});
        th.classList.add(asc?'sorted-asc':'sorted-desc');
        var num=th.dataset.type==='num';
        var rows=Array.prototype.slice.call(table.tBodies[0].rows);
        rows.sort(function(a,b){
          var x=a.cells[idx].dataset.v, y=b.cells[idx].dataset.v;
          if(num){x=parseFloat(x);y=parseFloat(y);}
          return (x<y?-1:x>y?1:0)*(asc?1:-1);
        });
        var body=table.tBodies[0];
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  }
  var copy=document.getElementById('copy-bug');
  if(copy){
    copy.addEventListener('click',function(){
      var text=document.getElementById('bug-report').textContent;
      var done=function(){copy.textContent='Copied';};
      if(navigator.clipboard&&window.isSecureContext){
        navigator.clipboard.writeText(text).then(done,function(){select();});
      } else { select(); }
      function select(){
        var r=document.createRange();r.selectNodeContents(document.getElementById('bug-report'));
        var s=window.getSelection();s.removeAllRanges();s.addRange(r);
        copy.textContent='Selected: press Ctrl+C';
      }
    });
  }
})();
"""

COLUMNS = (
    ("session", "session", "str"),
    ("start", "start (UTC)", "str"),
    ("outcome", "outcome", "str"),
    ("duration_s", "duration s", "num"),
    ("turns", "caller turns", "num"),
    ("answered", "answered", "num"),
    ("unanswered", "unanswered", "num"),
    ("phantoms", "phantom interrupts", "num"),
    ("wedges", "wedges", "num"),
    ("recoveries", "recoveries", "num"),
    ("silence_s", "silence s", "num"),
    ("max_silence_s", "longest wait s", "num"),
    ("output_tokens", "output tokens", "num"),
)

LEGEND = (
    ("#1f77b4", "caller speech / transcript"),
    ("#2ca02c", "model audio / transcript"),
    ("#ff7f0e", "interrupted"),
    ("#d62728", "phantom verdict / silent turn_complete"),
    ("#8b0000", "wedge"),
    ("#fff0b3", "suspect"),
    ("#cfe0ff", "recovering"),
    ("#b0b0b0", "inaudible model audio"),
    ("#e5d8f0", "background work (IN_PROGRESS)"),
    ("#e377c2", "background stall"),
)


def render_report(
    *,
    frequency: str,
    read_stats: str,
    summaries: Sequence[SessionSummary],
    timelines: Sequence[tuple[SessionSummary, str]],
    bug_report: tuple[SessionSummary, str] | None,
    omitted_timelines: int = 0,
    max_rows: int = 20000,
) -> str:
    """The HTML page as a string. `timelines` pairs a session with its SVG markup."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    index = {id(s): i for i, (s, _) in enumerate(timelines)}
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        "<title>liveguard report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>liveguard report</h1>",
        f"<p class='meta'>Generated {escape(now)}. {escape(read_stats)}.</p>",
        "<h2>Frequency</h2>",
        f"<pre id='frequency'>{escape(frequency)}</pre>",
        f"<h2>Sessions ({len(summaries)})</h2>",
        "<p class='meta'>Click a column to sort. Wedged sessions first.</p>",
    ]
    parts += _sessions_table(summaries, index, max_rows)
    parts += _timelines(timelines, omitted_timelines)
    if bug_report is not None:
        s, markdown = bug_report
        parts.append(f"<h2>Upstream bug report: session {escape(s.session)}</h2>")
        parts.append("<p><button id='copy-bug' type='button'>Copy markdown</button></p>")
        parts.append(f"<pre id='bug-report'>{escape(markdown)}</pre>")
    parts.append(f"<script>{JS}</script></body></html>")
    return "".join(parts)


def _sessions_table(
    summaries: Sequence[SessionSummary], index: dict[int, int], max_rows: int
) -> list[str]:
    """The sortable sessions table (at most `max_rows` rows); `index` links rows to timelines."""
    parts = ["<table id='sessions'><thead><tr>"]
    for key, label, kind in COLUMNS:
        cls = " class='l'" if kind == "str" else ""
        parts.append(f"<th data-key='{key}' data-type='{kind}'{cls}>{escape(label)}</th>")
    parts.append("</tr></thead><tbody>")
    for s in list(summaries)[:max_rows]:
        row = s.as_row()
        parts.append(f"<tr class='{escape(s.outcome)}'>")
        for key, _label, kind in COLUMNS:
            value = row[key]
            text = escape(str(value))
            if key == "session" and id(s) in index:
                text = f"<a href='#tl-{index[id(s)]}'>{text}</a>"
            if key == "session" and s.derived:
                text += " <span title='verdicts from replaying the guard'>*</span>"
            cls = " class='l'" if kind == "str" else ""
            parts.append(f"<td{cls} data-v='{escape(str(value), quote=True)}'>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if len(summaries) > max_rows:
        parts.append(f"<p class='meta'>{len(summaries) - max_rows} more sessions not listed.</p>")
    return parts


def _timelines(timelines: Sequence[tuple[SessionSummary, str]], omitted: int) -> list[str]:
    """The legend and one timeline per session given (`omitted`: how many were left out)."""
    parts = ["<h2>Timelines</h2><p class='legend'>"]
    for color, label in LEGEND:
        parts.append(f"<span><i class='sw' style='background:{color}'></i>{escape(label)}</span>")
    parts.append("</p><p class='meta'>Hover a mark for its fields (incident names).</p>")
    for i, (s, svg) in enumerate(timelines):
        parts.append(
            f"<div class='tl' id='tl-{i}'><h3>{escape(s.session)} — {escape(s.outcome)}, "
            f"{s.caller_turns} caller turns, started {escape(s.as_row()['start'])}</h3>{svg}</div>"
        )
    if omitted:
        parts.append(
            f"<p class='meta'>{omitted} healthier session(s) have no timeline here "
            "(raise --max-timelines, or use --session).</p>"
        )
    return parts
