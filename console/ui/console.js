// hem console: keyboard shortcuts. Every page works without this file.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var box = document.querySelector("[data-search]") || document.querySelector("input[type=search]");
    if (!box) return;
    e.preventDefault();
    box.focus();
    box.select();
  });
  // A table with data-filter="ID" is filtered, row by row, by the input #ID.
  document.querySelectorAll("table[data-filter]").forEach(function (table) {
    var box = document.getElementById(table.getAttribute("data-filter"));
    if (!box) return;
    var filter = function () {
      var q = box.value.trim().toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    };
    box.addEventListener("input", filter);
    filter();
  });
  // Live: poll the page's data and update its cells in place; a row the
  // page does not have yet (a new subject) reloads it.
  var live = document.querySelector("[data-live]");
  if (live && window.fetch) {
    var every = (parseInt(live.getAttribute("data-poll"), 10) || 5) * 1000;
    var poll = function () {
      fetch(live.getAttribute("data-live"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) return;
          var at = live.querySelector("[data-cell=at]");
          if (at) at.textContent = d.at.replace("T", " ").replace(/\.\d+/, "");
          (d.rows || []).forEach(function (row) {
            var tr = document.querySelector('tr[data-key="' + CSS.escape(row.key) + '"]');
            if (!tr) { location.reload(); return; }
            Object.keys(row.cells).forEach(function (k) {
              var td = tr.querySelector('[data-cell="' + k + '"]');
              if (td) td.textContent = row.cells[k];
            });
            var spark = tr.querySelector("[data-cell=spark]");
            if (spark) spark.innerHTML = row.spark; // server-drawn SVG of numbers only
          });
        })
        .catch(function () {})
        .then(function () { setTimeout(poll, every); });
    };
    setTimeout(poll, every);
  }
})();
