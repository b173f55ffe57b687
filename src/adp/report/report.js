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
