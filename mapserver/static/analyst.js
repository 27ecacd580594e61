/* The analyst's page: the panel's filters and the drawn area go to the same API as every other client. */
var MinqingAnalyst = (function () {
  "use strict";
  var map, labels = {}, area = null, areaLayer = null, markers = null, rows = [], sortKey = null, sortAsc = true;
  var SEVERITY = { urgent: "#d62728", open: "#f1c40f", resolved: "#2ca02c" };
  var CLOSED = ["resolved", "verified", "closed", "rejected"];

  function filters() {
    var form = document.getElementById("filters"), out = {};
    ["grid", "category", "status"].forEach(function (name) {
      var picked = Array.prototype.filter.call(form.elements[name].options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
      if (picked.length) { out[name] = picked; }
    });
    ["source", "from", "to"].forEach(function (name) {
      if (form.elements[name].value) { out[name] = form.elements[name].value; }
    });
    return out;
  }

  function query(params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      [].concat(params[k]).forEach(function (v) { parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v)); });
    });
    return parts.join("&");
  }

  function call(path, params) {
    var request = area
      ? fetch(path + "/search", { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify(Object.assign({ geometry: area }, params)) })
      : fetch(path + "?" + query(params));
    return request.then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error((body.error && body.error.reason) || r.statusText); }
        return body;
      });
    });
  }

  function severity(p) {
    if (CLOSED.indexOf(p.status) >= 0) { return "resolved"; }
    return p.overdue || p.is_major ? "urgent" : "open";
  }

  function drawTable() {
    var body = document.querySelector("#results tbody");
    body.innerHTML = "";
    rows.forEach(function (p) {
      var tr = document.createElement("tr");
      [p.id, p.title, (labels.category || {})[p.category] || p.category, (labels.status || {})[p.status] || p.status,
       (p.reported_at || "").slice(0, 16).replace("T", " "), p.grid]
        .forEach(function (value) { var td = document.createElement("td"); td.textContent = value; tr.appendChild(td); });
      body.appendChild(tr);
    });
  }

  function sortBy(key) {
    sortAsc = sortKey === key ? !sortAsc : true;
    sortKey = key;
    rows.sort(function (a, b) {
      var x = a[key], y = b[key];
      return (x < y ? -1 : x > y ? 1 : 0) * (sortAsc ? 1 : -1);
    });
    document.querySelectorAll("#results th").forEach(function (th) {
      th.className = th.dataset.key === key ? (sortAsc ? "sorted-asc" : "sorted-desc") : "";
    });
    drawTable();
  }

  function drawChart(stats) {
    var svg = document.getElementById("chart"), data = stats.rows.slice(-12), max = 1;
    data.forEach(function (r) { max = Math.max(max, r.count); });
    var width = 320 / Math.max(data.length, 1), html = "";
    data.forEach(function (r, i) {
      var h = Math.round(70 * r.count / max);
      html += '<rect x="' + (i * width + 2) + '" y="' + (75 - h) + '" width="' + (width - 4) + '" height="' + h +
        '"><title>' + r.key.slice(0, 7) + ": " + r.count + "</title></rect>" +
        '<text x="' + (i * width + 2) + '" y="86">' + r.key.slice(5, 7) + "月</text>";
    });
    svg.innerHTML = html;
    svg.dataset.total = stats.total.count;
  }

  function refresh() {
    var params = filters();
    document.getElementById("count").textContent = "…";
    return Promise.all([
      call("/api/events", Object.assign({ limit: 500 }, params)),
      call("/api/stats/events", Object.assign({ by: "period", period: "month" }, params)),
    ]).then(function (answers) {
      var page = answers[0];
      document.getElementById("count").textContent = page.total;
      document.getElementById("summary").dataset.total = page.total;
      rows = page.features.map(function (f) { return f.properties; });
      sortKey = null;
      drawTable();
      drawChart(answers[1]);
      markers.clearLayers();
      page.features.forEach(function (f) {
        var c = f.geometry.coordinates;
        L.circleMarker([c[1], c[0]], { radius: 4, weight: 1, color: "#333",
                                        fillColor: SEVERITY[severity(f.properties)], fillOpacity: 0.9 })
          .bindTooltip(document.createTextNode(f.properties.title || "")).addTo(markers);  // a report's title is text
      });
      document.getElementById("area-note").textContent = area ? "（所画区域内 in the drawn area）" : "";
    }).catch(function (error) {
      document.getElementById("count").textContent = "错误 error: " + error.message;
    });
  }

  function download(format) {
    var params = Object.assign({ format: format }, filters());
    if (!area) { window.location = "/api/events/export?" + query(params); return; }
    fetch("/api/events/search/export", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(Object.assign({ geometry: area }, params)) })
      .then(function (r) {
        var name = (r.headers.get("Content-Disposition") || "").split('filename="')[1] || ("events." + format);
        return r.blob().then(function (blob) {
          var a = document.createElement("a");
          a.href = URL.createObjectURL(blob);
          a.download = name.replace('"', "");
          a.click();
        });
      });
  }

  function start(theMap, theLabels) {
    map = theMap;
    labels = theLabels || {};
    markers = L.layerGroup().addTo(map);
    map.on("draw:created", function (e) {
      if (areaLayer) { map.removeLayer(areaLayer); }
      areaLayer = e.layer;
      area = e.layer.toGeoJSON().geometry;
      window.minqingArea = area;
      refresh();
    });
    document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
    document.getElementById("clear-area").addEventListener("click", function () {
      if (areaLayer) { map.eachLayer(function (l) { if (l === areaLayer) { map.removeLayer(l); } }); }
      area = null; areaLayer = null; window.minqingArea = null;
      refresh();
    });
    document.querySelectorAll("#results th").forEach(function (th) {
      th.addEventListener("click", function () { sortBy(th.dataset.key); });
    });
    document.querySelectorAll("#exports a").forEach(function (a) {
      a.addEventListener("click", function (e) { e.preventDefault(); download(a.dataset.format); });
    });
    window.minqingReady = refresh();
  }

  return { start: start, refresh: refresh };
})();
