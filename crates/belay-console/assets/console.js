// Belay console: keeps the overview live from /ui/events (server-sent events). Every value
// is written with textContent, never as markup: audit content is attacker-controlled.
"use strict";

(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }

  function fmt(value) {
    return value === null || value === undefined ? "\u2013" : String(value);
  }

  function fillTable(id, rows) {
    const table = document.getElementById(id);
    if (!table) {
      return;
    }
    const body = table.tBodies[0];
    const width = table.tHead.rows[0].cells.length;
    const fresh = document.createElement("tbody");
    if (rows.length === 0) {
      const tr = fresh.insertRow();
      const td = tr.insertCell();
      td.colSpan = width;
      td.className = "empty";
      td.textContent = "nothing yet";
    }
    for (const cells of rows) {
      const tr = fresh.insertRow();
      for (const cell of cells) {
        tr.insertCell().textContent = fmt(cell);
      }
    }
    table.replaceChild(fresh, body);
  }

  function latencyRows(list) {
    return list.map((l) => [l.name, l.requests, l.errors, l.p50_ms, l.p99_ms]);
  }

  function apply(snapshot) {
    const stats = snapshot.stats;
    if (stats) {
      for (const node of document.querySelectorAll("[data-stat]")) {
        const key = node.getAttribute("data-stat");
        if (key in stats) {
          node.textContent = fmt(stats[key]);
        }
      }
      fillTable("upstreams", latencyRows(stats.upstreams));
      fillTable("tools", latencyRows(stats.tools));
      fillTable("denials", stats.denials_by_rule.map((c) => [c.label, c.count]));
      fillTable("detections", stats.detections_by_kind.map((c) => [c.label, c.count]));
    }
    fillTable("health", snapshot.health.map((h) => [h.name, h.state, h.breaker]));
    fillTable("alerts", snapshot.alerts);
  }

  const source = new EventSource(live.getAttribute("data-events"));
  source.addEventListener("stats", (event) => {
    try {
      apply(JSON.parse(event.data));
      live.textContent = "live \u2022 updated " + new Date().toLocaleTimeString();
      live.classList.add("on");
    } catch (e) {
      live.textContent = "live updates: unreadable update";
    }
  });
  source.addEventListener("error", () => {
    live.textContent = "live updates: reconnecting\u2026";
    live.classList.remove("on");
  });
})();
