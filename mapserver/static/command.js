/* The command centre's live map: catalogue layers as vector tiles, three views (一网三色), counters, the latest
   reports and an overdue alarm, kept live by /stream. Every request carries the page's `as` (demo user). */
var MinqingCommand = (function () {
  "use strict";
  var config = null, map = null, layers = {}, query = "", es = null, lastId = null, newMarkers = null;
  var summaryTimer = null, redrawTimer = null, audio = null;
  var ACTIONS = ["transition", "overdue", "supervise", "extend", "merge", "rate", "rate_department", "bulk", "reset"];
  var CLOSED = ["resolved", "verified", "closed", "rejected"];
  var live = window.minqingLive = { received: [], redraws: 0, lastReport: null };

  // every fetch carries the demo account and, under a GCJ-02 basemap, asks for positions in its datum
  function withAs(url) {
    var extra = [];
    if (config && config.as) { extra.push("as=" + encodeURIComponent(config.as)); }
    if (config && config.crs) { extra.push("crs=" + encodeURIComponent(config.crs)); }
    if (!extra.length) { return url; }
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + extra.join("&");
  }

  function getJSON(url) {
    return fetch(withAs(url)).then(function (r) {
      if (!r.ok) { throw new Error(r.status + " " + url); }
      return r.json();
    });
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function radius(count) { return Math.min(4 + Math.sqrt(count || 0) * 1.5, 22); }

  function point(color, r) {
    return { radius: r, fill: true, fillColor: color, fillOpacity: 0.8, color: "#ffffff", weight: 1 };
  }

  // one style function per catalogue layer, from its catalogue entry's style
  function style(id, p) {
    var entry = config.layers[id], s = entry.style;
    if (id === "situation") {
      return { fill: true, fillColor: s.situation[p.situation] || "#999", fillOpacity: s.fillOpacity,
               color: s.color, weight: s.weight };
    }
    if (entry.geometry === "polygon") {
      var dedicated = p.kind === "dedicated" && s.dedicated;
      return { fill: !!s.fillOpacity, fillColor: s.color, fillOpacity: s.fillOpacity || 0,
               color: dedicated ? s.dedicated.color : s.color, weight: dedicated ? s.dedicated.weight : s.weight,
               dashArray: dedicated ? s.dedicated.dashArray : null };
    }
    if (id === "events") {
      if (p.count !== undefined) {
        var sev = p.overdue > 0 || p.major > 0 ? "urgent" : p.open > 0 ? "open" : "resolved";
        return point(s.severity[sev], radius(p.count));
      }
      return point(s.severity[p.severity] || s.severity.open, s.radius);
    }
    var aggregate = p.count !== undefined;
    var r = aggregate ? radius(p.count) : (s.radius || 4);
    if (id === "places" && (p.is_key || p.key_places > 0)) { return point(s.is_key.color, aggregate ? r : s.is_key.radius); }
    if (id === "organizations" && (p.kind === "party_branch" || p.party_branches > 0)) { return point(s.party_branch, r); }
    if (id === "things" && (p.in_service === false || p.out_of_service > 0)) { return point(s.out_of_service, r); }
    return point(s.color, r);
  }

  function options(id) {
    var entry = config.layers[id], styles = {};
    styles[id] = function (properties) { return style(id, properties); };
    return { rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, interactive: false, q: query,
             minZoom: entry.minzoom, maxNativeZoom: Math.min(entry.maxzoom, 22), maxZoom: 22,
             attribution: "民情地图" };
  }

  function configure(c) { config = c; query = c.as ? "as=" + encodeURIComponent(c.as) : ""; }

  function drawLegend() {
    var html = "";
    Object.keys(layers).forEach(function (id) {
      if (!map.hasLayer(layers[id])) { return; }
      var entry = config.layers[id];
      html += "<h3>" + esc(entry.title) + "</h3>";
      entry.legend.forEach(function (e) {
        html += '<div class="entry"><span class="swatch ' + esc(e.shape) + '" style="background:' + esc(e.color) +
          ";border-color:" + esc(e.color) + '"></span>' + esc(e.label) + "</div>";
      });
    });
    document.getElementById("legend").innerHTML = html;
  }

  function view(name) {
    var wanted = config.views[name];
    Object.keys(layers).forEach(function (id) {
      var on = wanted.indexOf(id) >= 0;
      if (on && !map.hasLayer(layers[id])) { map.addLayer(layers[id]); }
      if (!on && map.hasLayer(layers[id])) { map.removeLayer(layers[id]); }
    });
    document.querySelectorAll("#views button").forEach(function (b) {
      b.classList.toggle("active", b.dataset.view === name);
    });
    live.view = name;
    drawLegend();
  }

  function filterQuery() {
    var form = document.getElementById("filters"), parts = [];
    ["category", "status"].forEach(function (n) {
      if (form.elements[n].value) { parts.push(n + "=" + encodeURIComponent(form.elements[n].value)); }
    });
    var hours = form.elements.window.value;
    if (hours) {
      parts.push("from=" + encodeURIComponent(new Date(Date.now() - hours * 3600e3).toISOString()));
    }
    if (config.as) { parts.push("as=" + encodeURIComponent(config.as)); }
    return parts.join("&");
  }

  function refilter() {
    query = filterQuery();
    Object.keys(layers).forEach(function (id) {
      layers[id].options.q = config.layers[id].filtered ? query : (config.as ? "as=" + encodeURIComponent(config.as) : "");
      if (config.layers[id].filtered && map.hasLayer(layers[id])) { layers[id].redraw(); }
    });
    live.query = query;
  }

  // Tiles of the live layers are cheap (the whole tiny city is a handful): redraw them all, at most 3× a second
  function redrawLive() {
    clearTimeout(redrawTimer);
    redrawTimer = setTimeout(function () {
      ["situation", "events"].forEach(function (id) {
        if (layers[id] && map.hasLayer(layers[id])) { layers[id].redraw(); }
      });
      live.redraws += 1;
    }, 300);
  }

  function drawSummary(s) {
    document.getElementById("c-today").textContent = s.today;
    document.getElementById("c-open").textContent = s.open;
    document.getElementById("c-overdue").textContent = s.overdue;
    document.getElementById("c-rate").textContent =
      s.resolved_in_time === null ? "—" : (s.resolved_in_time * 100).toFixed(1) + "%";
    Object.keys(s.by_level).forEach(function (level) {
      var row = document.querySelector('#by-level tr[data-level="' + level + '"]');
      if (row) {
        row.querySelector(".open").textContent = s.by_level[level].open;
        row.querySelector(".overdue").textContent = s.by_level[level].overdue;
      }
    });
    var list = document.getElementById("latest"), fresh = {};
    list.querySelectorAll("li.fresh").forEach(function (li) { fresh[li.dataset.id] = true; });
    list.innerHTML = "";
    s.latest.forEach(function (e) { list.appendChild(item(e, fresh[e.id])); });
    live.summary = s;
  }

  function item(e, fresh) {
    var li = document.createElement("li");
    li.dataset.id = e.id;
    li.dataset.lon = e.lon;
    li.dataset.lat = e.lat;
    if (fresh) { li.classList.add("fresh"); }
    if (e.overdue) { li.classList.add("overdue"); }
    var when = (e.reported_at || e.at || "").slice(5, 16).replace("T", " ");
    li.innerHTML = "<div><b>#" + esc(e.id) + "</b> " + esc(e.title || config.labels.category[e.category] || e.category) +
      '</div><div class="meta">' + esc(config.labels.category[e.category] || e.category) + ' · <span class="status">' +
      esc(e.overdue ? "超期" : config.labels.status[e.status] || e.status) + "</span> · " +
      esc(e.grid_name || e.grid || "网格外") + " · " + esc(when) + "</div>";
    return li;
  }

  function refreshSummary() {
    clearTimeout(summaryTimer);
    summaryTimer = setTimeout(function () { getJSON(config.urls.summary).then(drawSummary); }, 80);
  }

  function beep() {
    if (!document.getElementById("sound").checked) { return; }
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.6);
    } catch (err) { /* no audio device: the banner still shows */ }
  }

  function alarm(d) {
    var text = "事件 #" + d.event_id + " " + (config.labels.category[d.category] || d.category || "") +
      (d.grid ? " · 网格 " + d.grid : "") + " 已超期";
    document.getElementById("alarm-text").textContent = text;
    document.getElementById("alarm").hidden = false;
    live.alarm = text;
    beep();
  }

  function onMessage(kind, ev) {
    var d = {};
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    if (ev.lastEventId) { lastId = ev.lastEventId; }
    live.received.push(d.log_id);
    live.lastId = lastId;
    if (kind === "transition" && d.from === null && d.lon !== null && d.lon !== undefined) {
      var marker = L.circleMarker([d.lat, d.lon], { radius: 9, color: "#d62728", weight: 3, fillColor: "#f1c40f",
                                                    fillOpacity: 0.9, className: "live-marker" });
      marker.bindTooltip("新上报 #" + d.event_id + " " + (config.labels.category[d.category] || d.category));
      marker.addTo(newMarkers);
      var list = document.getElementById("latest");
      list.insertBefore(item({ id: d.event_id, category: d.category, status: d.status, grid: d.grid,
                               lon: d.lon, lat: d.lat, at: d.at, overdue: d.overdue }, true), list.firstChild);
      live.lastReport = { event_id: d.event_id, shown: performance.now() };
    }
    if (kind === "overdue") { alarm(d); }
    refreshSummary();
    redrawLive();
  }

  function connect() {
    var url = config.urls.stream + (lastId ? "?last_event_id=" + encodeURIComponent(lastId) : "");
    es = new EventSource(withAs(url));
    ACTIONS.forEach(function (kind) {
      es.addEventListener(kind, function (ev) { onMessage(kind, ev); });
    });
    es.onopen = function () {
      document.getElementById("live-dot").classList.add("on");
      document.getElementById("live-text").textContent = "实时连接";
      live.connected = true;
    };
    es.onerror = function () {
      document.getElementById("live-dot").classList.remove("on");
      document.getElementById("live-text").textContent = "重新连接中…";
      live.connected = false;
    };
  }

  function disconnect() {
    if (es) { es.close(); es = null; }
    live.connected = false;
  }

  function popupFor(latlng, html) {
    L.popup({ maxWidth: 320, className: "command-popup" }).setLatLng(latlng).setContent(html).openOn(map);
  }

  function rows(pairs) {
    return "<table>" + pairs.map(function (p) { return "<tr><th>" + esc(p[0]) + "</th><td>" + esc(p[1]) + "</td></tr>"; })
      .join("") + "</table>";
  }

  function identify(e) {
    var metres = 40075016 * Math.cos(e.latlng.lat * Math.PI / 180) / Math.pow(2, map.getZoom() + 8);
    var url = config.urls.identify + "?lon=" + e.latlng.lng.toFixed(7) + "&lat=" + e.latlng.lat.toFixed(7) +
      "&radius=" + Math.min(Math.max(metres * 8, 5), 500).toFixed(1) + "&layers=events,situation";
    getJSON(url).then(function (fc) {
      var ev = fc.features.filter(function (f) { return f.properties.layer === "events" && f.properties.id; })[0];
      var grid = fc.features.filter(function (f) { return f.properties.layer === "situation"; })[0];
      if (ev) {
        return getJSON(config.urls.events + ev.properties.id).then(function (c) {
          var p = c.properties;
          popupFor(e.latlng, "<b>事件 #" + esc(p.id) + " " + esc(p.title) + "</b>" + rows([
            ["类别", config.labels.category[p.category] || p.category], ["状态", config.labels.status[p.status] || p.status],
            ["层级", config.labels.level[p.level] || p.level], ["超期", p.overdue ? "是" : "否"],
            ["期限", (p.stage_due_at || p.due_at || "—").slice(0, 16).replace("T", " ")]]) +
            "<ol>" + (p.history || []).map(function (h) {
              var at = h.at ? new Date(h.at).toLocaleString("zh-CN", { hour12: false }) : "";
              return "<li>" + esc(at) + " " + esc(h.actor) + " " +
                esc(config.labels.status[h.to_status] || h.to_status) + (h.note ? " · " + esc(h.note) : "") + "</li>";
            }).join("") + "</ol>");
          live.popup = { event: p.id };
        });
      }
      if (grid) {
        return getJSON(config.urls.grids + encodeURIComponent(grid.properties.code)).then(function (g) {
          var p = g.properties;
          popupFor(e.latlng, "<b>" + esc(grid.properties.name) + "</b>" + rows([
            ["编码", p.code], ["网格长", p.leader || "—"], ["户数", p.households],
            ["待办事件", grid.properties.open], ["超期", grid.properties.overdue]]));
          live.popup = { grid: p.code };
        });
      }
    }).catch(function (err) { live.error = String(err); });
  }

  function start(m, _config) {
    map = m;
    if (_config) { configure(_config); }
    Object.keys(config.layers).forEach(function (id) { layers[id] = window[config.layers[id].var]; });
    newMarkers = L.featureGroup().addTo(map);
    map.on("click", identify);
    map.on("overlayadd overlayremove", drawLegend);
    document.querySelectorAll("#views button").forEach(function (b) {
      b.addEventListener("click", function () { view(b.dataset.view); });
    });
    document.getElementById("filters").addEventListener("change", refilter);
    document.getElementById("alarm-close").addEventListener("click", function () {
      document.getElementById("alarm").hidden = true;
    });
    document.getElementById("latest").addEventListener("click", function (ev) {
      var li = ev.target.closest("li");
      if (li && li.dataset.lat !== "null") { map.flyTo([+li.dataset.lat, +li.dataset.lon], 17); live.flewTo = +li.dataset.id; }
    });
    view("green");
    connect();
    window.minqingReady = getJSON(config.urls.summary).then(drawSummary);
  }

  return { configure: configure, options: options, start: start, view: view, connect: connect,
           disconnect: disconnect, refilter: refilter, layers: layers };
})();
