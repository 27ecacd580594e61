/* Citizens' pages: share a location, count characters, check photo sizes, stop double submits, copy the number.
   Everything works without it; it only helps. */
(function () {
  "use strict";
  var MAX_ACCURACY_M = 300; // a fix coarser than this (Wi-Fi, IP) would misplace the report: the grid's place is better

  function byId(id) { return document.getElementById(id); }

  function shareLocation() {
    var button = byId("share-location"), note = byId("location-note");
    if (!button || !navigator.geolocation) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      note.textContent = "正在获取位置…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        var c = pos.coords;
        if (c.accuracy > MAX_ACCURACY_M) {
          note.textContent = "定位精度不足（约 " + Math.round(c.accuracy) + " 米），将按本网格的位置上报。";
          return;
        }
        byId("lon").value = c.longitude.toFixed(6);
        byId("lat").value = c.latitude.toFixed(6);
        byId("crs").value = "wgs84"; // the browser's Geolocation API is WGS 84, also inside WeChat
        note.textContent = "已获取您的位置（精度约 " + Math.round(c.accuracy) + " 米）。";
        button.textContent = "重新获取位置";
      }, function (err) {
        note.textContent = err.code === 1 ? "您未允许获取位置，将按本网格的位置上报。"
                                          : "暂时无法获取位置，将按本网格的位置上报。";
      }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
    });
  }

  function countCharacters() {
    var text = byId("description"), count = byId("description-count");
    if (!text || !count) return;
    var update = function () { count.textContent = text.value.length; };
    text.addEventListener("input", update);
    update();
  }

  function checkPhotos(form) {
    var input = byId("photo"), note = byId("photo-note");
    if (!input) return;
    var maxBytes = Number(form.dataset.maxPhotoBytes), maxCount = Number(form.dataset.maxPhotos);
    var original = note.textContent;
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      var big = files.filter(function (f) { return f.size > maxBytes; });
      if (files.length > maxCount) {
        note.textContent = "最多上传 " + maxCount + " 张照片，请重新选择。";
      } else if (big.length) {
        note.textContent = "照片太大：" + big.map(function (f) { return f.name; }).join("、") + "，请换一张或压缩后再传。";
      } else {
        note.textContent = original;
        return;
      }
      input.value = "";
    });
  }

  function submitOnce(form) {
    form.addEventListener("submit", function () {
      var button = byId("submit");
      window.setTimeout(function () { button.disabled = true; button.textContent = "正在提交…"; }, 0);
    });
  }

  function copyNumber() {
    var button = byId("copy-number");
    if (!button || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.number).then(function () { button.textContent = "已复制"; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = byId("report-form");
    if (form) {
      shareLocation();
      countCharacters();
      checkPhotos(form);
      submitOnce(form);
    }
    copyNumber();
  });
})();
