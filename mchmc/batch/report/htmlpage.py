"""The HTML report's markup and style (:mod:`mchmc.batch.report.htmlreport` fills the ``@...@`` slots).

Nothing here holds run data: the page's script (:mod:`mchmc.batch.report.htmlscript`)
builds every row and list from the embedded JSON with ``textContent``.
"""

STYLE = """
:root { --line: #d0d4da; --muted: #5b6470; --bad: #b3261e; --warn: #8a5a00; --ok: #1e6b34; --bg2: #f4f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 0 16px 48px; color: #1b1f24; }
h1 { font-size: 22px; margin: 16px 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; }
#run-line, .muted { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { background: var(--bg2); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.card.bad b { color: var(--bad); }
.facts { margin: 8px 0 0; color: var(--muted); }
.review { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.review > div { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.review ol, .review ul { margin: 0; padding-left: 28px; max-height: 320px; overflow: auto; }
.review li { margin: 2px 0; word-break: break-all; }
button.link { background: none; border: 0; padding: 0; color: #0b57d0; cursor: pointer; font: inherit;
              text-align: left; word-break: break-all; }
button.link:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: middle; }
th button { background: none; border: 0; font: inherit; font-weight: 600; cursor: pointer; padding: 0; }
th button[aria-sort="ascending"]::after { content: " \\25B2"; }
th button[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.thumb { width: 72px; height: 72px; text-align: center; }
td.thumb img { max-width: 64px; max-height: 64px; display: block; margin: auto; }
td.name { word-break: break-all; }
tr.st-error td, tr.st-conflict td { background: #fdf0ef; }
tr.odd td.cat { color: var(--warn); font-weight: 600; }
.err { color: var(--bad); }
#filters { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; background: var(--bg2);
           border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
#filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
#filters label.check { flex-direction: row; gap: 4px; align-items: center; }
#filters select, #filters input { font: inherit; max-width: 260px; }
#filters input[type=number] { width: 80px; }
.pager { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
#viewer { position: fixed; inset: 24px; background: #fff; border: 1px solid var(--line); border-radius: 8px;
          box-shadow: 0 8px 40px rgba(0,0,0,.3); padding: 12px 16px; overflow: auto; z-index: 10; }
#viewer[hidden] { display: none; }
#viewer header { display: flex; justify-content: space-between; gap: 16px; align-items: start; }
#viewer h2 { margin: 0 0 4px; word-break: break-all; }
.panes { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 8px; }
.pane { border: 1px solid var(--line); height: 62vh; overflow: auto; background: #888; position: relative; }
.pane img { display: block; image-rendering: pixelated; max-width: none; }
.pane .label { position: sticky; top: 0; left: 0; display: inline-block; background: rgba(0,0,0,.6); color: #fff;
               padding: 2px 6px; font-size: 12px; z-index: 1; }
.details { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 0; }
.details dt { color: var(--muted); } .details dd { margin: 0; word-break: break-all; }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@CSP@">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mchmc report</title>
<style>@STYLE@</style>
</head>
<body>
<script type="application/json" id="mchmc-run">@RUN@</script>
<header><h1>mchmc report</h1><p id="run-line"></p></header>
<noscript><p>This page needs JavaScript to list its pages; the same records are in the JSONL and CSV
beside it.</p></noscript>
<section id="summary"><h2>Summary</h2><div class="cards" id="cards"></div><p class="facts" id="facts"></p></section>
<section id="review"><h2>Review first</h2><div class="review" id="review-body"></div></section>
<section id="volumes" hidden><h2>Volumes and documents</h2>
<table><thead><tr><th>volume</th><th>status</th><th>pages</th><th>by category</th><th>notes</th><th></th></tr>
</thead><tbody id="volume-rows"></tbody></table></section>
<section id="pages"><h2>Pages</h2>
<form id="filters" autocomplete="off">
<label>name contains<input id="f-search" type="search"></label>
<label>category<select id="f-category"></select></label>
<label>status<select id="f-status"></select></label>
<label>noise level<select id="f-noise"></select></label>
<label>folder<select id="f-folder"></select></label>
<label>volume<select id="f-volume"></select></label>
<label>confidence from<input id="f-conf-min" type="number" min="0" max="1" step="0.05"></label>
<label>to<input id="f-conf-max" type="number" min="0" max="1" step="0.05"></label>
<label class="check"><input id="f-odd" type="checkbox">not its volume's / folder's majority</label>
<button type="reset" id="f-reset">show all</button>
</form>
<div class="pager"><button type="button" id="prev">previous</button><span id="count"></span>
<button type="button" id="next">next</button></div>
<table id="table"><thead><tr id="head"></tr></thead><tbody id="rows"></tbody></table>
</section>
<div id="viewer" hidden role="dialog" aria-modal="true" aria-labelledby="v-title">
<header><div><h2 id="v-title"></h2><p class="muted" id="v-line"></p></div>
<button type="button" id="v-close">close (Esc)</button></header>
<dl class="details" id="v-details"></dl>
<p class="muted" id="v-note"></p>
<div class="panes"><div class="pane" id="v-before"></div><div class="pane" id="v-after"></div></div>
</div>
<script type="application/json" id="mchmc-data">@DATA@</script>
<script>@SCRIPT@</script>
</body>
</html>
"""
