// The device page: charts from the stored history, then live points over Server-Sent Events.
(() => {
  "use strict";
  const root = document.getElementById("device");
  const base = `/devices/${encodeURIComponent(root.dataset.device)}`;
  const style = getComputedStyle(document.documentElement);
  const css = (name) => style.getPropertyValue(name).trim();
  const palette = [1, 2, 3, 4, 5, 6].map((i) => css(`--series-${i}`));
  const MAX_POINTS = 3000; // per stream: older points scroll out of the live view
  const MAX_EVENTS = 200;
  const seen = new Set(); // event ids listed already (a notice may name some twice)
  const streams = new Map(); // name -> {t, values: {input: []}, score, alarm, seen, charts, el}
  const status = document.getElementById("live-status");
  const statusText = document.getElementById("live-text");
  const eventsBody = document.getElementById("events-body");
  const fmt = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  let cursor = "0.0"; // what the page holds: "<last event id>.<last chunk of readings id>"

  function setStatus(state, text) {
    status.dataset.state = state;
    statusText.textContent = text;
  }

  function element(tag, attrs = {}, text = "") {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text) el.textContent = text;
    return el;
  }

  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function axes() {
    const common = { stroke: css("--muted"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } };
    const x = { ...common, space: 90, values: (u, splits) => splits.map((t) => clock.format(new Date(t * 1000))) };
    return [x, { ...common, size: 56 }];
  }

  function chartSize(host) {
    return { width: Math.max(260, host.clientWidth), height: 220 };
  }

  function newStream(name) {
    const id = `stream-${streams.size}`;
    const section = element("section", { class: "card stream", "aria-labelledby": id, "data-stream": name });
    const head = element("div", { class: "stream-head" });
    head.append(element("h2", { id }, name));
    const latest = element("p", { class: "latest" });
    head.append(latest);
    const pipeline = element("p", { class: "pipeline" });
    head.append(pipeline);
    const charts = element("div", { class: "charts" });
    const hosts = ["Readings", "Anomaly score"].map((caption) => {
      const figure = element("figure", { "aria-label": `${caption} of ${name}` });
      figure.append(element("figcaption", {}, caption));
      const host = element("div", { class: "chart" });
      figure.append(host);
      charts.append(figure);
      return host;
    });
    section.append(head, charts);
    document.getElementById("streams").append(section);
    document.getElementById("no-streams").hidden = true;
    const entry = { t: [], values: {}, score: [], alarm: [], seen: new Set(), hosts, latest, pipeline, charts: [null, null], inputs: "" };
    streams.set(name, entry);
    return entry;
  }

  function valuesChart(entry) {
    const inputs = Object.keys(entry.values).sort();
    const key = inputs.join("\u0000");
    const data = [entry.t, ...inputs.map((k) => entry.values[k])];
    if (entry.charts[0] && entry.inputs === key) return entry.charts[0].setData(data);
    if (entry.charts[0]) entry.charts[0].destroy();
    entry.inputs = key;
    // Each input on a scale of its own (their units differ); the first two get an axis each.
    const colour = (i) => palette[i % palette.length];
    const series = [{}, ...inputs.map((k, i) => ({ label: k, scale: k, stroke: colour(i), width: 1.5 }))];
    const [x, y] = axes();
    const sides = inputs.slice(0, 2).map((k, i) => ({ ...y, scale: k, side: i ? 1 : 3, stroke: colour(i), grid: { ...y.grid, show: i === 0 } }));
    entry.charts[0] = new uPlot({ ...chartSize(entry.hosts[0]), series, axes: [x, ...sides] }, data, entry.hosts[0]);
  }

  function scoreChart(entry) {
    const alarms = entry.score.map((s, i) => (entry.alarm[i] ? s : null));
    const data = [entry.t, entry.score, alarms];
    if (entry.charts[1]) return entry.charts[1].setData(data);
    const series = [
      {},
      { label: "score", stroke: css("--score"), width: 1.5, fill: `${css("--score")}22` },
      { label: "alarm", stroke: css("--alarm"), width: 0, points: { show: true, size: 7, fill: css("--alarm") } },
    ];
    entry.charts[1] = new uPlot({ ...chartSize(entry.hosts[1]), series, axes: axes(), scales: { y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } } }, data, entry.hosts[1]);
  }

  function insertAt(array, t) {
    // Points arrive in time order almost always: search from the end.
    let i = array.length;
    while (i > 0 && array[i - 1] > t) i--;
    return i;
  }

  function addPoints(entry, s) {
    for (let j = 0; j < s.id.length; j++) {
      // Point ids are the readings' seq, per stream (negative for a rollup's bucket).
      if (entry.seen.has(s.id[j])) continue;
      entry.seen.add(s.id[j]);
      const i = insertAt(entry.t, s.t[j]);
      const n = entry.t.length;
      entry.t.splice(i, 0, s.t[j]);
      entry.score.splice(i, 0, s.score[j]);
      entry.alarm.splice(i, 0, s.alarm[j]);
      for (const k of new Set([...Object.keys(entry.values), ...Object.keys(s.values)])) {
        if (!entry.values[k]) entry.values[k] = new Array(n).fill(null);
        entry.values[k].splice(i, 0, s.values[k] ? s.values[k][j] : null);
      }
    }
    const extra = entry.t.length - MAX_POINTS;
    if (extra > 0) {
      for (const a of [entry.t, entry.score, entry.alarm, ...Object.values(entry.values)]) a.splice(0, extra);
    }
  }

  function showLatest(entry) {
    const last = entry.t.length - 1;
    if (last < 0) return;
    entry.latest.replaceChildren();
    const parts = Object.keys(entry.values).sort().map((k) => {
      const v = entry.values[k][last];
      return `${k} ${v === null || v === undefined ? "–" : fmt.format(v)}`;
    });
    const score = entry.score[last];
    entry.latest.append("Latest: ", element("strong", {}, parts.join(" · ")));
    if (score !== null && score !== undefined) entry.latest.append(` · score ${fmt.format(score)}`);
    entry.latest.append(` · ${timeFmt.format(new Date(entry.t[last] * 1000))}`);
  }

  function addEvent(ev) {
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    const row = element("tr");
    row.append(
      element("td", {}, timeFmt.format(new Date(ev.t * 1000))),
      element("td", {}, ev.stream),
      element("td", ev.name === "alarm" ? { class: "event-alarm" } : {}, ev.name),
      element("td", { class: "num" }, ev.score === null || ev.score === undefined ? "–" : fmt.format(ev.score)),
      element("td", {}, ev.explanation || ""),
    );
    eventsBody.prepend(row);
    while (eventsBody.rows.length > MAX_EVENTS) eventsBody.deleteRow(-1);
    document.getElementById("no-events").hidden = true;
  }

  function showPipeline(entry, assigned) {
    if (!assigned) return;
    const state = assigned.applied ? `applied ${timeFmt.format(new Date(assigned.applied * 1000))}` : "pending";
    entry.pipeline.replaceChildren("Pipeline: ", element("code", {}, assigned.steps.join(" → ")), ` (${state})`);
  }

  function merge(points) {
    for (const [name, s] of Object.entries(points.streams)) {
      const entry = streams.get(name) || newStream(name);
      addPoints(entry, s);
      valuesChart(entry);
      scoreChart(entry);
      showLatest(entry);
      if (points.pipelines) showPipeline(entry, points.pipelines[name]);
    }
    points.events.forEach(addEvent);
    cursor = points.cursor;
    root.dataset.cursor = cursor;
  }

  function live() {
    const source = new EventSource(`${base}/live?after=${cursor}`);
    source.addEventListener("open", () => setStatus("live", "Live"));
    source.addEventListener("points", (e) => {
      merge(JSON.parse(e.data));
      setStatus("live", "Live");
    });
    source.addEventListener("error", () => {
      // EventSource retries by itself, telling the hub the last id it saw.
      setStatus("retrying", source.readyState === EventSource.CLOSED ? "Live updates stopped: reload the page" : "Reconnecting…");
    });
    window.addEventListener("pagehide", () => source.close());
  }

  function resize() {
    for (const entry of streams.values()) {
      entry.charts.forEach((chart, i) => chart && chart.setSize(chartSize(entry.hosts[i])));
    }
  }

  fetch(`${base}/history`, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((r) => {
      if (!r.ok) throw new Error(`history: HTTP ${r.status}`);
      return r.json();
    })
    .then((points) => {
      merge(points);
      if (!streams.size) document.getElementById("no-streams").hidden = false;
      live();
    })
    .catch(() => setStatus("retrying", "Could not load this device's history: reload the page"));
  new ResizeObserver(resize).observe(document.getElementById("streams"));
})();
