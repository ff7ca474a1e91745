"""The HTML report's script: plain JavaScript, ours, inline (no library, no network).

It reads the embedded JSON (:mod:`mchmc.batch.report.htmldata`) and builds the
summary, the review lists, the volumes and a page table that filters, sorts
and shows 200 rows at a time (thumbnails ``loading=lazy``), so 20,000 pages
stay responsive; a page's before / after opens at 1:1 of the output (the input
drawn at the run's scale, pixelated, so the same region lines up; the panes
scroll together). Every value from the report is set with ``textContent`` or
as a property (an image's ``src``, a link's ``href``: relative, built by
Python from percent-encoded segments), never parsed as HTML.
"""

SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("mchmc-data").textContent);
  var C = {}; D.columns.forEach(function (c, i) { C[c] = i; });
  var ROWS = D.rows, PER_PAGE = 200;
  var state = { sort: "name", dir: 1, page: 0, shown: [] };
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function add(parent) { for (var i = 1; i < arguments.length; i++) parent.appendChild(arguments[i]); return parent; }
  function pct(x) { return x === null || x === undefined ? "" : (100 * x).toFixed(1) + "%"; }
  function secs(s) { return s < 120 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min"; }
  function counts(obj) {
    return Object.keys(obj || {}).filter(function (k) { return obj[k]; })
      .map(function (k) { return k + " " + obj[k]; }).join(", ");
  }
  function pageButton(i, extra) {
    var b = el("button", ROWS[i][C.name] + (extra ? " " + extra : ""), "link");
    b.type = "button";
    b.addEventListener("click", function () { openPage(i); });
    return b;
  }

  // ---------------------------------------------------------------- summary
  function summary() {
    var s = D.summary, run = D.run;
    var cards = [["pages", s.pages], ["upscaled now", s.by_status.ok], ["skipped (done before)", s.by_status.skipped],
                 ["failed", s.failed, s.failed > 0]];
    D.categories.concat(["uncategorised"]).forEach(function (c) {
      if (s.by_category[c] !== undefined) cards.push([c, s.by_category[c]]);
    });
    cards.forEach(function (c) {
      add($("cards"), add(el("div", null, "card" + (c[2] ? " bad" : "")), el("b", c[1]), el("span", c[0])));
    });
    var facts = [];
    if (run.kind) facts.push("mchmc " + run.kind);
    if (run.model) facts.push("model " + run.model);
    if (run.precision) facts.push("precision " + run.precision);
    if (run.scale) facts.push(run.scale + "x");
    if (run.noise) facts.push("--noise " + run.noise);
    facts.push("worker time " + secs(s.seconds));
    if (s.megapixels) facts.push(s.megapixels + " MP upscaled");
    if (counts(s.by_noise)) facts.push("noise levels: " + counts(s.by_noise));
    if (counts(s.volumes)) facts.push("volumes: " + counts(s.volumes));
    if (counts(s.documents)) facts.push("PDFs: " + counts(s.documents));
    $("facts").textContent = facts.join(" \u00b7 ");
    $("run-line").textContent = (run.report || "") + (run.built ? " \u00b7 built " + run.built : "") +
      (D.root ? " \u00b7 pages under " + D.root : "");
  }

  function reviewBox(title, note) {
    var box = add(el("div"), el("h3", title));
    if (note) box.appendChild(el("p", note, "muted"));
    $("review-body").appendChild(box);
    return box;
  }
  function review() {
    var R = D.review;
    var t = add(el("table"), add(el("tr"), el("th", "category"), el("th", "pages"), el("th", "mean"), el("th", "lowest")));
    R.categories.forEach(function (c) {
      add(t, add(el("tr"), el("td", c.category), el("td", c.pages, "num"), el("td", pct(c.mean), "num"),
                 el("td", pct(c.min), "num")));
    });
    add(reviewBox("Categories, least confident first"), t);
    var low = add(el("ol"));
    R.lowest.forEach(function (i) { add(low, add(el("li"), pageButton(i, "\u2014 " + ROWS[i][C.category] + " " + pct(ROWS[i][C.conf])))); });
    add(reviewBox("Least confident pages"), R.lowest.length ? low : el("p", "none", "muted"));
    var odd = add(el("ul"));
    R.odd.forEach(function (i) {
      add(odd, add(el("li"), pageButton(i, "\u2014 " + ROWS[i][C.category])));
    });
    var box = reviewBox("Not their volume's (or folder's) majority",
                        R.odd_total > R.odd.length ? R.odd_total + " pages; the first " + R.odd.length + " here" : null);
    add(box, R.odd_total ? odd : el("p", "none", "muted"));
    var bad = add(el("ul"));
    R.failed.forEach(function (i) { add(bad, add(el("li"), pageButton(i), el("div", ROWS[i][C.error], "err"))); });
    R.failed_volumes.forEach(function (v) {
      var rec = D.volume_records[v];
      add(bad, add(el("li"), el("span", rec.name), el("div", rec.error, "err")));
    });
    add(reviewBox("Failures", R.failed_total > R.failed.length ? R.failed_total + " pages; the first " +
                  R.failed.length + " here" : null), R.failed_total + R.failed_volumes.length ? bad : el("p", "none", "muted"));
  }

  function volumes() {
    if (!D.volume_records.length) return;
    $("volumes").hidden = false;
    D.volume_records.forEach(function (v) {
      var link = v.after ? el("a", "open") : el("span", "");
      if (v.after) link.href = v.after;
      var show = el("button", "its pages", "link");
      show.type = "button";
      show.addEventListener("click", function () {
        $("f-volume").value = String(D.volumes.indexOf(v.name)); state.page = 0; update();
        $("pages").scrollIntoView();
      });
      add($("volume-rows"), add(el("tr", null, "st-" + v.status), el("td", v.name, "name"), el("td", v.status),
        el("td", v.pages, "num"), el("td", counts(v.by_category)),
        add(el("td"), el("div", v.error, "err"), el("div", (v.notes || []).join("; "), "muted")), add(el("td"), show, el("span", " "), link)));
    });
  }

  // ---------------------------------------------------------------- the table
  var HEAD = [["thumb", ""], ["name", "page"], ["category", "category"], ["conf", "confidence"], ["noise", "noise"],
              ["status", "status"], ["size", "input size"], ["seconds", "seconds"]];
  function options(select, pairs) {
    pairs.forEach(function (p) { var o = el("option", p[1]); o.value = p[0]; select.appendChild(o); });
  }
  function distinct(col) {
    var seen = {};
    ROWS.forEach(function (r) { if (r[col]) seen[r[col]] = true; });  // "": a failed page, or no noise choice
    return Object.keys(seen).sort();
  }
  function filters() {
    var all = [["", "all"]];
    options($("f-category"), all.concat(distinct(C.category).map(function (c) { return [c, c]; })));
    options($("f-status"), all.concat(distinct(C.status).map(function (c) { return [c, c]; })));
    options($("f-noise"), all.concat(distinct(C.noise).map(function (c) { return [c, c]; })));
    options($("f-folder"), all.concat(D.folders.map(function (f, i) { return [String(i), f]; })));
    options($("f-volume"), all.concat([["0", "loose pages"]], D.volumes.slice(1).map(function (v, i) {
      return [String(i + 1), v];
    })));
    ["f-search", "f-category", "f-status", "f-noise", "f-folder", "f-volume", "f-conf-min", "f-conf-max", "f-odd"]
      .forEach(function (id) { $(id).addEventListener("input", function () { state.page = 0; update(); }); });
    $("filters").addEventListener("reset", function () { setTimeout(function () { state.page = 0; update(); }, 0); });
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); });
    HEAD.forEach(function (h) {
      var th = el("th");
      if (h[0] !== "thumb") {
        var b = el("button", h[1]); b.type = "button"; b.dataset.sort = h[0];
        b.addEventListener("click", function () {
          state.dir = state.sort === h[0] ? -state.dir : 1; state.sort = h[0]; state.page = 0; update();
        });
        th.appendChild(b);
      }
      $("head").appendChild(th);
    });
    $("prev").addEventListener("click", function () { state.page--; draw(); });
    $("next").addEventListener("click", function () { state.page++; draw(); });
  }
  function num(id) { var v = $(id).value; return v === "" ? null : Number(v); }
  function matching() {
    var q = $("f-search").value.toLowerCase(), cat = $("f-category").value, st = $("f-status").value;
    var noise = $("f-noise").value, folder = $("f-folder").value, vol = $("f-volume").value;
    var lo = num("f-conf-min"), hi = num("f-conf-max"), odd = $("f-odd").checked, out = [];
    for (var i = 0; i < ROWS.length; i++) {
      var r = ROWS[i], conf = r[C.conf];
      if (cat && r[C.category] !== cat) continue;
      if (st && r[C.status] !== st) continue;
      if (noise && r[C.noise] !== noise) continue;
      if (folder && r[C.folder] !== Number(folder)) continue;
      if (vol && r[C.volume] !== Number(vol)) continue;
      if ((lo !== null || hi !== null) && conf === null) continue;
      if (lo !== null && conf < lo) continue;
      if (hi !== null && conf > hi) continue;
      if (odd && !r[C.odd]) continue;
      if (q && r[C.name].toLowerCase().indexOf(q) < 0) continue;
      out.push(i);
    }
    return out;
  }
  function key(i) {
    var r = ROWS[i];
    if (state.sort === "size") return r[C.width] * r[C.height];
    var v = r[C[state.sort]];
    return v === null || v === undefined ? "" : v;
  }
  function update() {
    var shown = matching(), dir = state.dir;
    var keys = {}; shown.forEach(function (i) { keys[i] = key(i); });
    shown.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      if (x === "" && y !== "") return 1;
      if (y === "" && x !== "") return -1;
      return (x < y ? -dir : x > y ? dir : 0) || (ROWS[a][C.name] < ROWS[b][C.name] ? -1 : 1);
    });
    state.shown = shown;
    document.querySelectorAll("#head button").forEach(function (b) {
      if (b.dataset.sort === state.sort) b.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else b.removeAttribute("aria-sort");
    });
    draw();
  }
  function draw() {
    var n = state.shown.length, pages = Math.max(1, Math.ceil(n / PER_PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    var from = state.page * PER_PAGE, body = el("tbody");
    body.id = "rows";
    state.shown.slice(from, from + PER_PAGE).forEach(function (i) { body.appendChild(row(i)); });
    $("rows").replaceWith(body);
    $("count").textContent = n + " of " + ROWS.length + " pages" +
      (pages > 1 ? " \u00b7 page " + (state.page + 1) + " of " + pages : "");
    $("prev").disabled = state.page === 0; $("next").disabled = state.page >= pages - 1;
  }
  function row(i) {
    var r = ROWS[i], tr = el("tr", null, "st-" + r[C.status] + (r[C.odd] ? " odd" : ""));
    tr.dataset.index = i;
    var thumb = el("td", null, "thumb");
    if (r[C.thumb]) { var img = el("img"); img.loading = "lazy"; img.alt = ""; img.src = r[C.thumb]; thumb.appendChild(img); }
    var name = add(el("td", null, "name"), pageButton(i));
    if (r[C.error]) name.appendChild(el("div", r[C.error], "err"));
    return add(tr, thumb, name, el("td", r[C.category], "cat"), el("td", pct(r[C.conf]), "num"),
               el("td", r[C.noise]), el("td", r[C.status]), el("td", r[C.width] ? r[C.width] + "\u00d7" + r[C.height] : "", "num"),
               el("td", r[C.seconds].toFixed(2), "num"));
  }
""" + r"""
  // ---------------------------------------------------------------- before / after
  function pane(id, label, src, scale, fallback) {
    var p = $(id); p.replaceChildren(el("span", label, "label"));
    if (!src) return null;
    var img = el("img"); img.alt = label; img.dataset.scale = scale;
    img.addEventListener("load", function () {
      if (scale !== 1) img.style.width = (img.naturalWidth * scale) + "px";
    });
    img.addEventListener("error", function () {  // a TIFF, say: its thumbnail instead, where there is one
      var say = "this browser cannot show this file (TIFF?); open it with the link above";
      if (fallback) { pane(id, label + ": its thumbnail", fallback, 1); say += "; its thumbnail is shown"; }
      else img.remove();
      p.appendChild(el("p", say, "muted"));
    });
    img.src = src;
    p.appendChild(img);
    return img;
  }
  function openPage(i) {
    var r = ROWS[i], scale = D.run.scale || 2;
    $("v-title").textContent = r[C.name];
    $("v-line").textContent = [r[C.status], r[C.category], pct(r[C.conf]), r[C.noise] && "noise " + r[C.noise]]
      .filter(Boolean).join(" \u00b7 ");
    var dl = $("v-details"); dl.replaceChildren();
    var pr = r[C.probs] || {};  // by category name
    var probs = Object.keys(pr).map(function (k) { return k + " " + pct(pr[k]); }).join(", ");
    [["folder", D.folders[r[C.folder]]], ["volume", D.volumes[r[C.volume]]], ["probabilities", probs],
     ["noise", r[C.noise_reason]], ["input size", r[C.width] ? r[C.width] + " \u00d7 " + r[C.height] + " px" : ""],
     ["seconds", r[C.seconds]], ["error", r[C.error]], ["notes", (r[C.notes] || []).join("; ")]]
      .forEach(function (f) { if (f[1]) add(dl, el("dt", f[0]), el("dd", f[1])); });
    var links = el("dd");
    [["input", r[C.before]], ["output", r[C.after]]].forEach(function (l) {
      if (!l[1]) return;
      var a = el("a", "open the " + l[0]); a.href = l[1]; links.appendChild(a); links.appendChild(el("span", " "));
    });
    if (links.childNodes.length) add(dl, el("dt", "files"), links);
    var note = "";
    if (!r[C.before]) note = "A page inside a volume: its thumbnail is shown; open the volume for the pages at full size.";
    else if (!r[C.after]) note = "No output for this page; the input alone is shown.";
    else note = "Same region of both: the output at 1:1, the input at " + scale + "x (pixelated). The panes scroll together.";
    $("v-note").textContent = note;
    if (r[C.before]) {
      pane("v-before", "before", r[C.before], r[C.after] ? scale : 1, r[C.thumb]);
      pane("v-after", "after", r[C.after], 1, r[C.thumb]);
    } else {
      pane("v-before", "thumbnail", r[C.thumb], 1);
      pane("v-after", "after", null, 1);
    }
    $("viewer").hidden = false;
    $("viewer").dataset.index = i;
    $("v-close").focus();
  }
  function sync(from, to) {
    from.addEventListener("scroll", function () {
      if (to.scrollTop !== from.scrollTop) to.scrollTop = from.scrollTop;
      if (to.scrollLeft !== from.scrollLeft) to.scrollLeft = from.scrollLeft;
    });
  }
  sync($("v-before"), $("v-after")); sync($("v-after"), $("v-before"));
  $("v-close").addEventListener("click", function () { $("viewer").hidden = true; });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") $("viewer").hidden = true; });

  summary(); review(); volumes(); filters(); update();
  document.body.dataset.ready = "1";
  document.body.dataset.readyMs = String(Math.round(performance.now()));  // since navigation (bench/html_report.py)
})();
"""
