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
})();
