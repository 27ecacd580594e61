/* The boundary editor: siblings drawn editable (Leaflet.draw), shared vertices kept together, every change
   validated by the API and its problems drawn; preview, apply with If-Match, history and undo.
   The page computes no rule: the API (docs/grid_edits.md) validates, counts and writes. */
var MinqingGridEditor = (function () {
  "use strict";
  var map, config, grids = {}, order = [], problemLayer, splitLayer = null, mode = null, selected = [];
  var proposal = null, proposalLayer = null;  // a split: the server cuts the grid along the drawn line
  var pending = null, timer = null, seq = 0;
  var STYLE = { color: "#5d6d7e", weight: 2, fillColor: "#85929e", fillOpacity: 0.08 };
  var TARGET = { color: "#1f6fb2", weight: 3, fillColor: "#1f6fb2", fillOpacity: 0.12 };
  var PICKED = { color: "#117a65", weight: 4, fillColor: "#48c9b0", fillOpacity: 0.3 };
  var MESSAGES = {
    403: "无权调整：只有管辖范围内的网格长（或管理员）可以调整这些网格的边界。",
    409: "有人同时调整了这些网格，本次未写入。请重新加载后再试。",
    412: "数据已过期：这些网格在您读取之后被他人调整过，本次未写入。请点“放弃修改”重新加载最新边界。",
    428: "请求缺少版本标记（If-Match），本次未写入。请重新加载页面。",
    422: "校验未通过，本次未写入：请先处理下列问题。",
  };

  function $(id) { return document.getElementById(id); }

  function headers(extra) {
    var h = Object.assign({ "Content-Type": "application/json" }, extra || {});
    if (config.as) { h["X-Demo-User"] = config.as; }
    return h;
  }

  function call(method, url, body, extra) {
    var init = { method: method, headers: headers(extra) };
    if (body !== undefined) { init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        return { status: r.status, ok: r.ok, body: json, etag: r.headers.get("ETag") };
      });
    });
  }

  /* --- geometry in and out ------------------------------------------------------------------------- */
  function key(ll) { return ll.lat.toFixed(7) + "," + ll.lng.toFixed(7); }
  function ringLatLngs(ring) {
    var out = ring.map(function (c) { return L.latLng(c[1], c[0]); });
    if (out.length > 1 && key(out[0]) === key(out[out.length - 1])) { out.pop(); }  // Leaflet keeps rings open
    return out;
  }
  function ringCoords(lls) {
    var out = lls.map(function (ll) { return [ll.lng, ll.lat]; });
    out.push(out[0].slice());
    return out;
  }
  function outer(part) { return part.getLatLngs()[0]; }
  function geometryOf(grid) {
    var polygons = grid.parts.map(function (part) { return part.getLatLngs().map(ringCoords); });
    return polygons.length === 1 ? { type: "Polygon", coordinates: polygons[0] }
                                 : { type: "MultiPolygon", coordinates: polygons };
  }
  function signature(grid) { return grid.parts.map(function (p) { return outer(p).map(key).join(";"); }).join("|"); }

  /* --- loading ------------------------------------------------------------------------------------- */
  function addGrid(feature, etag) {
    var code = feature.id, g = feature.geometry;
    var polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    var style = code === config.code ? TARGET : STYLE;
    var grid = { code: code, etag: etag, version: feature.properties.version, name: feature.properties.name,
                 kind: feature.properties.kind, parts: [], retired: false };
    polygons.forEach(function (rings) {
      var part = L.polygon(rings.map(ringLatLngs), Object.assign({}, style, {
        dashArray: grid.kind === "dedicated" ? "6 4" : null, original: style, editing: style }));
      part.grid = grid;
      part.bindTooltip(document.createTextNode((grid.name || "") + " " + code), { sticky: true });  // text, not HTML
      part.on("click", function () { if (mode === "merge") { toggle(grid); } });
      part.addTo(map);
      grid.parts.push(part);
    });
    grid.original = signature(grid);
    grids[code] = grid;
    order.push(code);
    snapshot();
    return grid;
  }

  function clear() {
    order.forEach(function (code) { grids[code].parts.forEach(function (p) { p.editing.disable(); map.removeLayer(p); }); });
    grids = {}; order = []; selected = [];
    problemLayer.clearLayers();
    if (splitLayer) { map.removeLayer(splitLayer); splitLayer = null; }
    if (proposalLayer) { map.removeLayer(proposalLayer); proposalLayer = null; }
    proposal = null;
  }

  function load() {
    setMode(null);
    clear();
    showProblems(null);
    $("preview").querySelector("tbody").innerHTML = "";
    var siblings = config.parent
      ? call("GET", config.urls.grids + encodeURIComponent(config.parent)).then(function (r) {
          return r.ok ? r.body.properties.children : [config.code];
        })
      : Promise.resolve([config.code]);
    return siblings.then(function (codes) {
      return Promise.all(codes.map(function (code) {
        return call("GET", config.urls.grids + encodeURIComponent(code));
      }));
    }).then(function (answers) {
      answers.forEach(function (r) { if (r.ok) { addGrid(r.body, r.etag); } });
      updateButtons();
      return loadHistory();
    });
  }

  /* --- shared vertices: a vertex two siblings share moves, appears and goes in both ----------------- */
  function eachPart(fn) {
    order.forEach(function (code) { if (!grids[code].retired) { grids[code].parts.forEach(fn); } });
  }
  function snapshot() { eachPart(function (p) { p.keys = outer(p).map(key); }); }

  function redraw(part, ring) {
    var editing = part.editing.enabled(), rings = part.getLatLngs().slice();
    rings[0] = ring;
    if (editing) { part.editing.disable(); }
    part.setLatLngs(rings);
    part.fire("revert-edited", { layer: part });  // Leaflet.draw re-reads the rings it edits
    if (editing) { part.editing.enable(); }
  }

  function follow(moved) {
    var old = moved.keys, ring = outer(moved), now = ring.map(key), n = old.length;
    eachPart(function (other) {
      if (other === moved) { return; }
      var r = outer(other).slice(), ks = r.map(key), m = ks.length, touched = false, i, j;
      if (now.length === n) {  // vertices dragged
        for (i = 0; i < n; i++) {
          if (now[i] === old[i]) { continue; }
          for (j = 0; j < m; j++) {
            if (ks[j] === old[i]) { r[j] = L.latLng(ring[i].lat, ring[i].lng); touched = true; }
          }
        }
      } else if (now.length === n + 1) {  // a vertex added on an edge: add it where a sibling has that edge
        for (i = 0; i < n && now[i] === old[i]; i++) { /* first difference */ }
        var a = old[(i - 1 + n) % n], b = old[i % n];
        for (j = 0; j < m; j++) {
          var x = ks[j], y = ks[(j + 1) % m];
          if ((x === a && y === b) || (x === b && y === a)) {
            r.splice(j + 1, 0, L.latLng(ring[i].lat, ring[i].lng));
            touched = true;
            break;
          }
        }
      } else if (now.length === n - 1) {  // a vertex removed: remove it from siblings too
        for (i = 0; i < n - 1 && now[i] === old[i]; i++) { /* first difference */ }
        j = ks.indexOf(old[i]);
        if (j >= 0 && m > 3) { r.splice(j, 1); touched = true; }
      }
      if (touched) { redraw(other, r); }
    });
    snapshot();
    changed();
  }

  /* --- tools --------------------------------------------------------------------------------------- */
  function setMode(next) {
    if (mode === "edit") { eachPart(function (p) { p.editing.disable(); }); }
    if (mode === "split" && splitDrawer) { splitDrawer.disable(); }
    mode = next === mode ? null : next;
    if (mode === "edit") { eachPart(function (p) { p.editing.enable(); }); snapshot(); }
    if (mode === "split") { splitDrawer.enable(); }
    ["edit", "split", "merge"].forEach(function (name) {
      $("tool-" + name).setAttribute("aria-pressed", String(mode === name));
    });
    var hints = {
      edit: "拖动白色方块移动顶点；拖动边中点可加顶点，单击顶点可删除。两格共用的顶点一起移动。",
      split: "在要切分的网格上画一条线（单击加点，单击最后一点结束）。",
      merge: "单击要合并的相邻网格（至少两个），再点“合并所选”。",
    };
    $("tool-hint").textContent = hints[mode] || "选择一个工具开始调整。";
    if (mode !== "merge") { selected.forEach(function (g) { restyle(g); }); selected = []; }
    updateButtons();
  }
  var splitDrawer = null;

  function restyle(grid) {
    var picked = selected.indexOf(grid) >= 0;
    grid.parts.forEach(function (p) { p.setStyle(picked ? PICKED : (grid.code === config.code ? TARGET : STYLE)); });
  }

  function toggle(grid) {
    var i = selected.indexOf(grid);
    if (i >= 0) { selected.splice(i, 1); } else { selected.push(grid); }
    restyle(grid);
    updateButtons();
  }

  /* Merging siblings drawn as one coverage: the edges two of them share cancel, what is left is the
     outline of the union. Edges that do not meet exactly are left for the API's validation to report. */
  function mergeSelected() {
    if (selected.length < 2) { return; }
    var keep = selected.indexOf(grids[config.code]) >= 0 ? grids[config.code] : selected[0];
    var edges = {}, points = {};
    selected.forEach(function (g) {
      g.parts.forEach(function (p) {
        var r = outer(p);
        r.forEach(function (ll, i) {
          var a = key(ll), b = key(r[(i + 1) % r.length]);
          points[a] = ll;
          if (edges[b + ">" + a]) { delete edges[b + ">" + a]; } else { edges[a + ">" + b] = [a, b]; }
        });
      });
    });
    var next = {}, rings = [];
    Object.keys(edges).forEach(function (k) { next[edges[k][0]] = edges[k][1]; });
    var seen = {};
    Object.keys(next).forEach(function (start) {
      if (seen[start]) { return; }
      var ring = [], at = start;
      while (at && !seen[at]) { seen[at] = true; ring.push(L.latLng(points[at].lat, points[at].lng)); at = next[at]; }
      if (ring.length >= 3) { rings.push(ring); }
    });
    keep.parts.forEach(function (p, i) { if (i > 0) { p.editing.disable(); map.removeLayer(p); } });
    keep.parts = keep.parts.slice(0, 1);
    redraw(keep.parts[0], rings[0]);
    rings.slice(1).forEach(function (ring) {  // separate islands stay parts of one MultiPolygon
      var part = L.polygon([ring], keep.parts[0].options).addTo(map);
      part.grid = keep;
      keep.parts.push(part);
    });
    selected.forEach(function (g) {
      if (g === keep) { return; }
      g.retired = true;
      g.parts.forEach(function (p) { p.editing.disable(); map.removeLayer(p); });
    });
    selected = [];
    restyle(keep);
    setMode(null);
    snapshot();
    changed();
  }

  function splitDrawn(e) {
    if (splitLayer) { map.removeLayer(splitLayer); }
    splitLayer = e.layer.setStyle({ color: "#c0392b", weight: 3, dashArray: "8 4" }).addTo(map);
    window.minqingSplitLine = e.layer.toGeoJSON().geometry;
    setMode(null);
    // the server cuts (POST /api/grids/{code}/split); the page only shows the proposal and sends it on
    message("正在按切分线切分…");
    window.minqingSplit = call("POST", config.urls.grids + encodeURIComponent(config.code) + "/split",
                               { line: window.minqingSplitLine }).then(function (r) {
      if (!r.ok) { message(errorText(r), "error"); return r; }
      proposal = r.body;
      if (proposalLayer) { map.removeLayer(proposalLayer); }
      proposalLayer = L.geoJSON({ type: "FeatureCollection", features: proposal.grids.map(function (g) {
        return { type: "Feature", properties: { key: g.key || g.code }, geometry: g.geometry };
      }) }, { style: function (f) { return { color: f.properties.key === config.code ? "#2471a3" : "#c0392b",
                                              weight: 3, dashArray: "6 4", fillOpacity: 0.15 }; } }).addTo(map);
      message("已切分为 " + proposal.grids.length + " 块：请校验、预览后应用（新网格自动编码）。", "ok");
      changed();
      return r;
    });
  }

  /* --- the edit, validation, preview, apply --------------------------------------------------------- */
  function edit() {
    if (proposal) {
      var text = $("note").value.trim();
      return Object.assign({ grids: proposal.grids }, text ? { note: text } : {});
    }
    var entries = [];
    order.forEach(function (code) {
      var g = grids[code];
      if (g.retired) { entries.push({ code: code, version: g.version, retire: true }); }
      else if (signature(g) !== g.original) { entries.push({ code: code, version: g.version, geometry: geometryOf(g) }); }
    });
    var note = $("note").value.trim();
    return Object.assign({ grids: entries }, note ? { note: note } : {});
  }

  function changed() {
    updateButtons();
    $("preview").querySelector("tbody").innerHTML = "";
    clearTimeout(timer);
    timer = setTimeout(validate, 250);
  }

  function validate() {
    var body = edit(), mine = ++seq;
    if (!body.grids.length) { showProblems(null); return Promise.resolve(null); }
    $("verdict").className = "verdict busy";
    $("verdict").textContent = "校验中…";
    pending = call("POST", config.urls.validate, body).then(function (r) {
      if (mine !== seq) { return null; }  // a later change is being checked
      if (!r.ok) { message(errorText(r), "error"); return null; }
      showProblems(r.body);
      return r.body;
    });
    window.minqingValidated = pending;
    return pending;
  }

  function problemStyle(code) {
    if (code === "gap") { return { color: "#c0392b", fillColor: "#e74c3c", fillOpacity: 0.6, weight: 2 }; }
    if (code === "overlap") { return { color: "#d35400", fillColor: "#f39c12", fillOpacity: 0.6, weight: 2 }; }
    return { color: "#8e44ad", fillColor: "#8e44ad", fillOpacity: 0.5, weight: 3 };
  }

  function showProblems(result) {
    problemLayer.clearLayers();
    var list = $("problems"), verdict = $("verdict");
    list.innerHTML = "";
    window.minqingProblems = result;
    if (!result) { verdict.className = "verdict"; verdict.textContent = "未修改"; updateButtons(); return; }
    verdict.className = "verdict " + (result.ok ? "ok" : "bad");
    verdict.textContent = result.ok ? "通过" : "有问题";
    result.problems.forEach(function (p) {
      var li = document.createElement("li"), shape = null;
      li.className = p.severity;
      li.dataset.code = p.code;
      li.textContent = (p.severity === "error" ? "错误 " : "提醒 ") + (p.grid ? p.grid + "：" : "") + p.message;
      if (p.location) {
        shape = L.geoJSON(p.location, {
          style: function () { return problemStyle(p.code); },
          pointToLayer: function (f, ll) {
            return L.circleMarker(ll, { radius: 7, color: "#fff", weight: 2, fillColor: "#8e44ad", fillOpacity: 1 });
          },
        }).bindTooltip(p.message);
        shape.problem = p.code;
        problemLayer.addLayer(shape);
        li.addEventListener("click", function () {
          var b = shape.getBounds();
          if (b.isValid()) { map.fitBounds(b, { maxZoom: 18, padding: [40, 40] }); }
        });
      }
      list.appendChild(li);
    });
    if (!result.problems.length) { list.innerHTML = "<li class='ok'>没有缝隙、重叠或无效几何。</li>"; }
    updateButtons();
  }

  function cell(tr, value) { var td = document.createElement("td"); td.textContent = value; tr.appendChild(td); }
  function moving(row, what) {
    var i = (row.moving_in || {})[what] || 0, o = (row.moving_out || {})[what] || 0;
    return (i ? "+" + i : "") + (i && o ? " / " : "") + (o ? "−" + o : "") || "0";
  }
  var ACTIONS = { change: "调整", create: "新建", retire: "撤销" };

  function preview() {
    return call("POST", config.urls.preview, edit()).then(function (r) {
      var body = $("preview").querySelector("tbody");
      body.innerHTML = "";
      if (!r.ok) { message(errorText(r), "error"); return null; }
      showProblems(r.body);
      r.body.grids.forEach(function (row) {
        var tr = document.createElement("tr");
        tr.dataset.code = row.code || row.key;
        cell(tr, row.code || row.key);
        cell(tr, ACTIONS[row.action] || row.action);
        ["houses", "households", "residents", "places", "things", "organizations", "open_events"]
          .forEach(function (what) { cell(tr, moving(row, what)); });
        cell(tr, row.households_after === null || row.households_after === undefined ? "—"
                 : row.households_before + " → " + row.households_after);
        body.appendChild(tr);
      });
      return r.body;
    });
  }

  function ifMatch(codes) {
    return codes.map(function (c) { return grids[c] && grids[c].etag; }).filter(Boolean).join(", ");
  }

  function errorText(r) {
    var reason = (r.body && r.body.error && r.body.error.reason) || "";
    return (MESSAGES[r.status] || ("请求失败（" + r.status + "）")) + (reason ? "（" + reason + "）" : "");
  }

  function message(text, kind) { var m = $("message"); m.textContent = text; m.className = kind || ""; }

  function confirmApply() {
    var body = edit();
    if (!body.note) { message("请填写调整说明（1–500 字）。", "error"); $("note").focus(); return; }
    var list = $("confirm-list");
    list.innerHTML = "";
    body.grids.forEach(function (g) {
      var li = document.createElement("li");
      li.textContent = !g.code ? "新建网格（" + g.key + "）" :
        (g.retire ? "撤销 " : "调整 ") + g.code + " " + ((grids[g.code] || {}).name || "");
      list.appendChild(li);
    });
    $("confirm").showModal();
  }

  function apply() {
    var body = edit(), codes = body.grids.map(function (g) { return g.code; }).filter(Boolean);
    var extra = {}, match = ifMatch(codes);
    if (match) { extra["If-Match"] = match; }
    message("正在应用…");
    return call("POST", config.urls.apply, body, extra).then(function (r) { return done(r, "已应用"); });
  }

  function undo() {
    var grid = grids[config.code], extra = {};
    if (grid && grid.etag) { extra["If-Match"] = grid.etag; }
    var note = $("note").value.trim();
    message("正在撤销…");
    return call("POST", config.urls.grids + encodeURIComponent(config.code) + "/undo",
                note ? { note: note } : {}, extra).then(function (r) { return done(r, "已撤销"); });
  }

  function done(r, what) {
    if (!r.ok) {
      message(errorText(r), "error");
      if (r.status === 422 && r.body.error && r.body.error.problems) {
        showProblems({ ok: false, problems: r.body.error.problems });
      }
      return r;
    }
    var versions = (r.body.grids || []).filter(function (g) { return g.version; })
      .map(function (g) { return g.code + " 第 " + g.version + " 版"; });
    $("note").value = "";
    return load().then(function () { message(what + "：" + versions.join("，"), "ok"); return r; });
  }

  function loadHistory() {
    return call("GET", config.urls.grids + encodeURIComponent(config.code) + "/history").then(function (r) {
      var list = $("history");
      list.innerHTML = "";
      if (!r.ok) { return; }
      r.body.versions.forEach(function (v) {
        var li = document.createElement("li");
        li.className = v.current ? "current" : "";
        li.dataset.version = v.version;
        li.textContent = "第 " + v.version + " 版 · " + (v.valid_from || "").slice(0, 16).replace("T", " ") +
          " · " + (v.changed_by || "初始") + (v.change_note ? " · " + v.change_note : "") + (v.current ? "（当前）" : "");
        list.appendChild(li);
      });
      $("do-undo").disabled = r.body.versions.length < 2;
    });
  }

  function updateButtons() {
    var body = edit(), dirty = body.grids.length > 0, result = window.minqingProblems;
    $("do-preview").disabled = !dirty;
    $("do-apply").disabled = !dirty || !(result && result.ok);
    $("do-merge").disabled = mode !== "merge" || selected.length < 2;
  }

  /* --- the page's API for tests and scripts --------------------------------------------------------- */
  function sharedVertices() {
    var seen = {};
    eachPart(function (p) {
      outer(p).forEach(function (ll) { var k = key(ll); (seen[k] = seen[k] || { latlng: ll, grids: [] }).grids.push(p.grid.code); });
    });
    return Object.keys(seen).filter(function (k) { return seen[k].grids.length > 1; }).map(function (k) {
      var pt = map.latLngToContainerPoint(seen[k].latlng), box = map.getContainer().getBoundingClientRect();
      return { key: k, lat: seen[k].latlng.lat, lng: seen[k].latlng.lng, grids: seen[k].grids,
               x: box.left + pt.x, y: box.top + pt.y };
    });
  }

  /* Middles of edges two siblings share, where Leaflet.draw puts the handle that adds a vertex. */
  function sharedEdgeMiddles() {
    var seen = {}, out = [];
    eachPart(function (p) {
      var r = outer(p);
      r.forEach(function (ll, i) {
        var nx = r[(i + 1) % r.length], k = [key(ll), key(nx)].sort().join("|");
        (seen[k] = seen[k] || { a: ll, b: nx, grids: [] }).grids.push(p.grid.code);
      });
    });
    Object.keys(seen).forEach(function (k) {
      var e = seen[k];
      if (e.grids.length < 2) { return; }
      var mid = map.unproject(map.project(e.a).add(map.project(e.b)).divideBy(2));
      var at = vertexScreen(mid.lat, mid.lng), length = map.project(e.a).distanceTo(map.project(e.b));
      out.push({ grids: e.grids, lat: mid.lat, lng: mid.lng, x: at.x, y: at.y, pixels: length });
    });
    return out.sort(function (x, y) { return y.pixels - x.pixels; });
  }

  function vertexScreen(lat, lng) {
    var pt = map.latLngToContainerPoint([lat, lng]), box = map.getContainer().getBoundingClientRect();
    return { x: box.left + pt.x, y: box.top + pt.y };
  }

  function start(theMap, theConfig) {
    map = theMap;
    config = theConfig;
    problemLayer = L.featureGroup().addTo(map);
    splitDrawer = new L.Draw.Polyline(map, { shapeOptions: { color: "#c0392b", weight: 3 } });
    map.on(L.Draw.Event.EDITVERTEX, function (e) { follow(e.poly); });
    map.on(L.Draw.Event.CREATED, function (e) { if (e.layerType === "polyline") { splitDrawn(e); } });
    $("tool-edit").addEventListener("click", function () { setMode("edit"); });
    $("tool-split").addEventListener("click", function () { setMode("split"); });
    $("tool-merge").addEventListener("click", function () { setMode("merge"); });
    $("do-merge").addEventListener("click", mergeSelected);
    $("tool-reset").addEventListener("click", function () { message(""); window.minqingReady = load(); });
    $("do-preview").addEventListener("click", preview);
    $("do-apply").addEventListener("click", confirmApply);
    $("do-undo").addEventListener("click", undo);
    $("note").addEventListener("input", updateButtons);
    $("confirm").addEventListener("close", function () { if ($("confirm").returnValue === "ok") { window.minqingApplied = apply(); } });
    window.minqingReady = load();
  }

  return { start: start, load: load, validate: validate, preview: preview, edit: edit, setMode: setMode,
           select: function (code) { toggle(grids[code]); }, merge: mergeSelected,
           sharedVertices: sharedVertices, sharedEdgeMiddles: sharedEdgeMiddles, vertexScreen: vertexScreen,
           problemCount: function () { return problemLayer.getLayers().length; },
           grid: function (code) { return grids[code] && geometryOf(grids[code]); } };
})();
