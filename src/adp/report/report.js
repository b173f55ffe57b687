(function () {
  "use strict";
  var select = document.getElementById("status-filter");
  if (select) {
    select.addEventListener("change", function () {
      var want = select.value;
      document.querySelectorAll("#timeline tbody tr.run").forEach(function (tr) {
        tr.hidden = want !== "" && tr.getAttribute("data-status") !== want;
      });
    });
  }
  var text = document.getElementById("test-filter"), status = document.getElementById("test-status");
  var shown = document.getElementById("test-shown");
  function filterTests() {
    var words = text ? text.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    var want = status ? status.value : "";
    var rows = document.querySelectorAll("#tests-table tbody tr.test"), visible = 0;
    rows.forEach(function (tr) {
      var hay = tr.getAttribute("data-text") || "";
      var ok = (want === "" || tr.getAttribute("data-status") === want) &&
        words.every(function (w) { return hay.indexOf(w) !== -1; });
      tr.hidden = !ok;
      if (ok) { visible += 1; }
    });
    if (shown) { shown.textContent = visible + " of " + rows.length + " shown"; }
  }
  if (text) { text.addEventListener("input", filterTests); }
  if (status) { status.addEventListener("change", filterTests); }
  if (text || status) { filterTests(); }
  var svg = document.querySelector("svg.lineage");
  if (!svg) { return; }
  var up = {}, down = {};
  svg.querySelectorAll("path.edge").forEach(function (e) {
    var s = e.getAttribute("data-s"), t = e.getAttribute("data-t");
    (down[s] = down[s] || []).push(t);
    (up[t] = up[t] || []).push(s);
  });
  function walk(start, links, seen) {
    var stack = [start];
    while (stack.length) {
      var n = stack.pop();
      (links[n] || []).forEach(function (m) { if (!seen[m]) { seen[m] = true; stack.push(m); } });
    }
  }
  var current = null;
  svg.addEventListener("click", function (ev) {
    var g = ev.target.closest ? ev.target.closest("g.node") : null;
    var i = g ? g.getAttribute("data-i") : null;
    if (i === null || i === current) {
      current = null;
      svg.classList.remove("focus");
      return;
    }
    current = i;
    var seen = {};
    seen[i] = true;
    walk(i, up, seen);
    walk(i, down, seen);
    svg.classList.add("focus");
    svg.querySelectorAll("g.node").forEach(function (n) { n.classList.toggle("on", !!seen[n.getAttribute("data-i")]); });
    svg.querySelectorAll("path.edge").forEach(function (e) {
      e.classList.toggle("on", !!(seen[e.getAttribute("data-s")] && seen[e.getAttribute("data-t")]));
    });
  });
})();
