// cosim dashboard: one page per hash route, every number from the JSON API (/api/...).
// The access token comes from the URL fragment (#token=...) once, then lives in sessionStorage
// (the fragment is never sent to the server, so it stays out of logs).
"use strict";

window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));

const S = { token: null, who: null, run: null, currency: "currency" };
const PAGES = [
  ["overview", "Overview"], ["grid", "Grid"], ["market", "Market"],
  ["settlement", "Settlement"], ["households", "Households"], ["sweep", "Sweep"],
  ["compare", "Compare"], ["roles", "Roles"],
];
const CONFIG = { responsive: true, displaylogo: false };
const BUCKET = { slot: "per slot", day: "per day", week: "per week" };

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, params) {
  const q = new URLSearchParams(params || {});
  if (S.run && !q.has("run")) q.set("run", S.run);
  const res = await fetch("/api/" + path + "?" + q.toString(), {
    headers: { Authorization: "Bearer " + S.token },
  });
  const body = await res.json();
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  return body;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function section(parent, title) {
  const h = el("h2", {}, title);
  parent.appendChild(h);
  return parent;
}

function unavailable(parent, title, why) {
  parent.appendChild(el("div", { class: "na", "data-title": title },
    why || "not available to this role"));
}

function chart(parent, id, title, traces, layout) {
  const div = el("div", { class: "chart", id: id, "data-chart": title });
  parent.appendChild(div);
  const base = {
    title: { text: title, font: { size: 15 } }, margin: { t: 50, r: 30, b: 50, l: 70 },
    hovermode: "closest",
  };
  return Plotly.newPlot(div, traces, Object.assign(base, layout || {}), CONFIG);
}

function table(parent, rows, header) {
  const t = el("table");
  if (header) {
    const tr = el("tr");
    header.forEach((h, i) => tr.appendChild(el("th", i === 0 ? { class: "k" } : {}, h)));
    t.appendChild(tr);
  }
  rows.forEach((row) => {
    const tr = el("tr");
    row.forEach((v, i) => tr.appendChild(el("td", i === 0 ? { class: "k" } : {}, fmt(v))));
    t.appendChild(tr);
  });
  parent.appendChild(t);
}

function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return v.toLocaleString("en");
    const a = Math.abs(v);
    return a >= 1000 ? v.toLocaleString("en", { maximumFractionDigits: 0 })
      : a >= 1 ? v.toFixed(3) : v.toPrecision(4);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function timeAxis(d) {
  return d.tz ? { title: { text: "Time (" + d.tz + ")" }, type: "date" }
    : { title: { text: "Slot" }, type: "linear" };
}

// -- pages -------------------------------------------------------------------------------------

async function overview(main) {
  const d = await api("summary");
  const s = d.summary || {};
  section(main, d.name + " (" + d.role + ")");
  const top = el("div", { class: "row" });
  main.appendChild(top);
  const facts = [
    ["status", s.status], ["network", s.network], ["start", s.start], ["slots", s.slots],
    ["slot minutes", s.slot_minutes], ["participants", s.participants],
    ["with PV", s.participants_with_pv], ["with battery", s.participants_with_battery],
    ["seed", s.seed], ["cosim version", s.cosim_version],
  ].filter((r) => r[1] !== undefined);
  if (facts.length) table(top, facts, ["run", "value"]);
  else unavailable(top, "Summary");
  if (d.totals) {
    table(top, Object.entries(d.totals), ["totals (kWh, shares, " + S.currency + ")", "value"]);
  }
  const jobs = [];
  if (d.timings_s) {
    const names = Object.keys(d.timings_s).filter((k) => k !== "total_run");
    jobs.push(chart(main, "timings", "Wall time per stage [s] (total " +
      fmt(d.timings_s.total_run) + " s)",
      [{ type: "bar", x: names.map((k) => d.timings_s[k]), y: names, orientation: "h" }],
      { margin: { t: 50, r: 30, b: 50, l: 110 }, xaxis: { title: { text: "s" } } }));
  } else {
    unavailable(main, "Timings");
  }
  table(top, Object.entries(d.files).map(([k, v]) => [k, v ? "yes" : "not available"]),
    ["file", "in this view"]);
  if (d.scenario && Object.keys(d.scenario).length) {
    const pre = el("pre", {}, JSON.stringify(d.scenario, null, 2));
    const det = el("details");
    det.appendChild(el("summary", {}, "resolved scenario"));
    det.appendChild(pre);
    main.appendChild(det);
  }
  return Promise.all(jobs);
}

async function grid(main) {
  const [band, heat, dur, map, agg] = await Promise.all([
    api("grid/band"), api("grid/heatmap"), api("grid/duration"), api("grid/map"),
    api("aggregates"),
  ]);
  const jobs = [];
  if (band) {
    const t = band.time;
    jobs.push(chart(main, "band", "Voltage band over all buses (" + BUCKET[band.bucket] +
      "; dashed: 0.95 / 1.05 pu)", [
      { x: t, y: band.vm_max_pu, name: "max", line: { color: "#c0392b", shape: "hv" } },
      { x: t, y: band.vm_min_pu, name: "min", line: { color: "#2471a3", shape: "hv" },
        fill: "tonexty", fillcolor: "rgba(36,113,163,0.15)" },
    ], { xaxis: timeAxis(band), yaxis: { title: { text: "Voltage [pu]" } },
      shapes: [0.95, 1.05].map((y) => ({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y,
        line: { dash: "dash", color: "#888", width: 1 } })) }));
    const lt = [];
    if (band.loading_max_percent) {
      lt.push({ x: t, y: band.loading_max_percent, name: "max line loading",
        line: { shape: "hv" } });
    }
    if (band.trafo_loading_max_percent) {
      lt.push({ x: t, y: band.trafo_loading_max_percent, name: "max transformer loading",
        line: { shape: "hv" } });
    }
    if (lt.length) {
      jobs.push(chart(main, "loading", "Maximum loading (" + BUCKET[band.bucket] + ")", lt,
        { xaxis: timeAxis(band), yaxis: { title: { text: "Loading [%]" }, rangemode: "tozero" } }));
    } else {
      unavailable(main, "Maximum loading");
    }
  } else {
    unavailable(main, "Voltage band");
  }
  if (heat) {
    jobs.push(chart(main, "heatmap", "Bus voltage, mean " + BUCKET[heat.bucket] + " [pu]", [{
      type: "heatmap", x: heat.time, y: heat.bus, z: heat.vm_pu, colorscale: "RdBu", zmid: 1.0, colorbar: { title: { text: "pu" } },
    }], { xaxis: timeAxis(heat), yaxis: { title: { text: "Bus" }, type: "category",
      automargin: true }, height: Math.max(400, 12 * heat.bus.length + 150) }));
  } else {
    unavailable(main, "Bus voltage heat map");
  }
  if (dur) {
    jobs.push(chart(main, "duration", "Loading duration curves (most loaded lines, transformers)",
      dur.curves.map((c) => ({ x: c.x, y: c.y, name: c.name, mode: "lines" })),
      { xaxis: { title: { text: "Share of slots at or above [%]" } },
        yaxis: { title: { text: "Loading [%]" }, rangemode: "tozero" } }));
  } else {
    unavailable(main, "Loading duration curves");
  }
  if (map) {
    jobs.push(networkMap(main, map));
  } else {
    unavailable(main, "Network map", "not available to this role (or the network has no bus coordinates)");
  }
  if (agg) {
    jobs.push(chart(main, "aggregates", "Group aggregates: net import " + BUCKET[agg.bucket] +
      " [kWh] (groups of at least " + agg.k + " members)",
      agg.groups.map((g, i) => ({ x: agg.time, y: agg.net_kwh[g],
        name: g + " (" + agg.members[i] + ")", line: { shape: "hv" } })),
      { xaxis: timeAxis(agg), yaxis: { title: { text: "kWh" } } }));
  }
  return Promise.all(jobs);
}

function networkMap(main, m) {
  const xs = [], ys = [];
  const mx = [], my = [], mv = [], mt = [];
  m.branches.forEach((b) => {
    xs.push(b.x[0], b.x[1], null); ys.push(b.y[0], b.y[1], null);
    if (b.loading_max_percent !== null) {
      mx.push((b.x[0] + b.x[1]) / 2); my.push((b.y[0] + b.y[1]) / 2);
      mv.push(b.loading_max_percent); mt.push(b.kind + " " + b.index);
    }
  });
  const traces = [{ x: xs, y: ys, mode: "lines", line: { color: "#aaa", width: 2 },
    hoverinfo: "skip", name: "branches", showlegend: false }];
  if (mx.length) {
    traces.push({ x: mx, y: my, mode: "markers", name: "max loading [%]", text: mt,
      marker: { symbol: "diamond", size: 9, color: mv, colorscale: "YlOrRd", reversescale: true,
        cmin: 0,
        colorbar: { title: { text: "loading %" }, x: 1.12 } },
      hovertemplate: "%{text}: %{marker.color:.1f} %<extra></extra>" });
  }
  const hasV = Array.isArray(m.vm_min_pu);
  traces.push({ x: m.x, y: m.y, mode: "markers", name: "buses (min voltage)", text: m.bus_name,
    marker: hasV ? { size: 10, color: m.vm_min_pu, colorscale: "RdBu", cmid: 1.0,
      colorbar: { title: { text: "min pu" } }, line: { color: "#333", width: 0.5 } }
      : { size: 8, color: "#555" },
    hovertemplate: hasV ? "%{text}: min %{marker.color:.4f} pu<extra></extra>"
      : "%{text}<extra></extra>" });
  return chart(main, "map", "Network map: buses by minimum voltage, branches by maximum loading",
    traces, { xaxis: { visible: false }, yaxis: { visible: false, scaleanchor: "x" },
      height: 600, showlegend: false });
}

async function market(main) {
  const d = await api("market");
  if (!d) { unavailable(main, "Market"); return; }
  const jobs = [];
  if (d.price) {
    const price = [];
    if (d.bucket !== "slot") {  // the range as floating bars: no fill across days without trade
      price.push({ type: "bar", x: d.time, base: d.price_min, name: "min-max range",
        y: d.price_max.map((v, i) => (v === null ? null : v - d.price_min[i])),
        marker: { color: "rgba(36,113,163,0.25)" }, hoverinfo: "skip" });
    }
    price.push({ x: d.time, y: d.price, mode: d.bucket === "slot" ? "lines+markers" : "lines",
      name: d.bucket === "slot" ? "clearing price" : "volume-weighted clearing price",
      line: { color: "#2471a3", shape: d.bucket === "slot" ? "hv" : "linear" },
      connectgaps: false });
    const shapes = [];
    [["retail_price", "#c0392b"], ["feed_in_tariff", "#27ae60"]].forEach(([k, c]) => {
      if (d[k] !== null && d[k] !== undefined) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: d[k], y1: d[k],
          line: { dash: "dash", color: c, width: 1 } });
      }
    });
    jobs.push(chart(main, "price", "Local market price " + BUCKET[d.bucket] +
      " (dashed: retail price, feed-in tariff; gaps: no trade)", price,
      { xaxis: timeAxis(d), yaxis: { title: { text: "Price [" + d.currency + "/kWh]" } },
        shapes: shapes, bargap: 0 }));
  } else {
    unavailable(main, "Market prices");
  }
  const names = { traded_kwh: "traded P2P", import_kwh: "grid import", export_kwh: "grid export",
    load_kwh: "load", pv_kwh: "PV", losses_kwh: "network losses" };
  if (Object.keys(d.energy).length) {
    jobs.push(chart(main, "energy", "Energy " + BUCKET[d.bucket] + " [kWh]",
      Object.entries(d.energy).map(([k, v]) => ({ x: d.time, y: v, name: names[k] || k,
        mode: d.bucket === "slot" ? "lines+markers" : "lines", line: { shape: "hv", width: 1.5 } })),
      { xaxis: timeAxis(d), yaxis: { title: { text: "kWh" }, rangemode: "tozero" } }));
  }
  if (d.p2p_share_of_load) {
    jobs.push(chart(main, "p2p", "P2P traded share of load " + BUCKET[d.bucket],
      [{ x: d.time, y: d.p2p_share_of_load.map((v) => (v === null ? null : 100 * v)),
        name: "P2P share", line: { shape: "hv" } }],
      { xaxis: timeAxis(d), yaxis: { title: { text: "% of load" }, rangemode: "tozero" } }));
  } else {
    unavailable(main, "P2P share of load");
  }
  return Promise.all(jobs);
}

async function settlement(main) {
  const d = await api("settlement");
  const jobs = [];
  const cur = d.currency;
  if (d.bills) {
    const b = d.bills;
    const base = b.models[0];
    const order = b.participant.map((p, i) => i)
      .sort((i, j) => (b.amount[base][i] ?? 0) - (b.amount[base][j] ?? 0));
    const labels = order.map((i) => "participant " + b.participant[i]);
    const few = b.participant.length <= 30;
    if (few) {
      jobs.push(chart(main, "bills", "Bill per participant and billing model [" + cur +
        "] (> 0 pays, < 0 receives; ordered by the " + base + " bill)",
        b.models.map((m) => ({ x: labels, y: order.map((i) => b.amount[m][i]), name: m,
          text: labels, type: "bar",
          hovertemplate: "%{text}: %{y:.2f} " + cur + "<extra>" + m + "</extra>" })),
        { barmode: "group", yaxis: { title: { text: cur } } }));
    } else {
      // box per model with every participant as a dot; the axis covers the 1-99 % range
      // (double-click the chart for the few largest bills)
      const all = b.models.flatMap((m) => b.amount[m]).filter((v) => v !== null).sort((x, y) => x - y);
      const q = (p) => all[Math.min(all.length - 1, Math.floor(p * (all.length - 1)))];
      const span = q(0.99) - q(0.01);
      const clip = all[all.length - 1] - all[0] > 3 * span && span > 0;
      const plabels = b.participant.map((p) => "participant " + p);
      jobs.push(chart(main, "bills", "Bills of " + b.participant.length +
        " participants by billing model [" + cur + "] (> 0 pays" +
        (clip ? "; axis shows 1-99 %, double-click for all" : "") + ")",
        b.models.map((m) => ({ type: "box", name: m, y: b.amount[m], text: plabels,
          boxpoints: "all", jitter: 0.5, pointpos: 0, marker: { size: 4, opacity: 0.6 },
          hovertemplate: "%{text}: %{y:.2f} " + cur + "<extra>" + m + "</extra>" })),
        { showlegend: false, yaxis: { title: { text: cur },
          range: clip ? [q(0.01) - 0.15 * span, q(0.99) + 0.15 * span] : undefined } }));
    }
    if (b.models.length > 1) {
      jobs.push(chart(main, "bill-diff", "Difference to the " + base + " bill [" + cur +
        "] (< 0 saves)", b.models.slice(1).map((m) => ({ type: "box", name: m,
        y: b.participant.map((p, i) => (b.amount[m][i] ?? NaN) - (b.amount[base][i] ?? NaN)),
        boxpoints: few ? "all" : "outliers" })),
      { yaxis: { title: { text: cur } }, showlegend: false }));
    }
  } else {
    unavailable(main, "Bills");
  }
  if (d.suppliers) {
    const s = d.suppliers;
    jobs.push(chart(main, "suppliers", "Supplier profit by billing model [" + cur + "]",
      s.models.map((m) => ({ type: "bar", name: m, x: s.supplier.map((j) => "supplier " + j),
        y: s.profit[m] })), { barmode: "group", yaxis: { title: { text: cur } } }));
  } else {
    unavailable(main, "Supplier profits");
  }
  [["balances", "Customers' money per billing model "],
    ["pots", "Settlement pot per billing model "]].forEach(([key, title]) => {
    const b = d[key];
    if (!b) return;
    jobs.push(chart(main, key, title + BUCKET[b.bucket] + " [" + cur + "]",
      b.models.map((m) => ({ x: b.time, y: b.values[m], name: m, line: { shape: "hv" } })),
      { xaxis: timeAxis(b), yaxis: { title: { text: cur } } }));
  });
  if (d.pot) {
    table(main, Object.entries(d.pot), ["settlement pot per model [" + cur + "] (0: money conserved)", "pot"]);
  } else {
    unavailable(main, "Settlement pot");
  }
  if (d.rejected) {
    table(main, Object.entries(d.rejected.by_reason).concat([["total", d.rejected.count]]),
      ["rejected meter payloads: reason", "count"]);
  } else {
    unavailable(main, "Rejected payloads", "none recorded (plain runs) or not available to this role");
  }
  return Promise.all(jobs);
}

async function households(main) {
  const first = await api("participants");
  if (!first || !first.participants.length) { unavailable(main, "Household time series"); return; }
  const pick = el("select", { id: "participant" });
  first.participants.forEach((p) => pick.appendChild(el("option", { value: p }, "participant " + p)));
  const label = el("label", {}, "participant ");
  label.appendChild(pick);
  main.appendChild(label);
  const area = el("div");
  main.appendChild(area);
  const draw = async () => {
    area.textContent = "";
    const d = await api("participants", { participant: pick.value });
    const s = d.series;
    if (!s) { unavailable(area, "Participant " + pick.value); return; }
    const names = { load_kwh: "load", pv_kwh: "PV", battery_kwh: "battery charging",
      net_kwh: "net import", committed_kwh: "committed in the market",
      deviation_kwh: "deviation" };
    await chart(area, "household", "Participant " + s.participant + ": energy " +
      BUCKET[s.bucket] + " [kWh]",
      Object.entries(s.series).map(([k, v]) => ({ x: s.time, y: v, name: names[k] || k,
        line: { shape: "hv" } })),
      { xaxis: timeAxis(s), yaxis: { title: { text: "kWh" } } });
  };
  pick.addEventListener("change", () => { draw().catch(fail); });
  return draw();
}

async function sweep(main) {
  if (!S.who.sweep) { unavailable(main, "Sweep", "not a sweep directory, or not available to this role"); return; }
  const d = await api("sweep", S.sweepX ? { x: S.sweepX } : {});
  const pick = el("select", { id: "sweep-x" });
  d.keys.forEach((k) => {
    const o = el("option", { value: k }, k);
    if (k === d.x) o.selected = true;
    pick.appendChild(o);
  });
  pick.addEventListener("change", () => { S.sweepX = pick.value; route(); });
  const label = el("label", {}, "x axis ");
  label.appendChild(pick);
  main.appendChild(label);
  main.appendChild(el("p", {}, d.completed + " of " + d.runs + " runs completed; " +
    "line: median, band: min-max over the other keys (" +
    (d.keys.filter((k) => k !== d.x).join(", ") || "none") + ")"));
  const grid = el("div", { class: "cols" });
  main.appendChild(grid);
  const jobs = Object.entries(d.metrics).map(([name, m], i) => {
    const numeric = typeof m.x[0] === "number";
    const traces = numeric ? [
      { x: m.x, y: m.max, mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
      { x: m.x, y: m.min, mode: "lines", line: { width: 0 }, fill: "tonexty",
        fillcolor: "rgba(36,113,163,0.2)", name: "min-max" },
      { x: m.x, y: m.median, mode: "lines+markers", name: "median", line: { color: "#2471a3" } },
    ] : [{ x: m.x, y: m.median, mode: "markers", name: "median", error_y: { type: "data",
      symmetric: false, array: m.max.map((v, j) => v - m.median[j]),
      arrayminus: m.median.map((v, j) => v - m.min[j]) } }];
    return chart(grid, "sweep-" + i, m.label, traces, { xaxis: { title: { text: d.x } },
      height: 320, showlegend: false, margin: { t: 40, r: 20, b: 50, l: 70 } });
  });
  return Promise.all(jobs);
}

async function compare(main) {
  const names = S.who.runs.slice(0, 8);
  const d = await api("compare", { runs: names.join(",") });
  const runs = Object.keys(d);
  if (!runs.length) { unavailable(main, "Compare runs"); return; }
  main.appendChild(el("p", {}, "The first " + runs.length + " runs side by side (" +
    S.who.runs.length + " in total)."));
  const metrics = Array.from(new Set(runs.flatMap((r) => Object.keys(d[r]))));
  table(main, metrics.map((m) => [m].concat(runs.map((r) => d[r][m]))), ["metric"].concat(runs));
  const shown = ["self_sufficiency", "p2p_share_of_load"].filter((m) => metrics.includes(m));
  if (!shown.length) return;
  return chart(main, "compare-chart", "Self-sufficiency and P2P share of load [%]",
    shown.map((m) => ({ type: "bar", name: m, x: runs,
      y: runs.map((r) => (d[r][m] === undefined || d[r][m] === null ? null : 100 * d[r][m])) })),
    { barmode: "group", yaxis: { title: { text: "%" } }, xaxis: { automargin: true } });
}

async function roles(main) {
  if (S.who.role !== "researcher") { unavailable(main, "Roles"); return; }
  const d = await api("tokens");
  main.appendChild(el("p", {}, "Open a role's view (links carry that role's access token; " +
    "share each only with its holder)."));
  const ul = el("ul");
  Object.entries(d).forEach(([role, token]) => {
    const li = el("li");
    li.appendChild(el("a", { href: "/#token=" + token, target: "_blank", rel: "noopener",
      "data-role": role }, role));
    ul.appendChild(li);
  });
  main.appendChild(ul);
}

const RENDER = { overview, grid, market, settlement, households, sweep, compare, roles };

function fail(err) {
  document.body.dataset.status = "error";
  const main = document.getElementById("main");
  const msg = err instanceof ApiError ? "API " + err.status + ": " + err.message : String(err);
  main.appendChild(el("p", { class: "error" }, msg));
  if (!(err instanceof ApiError)) window.__errors.push(msg);
}

let generation = 0;  // a page left before it finished must not draw into the next one

async function route() {
  const gen = ++generation;
  const hash = location.hash.replace(/^#\/?/, "");
  const page = RENDER[hash] ? hash : "overview";
  document.body.dataset.status = "loading";
  document.body.dataset.page = page;
  document.querySelectorAll("#nav a").forEach((a) => {
    a.classList.toggle("active", a.dataset.page === page);
  });
  const main = document.getElementById("main");
  Plotly.purge && main.querySelectorAll(".chart").forEach((c) => Plotly.purge(c));
  main.textContent = "";
  const view = el("div", { class: "page" });
  main.appendChild(view);
  const t0 = performance.now();
  try {
    await RENDER[page](view);
    if (gen !== generation) return;
    document.body.dataset.status = "ready";
    document.body.dataset.ms = String(Math.round(performance.now() - t0));
  } catch (err) {
    if (gen === generation) fail(err);
  }
}

async function start() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("cosim-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", "/#/overview");
  }
  S.token = sessionStorage.getItem("cosim-token");
  if (!S.token) {
    document.getElementById("main").textContent =
      "No access token: open the URL that cosim serve printed (it ends in #token=...).";
    document.body.dataset.status = "error";
    return;
  }
  try {
    S.who = await api("whoami");
  } catch (err) {
    fail(err);
    return;
  }
  S.currency = S.who.currency;
  document.getElementById("role").textContent = "role: " + S.who.role;
  document.getElementById("root").textContent = S.who.root + " (" + S.who.kind + ")";
  const nav = document.getElementById("nav");
  PAGES.forEach(([page, label]) => {
    if (page === "sweep" && !S.who.sweep) return;
    if (page === "roles" && S.who.role !== "researcher") return;
    if (page === "compare" && S.who.runs.length < 2) return;
    nav.appendChild(el("a", { href: "#/" + page, "data-page": page }, label));
  });
  const select = document.getElementById("run");
  S.who.runs.forEach((r) => select.appendChild(el("option", { value: r }, r)));
  S.run = S.who.runs[0] || null;
  if (S.who.runs.length < 2) document.getElementById("run-label").style.display = "none";
  select.addEventListener("change", () => { S.run = select.value; route(); });
  window.addEventListener("hashchange", route);
  await route();
}

start();
