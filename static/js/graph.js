/* Draws the relationship graph from server JSON with Cytoscape; expanding a node merges the
   neighbourhood the server returns for it. No inline code: data arrives via json_script or fetch. */
(function () {
  "use strict";

  var HEALTH = {
    healthy: "#1a7f37", unhealthy: "#b42318", warning: "#8a5a00", unknown: "#57606a"
  };
  // Cytoscape injects a <style> tag unless this id exists; the CSP forbids inline styles, and
  // flightdeck.css already carries the one rule it wants.
  var CY_STYLESHEET_ID = "__________cytoscape_stylesheet";

  function label(node) {
    var text = node.name + "\n" + node.type.split("::").pop();
    if (node.recent_changes > 0) {
      text += "\n\u25B2 " + node.recent_changes + " change" + (node.recent_changes === 1 ? "" : "s") + " (1h)";
    }
    return text;
  }

  function toElements(data) {
    var elements = [];
    data.nodes.forEach(function (n) {
      elements.push({ group: "nodes", data: {
        id: n.id, label: label(n), name: n.name, type: n.type, health: n.health,
        status: n.status, recent: n.recent_changes, namespace: n.namespace,
        root: n.id === data.root ? "yes" : "no"
      } });
    });
    data.edges.forEach(function (e) {
      elements.push({ group: "edges", data: {
        id: e.id, source: e.source, target: e.target, relation: e.relation
      } });
    });
    return elements;
  }

  function styles() {
    var list = [
      { selector: "node", style: {
        "label": "data(label)", "text-wrap": "wrap", "text-valign": "bottom", "text-margin-y": 4,
        "font-size": 10, "width": 22, "height": 22, "background-color": HEALTH.unknown,
        "border-width": 2, "border-color": "#ffffff", "color": "#1b1f24",
        "text-background-color": "#ffffff", "text-background-opacity": 0.8
      } },
      { selector: "node[root = 'yes']", style: { "border-width": 4, "border-color": "#0b57d0" } },
      { selector: "node[recent > 0]", style: { "shape": "diamond" } },
      { selector: "node:selected", style: { "border-color": "#0b57d0", "border-width": 5 } },
      { selector: "edge", style: {
        "width": 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "label": "data(relation)",
        "font-size": 8, "color": "#57606a", "text-rotation": "autorotate"
      } }
    ];
    Object.keys(HEALTH).forEach(function (h) {
      list.push({ selector: "node[health = '" + h + "']", style: { "background-color": HEALTH[h] } });
    });
    return list;
  }

  function itemUrl(container, id) {
    return (container.dataset.itemBase || "/catalog/") + id + "/";
  }

  function jsonUrl(container, root) {
    var url = new URL(container.dataset.jsonUrl, window.location.href);
    url.searchParams.set("format", "json");
    url.searchParams.set("root", root);
    url.searchParams.set("depth", "1");
    url.searchParams.set("direction", container.dataset.direction || "all");
    return url.toString();
  }

  function setStatus(cy, note) {
    var status = document.getElementById("graph-status");
    if (!status) { return; }
    status.textContent = cy.nodes().length + " nodes, " + cy.edges().length + " edges" +
      (note ? " — " + note : "") + ".";
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function addTableRow(container, n) {
    var body = document.querySelector("#graph-nodes tbody");
    if (!body || body.querySelector("tr[data-node='" + n.id + "']")) { return; }
    var tr = document.createElement("tr");
    tr.dataset.node = n.id;
    var nameCell = document.createElement("td");
    var link = document.createElement("a");
    link.href = itemUrl(container, n.id);
    link.textContent = n.name;
    nameCell.appendChild(link);
    tr.appendChild(nameCell);
    tr.appendChild(cell(n.type));
    var health = document.createElement("td");
    var pill = document.createElement("span");
    pill.className = "health health-" + n.health;
    var dot = document.createElement("span");
    dot.className = "dot";
    dot.setAttribute("aria-hidden", "true");
    pill.appendChild(dot);
    pill.appendChild(document.createTextNode(n.health));
    health.appendChild(pill);
    tr.appendChild(health);
    tr.appendChild(cell(String(n.recent_changes)));
    tr.appendChild(cell("+"));
    var actions = document.createElement("td");
    actions.appendChild(expandButton(n.id));
    tr.appendChild(actions);
    body.appendChild(tr);
  }

  function expandButton(id) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "expand";
    button.dataset.expand = id;
    button.textContent = "Expand";
    return button;
  }

  function collapse(container, cy, id, button) {
    var added = (container.expansions || {})[id] || [];
    cy.batch(function () {
      added.forEach(function (elementId) {
        var el = cy.getElementById(elementId);
        if (!el.empty() && elementId !== container.dataset.root) { cy.remove(el); }
      });
    });
    delete container.expansions[id];
    container.dataset.collapsed = (parseInt(container.dataset.collapsed || "0", 10) + 1).toString();
    cy.layout(layoutOptions(cy, container)).run();
    setStatus(cy, "collapsed " + (cy.getElementById(id).data("name") || ""));
    if (button) { button.textContent = "Expand"; button.dataset.state = ""; }
  }

  function expand(container, cy, id, button) {
    if (button && button.dataset.state === "expanded") { collapse(container, cy, id, button); return; }
    if (button) { button.disabled = true; }
    fetch(jsonUrl(container, id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        var added = 0;
        var addedIds = [];
        cy.batch(function () {
          toElements(data).forEach(function (el) {
            if (cy.getElementById(el.data.id).empty()) {
              if (el.group === "nodes") { el.data.root = "no"; }
              cy.add(el);
              added += 1;
              addedIds.push(el.data.id);
            }
          });
        });
        // Remembered so the same button can collapse exactly what this expansion added.
        container.expansions = container.expansions || {};
        container.expansions[id] = addedIds;
        data.nodes.forEach(function (n) { addTableRow(container, n); });
        cy.layout(layoutOptions(cy, container)).run();
        container.dataset.expanded = (parseInt(container.dataset.expanded || "0", 10) + 1).toString();
        setStatus(cy, added ? "expanded " + cy.getElementById(id).data("name") : "nothing new");
        if (button) { button.textContent = "Collapse"; button.dataset.state = "expanded"; button.disabled = false; }
      })
      .catch(function (err) {
        setStatus(cy, "could not expand: " + err.message);
        if (button) { button.disabled = false; }
      });
  }

  function layoutOptions(cy, container) {
    var root = cy.getElementById(container.dataset.root || "");
    return { name: "breadthfirst", directed: true, padding: 20, spacingFactor: 1.1,
             roots: root.empty() ? undefined : root, animate: false };
  }

  function showSelected(container, cy, node) {
    var panel = document.getElementById("graph-selected");
    if (!panel) { return; }
    panel.textContent = "";
    var title = document.createElement("p");
    var link = document.createElement("a");
    link.href = itemUrl(container, node.id());
    link.textContent = node.data("name");
    title.appendChild(link);
    panel.appendChild(title);
    var facts = document.createElement("p");
    facts.textContent = node.data("type") + " · " + node.data("health") +
      (node.data("status") ? " (" + node.data("status") + ")" : "") +
      " · " + node.data("recent") + " changes in the last hour";
    panel.appendChild(facts);
    var button = expandButton(node.id());
    button.addEventListener("click", function () { expand(container, cy, node.id(), button); });
    panel.appendChild(button);
  }

  function draw(container, data) {
    if (!document.getElementById(CY_STYLESHEET_ID)) {
      var marker = document.createElement("meta");
      marker.id = CY_STYLESHEET_ID;
      document.head.appendChild(marker);
    }
    container.dataset.root = container.dataset.root || data.root;
    var cy = window.cytoscape({
      container: container, elements: toElements(data), style: styles(),
      wheelSensitivity: 0.3, minZoom: 0.2, maxZoom: 3
    });
    cy.layout(layoutOptions(cy, container)).run();
    cy.on("tap", "node", function (evt) { showSelected(container, cy, evt.target); });
    container.graph = cy;
    container.dataset.ready = "yes";
    document.querySelectorAll("button.expand[data-expand]").forEach(function (b) { b.hidden = false; });
    return cy;
  }

  function init(container) {
    if (container.dataset.ready || typeof window.cytoscape !== "function") { return; }
    container.dataset.ready = "loading";
    var embedded = document.getElementById("graph-data");
    if (embedded && !container.classList.contains("embedded")) {
      draw(container, JSON.parse(embedded.textContent));
      return;
    }
    fetch(container.dataset.jsonUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) { draw(container, data); })
      .catch(function () { container.dataset.ready = ""; });
  }

  function initAll() {
    document.querySelectorAll(".graph-canvas").forEach(init);
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("button.expand[data-expand]") : null;
    if (!button || button.closest("#graph-selected")) { return; }
    var container = document.getElementById("graph-canvas");
    if (container && container.graph) { expand(container, container.graph, button.dataset.expand, button); }
  });
  document.addEventListener("DOMContentLoaded", initAll);
  document.addEventListener("htmx:afterSettle", initAll);
  if (document.readyState !== "loading") { initAll(); }
}());
