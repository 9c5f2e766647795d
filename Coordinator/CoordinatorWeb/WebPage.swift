/// The read-only page: one self-contained document (no CDN, nothing fetched but this coordinator's
/// own JSON and event stream), so that it works through an SSH tunnel from a laptop.
/// The fleet is drawn from its summary (`/api/fleet`: each topology domain's nodes and chips counted
/// by model and state, tens of kilobytes at 10,000 nodes); a domain opened shows its nodes and chips,
/// coloured by job, queue or health, fetched in parts (`/api/fleet/nodes`), as does a search by node
/// name; a fleet of at most 400 nodes shows every node at once. Each part is asked again with its
/// ETag, so what did not change comes back as 304 with no body; the page refreshes when the live log
/// brings an event (at most once a second) and every 5 s. The jobs table says why each waits; `#job/ID` shows a job's tiers and attempts on a timeline; the placement log
/// is live (server-sent events from the stream `WATCH` uses). Element ids and `data-` attributes
/// are what the browser test reads.
enum WebPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>HeteroSched</title>
        <style>
        :root { --free: #e5e7eb; --unhealthy: #d62728; --stopping: #ff7f0e; --resting: #f2c94c; --ink: #1f2933; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: var(--ink); background: #f8fafc; }
        header { display: flex; gap: 16px; align-items: baseline; padding: 8px 16px; background: #102a43; color: #f0f4f8; flex-wrap: wrap; }
        header h1 { font-size: 16px; margin: 0; }
        header a { color: #9fb3c8; }
        #live.on::before { content: "● "; color: #3ebd93; }
        #live.off::before { content: "● "; color: #e12d39; }
        main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 12px; padding: 12px 16px; }
        section { background: #fff; border: 1px solid #d9e2ec; border-radius: 6px; padding: 8px 12px; min-width: 0; }
        h2 { font-size: 14px; margin: 4px 0 8px; }
        #fleet-section { grid-column: 1 / 3; }
        #fleet { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 6px; }
        .domain { border: 1px solid #bcccdc; border-radius: 4px; padding: 4px 6px; min-width: 0; }
        .domain[data-open="true"] { grid-column: 1 / -1; }
        .domain > .head { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; }
        .domain > .head button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; color: var(--ink); }
        .domain > .head button:disabled { cursor: default; }
        .model { display: flex; gap: 6px; align-items: center; font-size: 11px; margin-top: 2px; }
        .bar { flex: 0 0 110px; height: 8px; background: var(--free); border-radius: 2px; display: flex; overflow: hidden; }
        .bar > span { display: block; height: 100%; }
        .bar .busy { background: #3b82f6; } .bar .stopping { background: var(--stopping); } .bar .resting { background: var(--resting); }
        .warn { color: var(--unhealthy); }
        .nodes { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
        .node { border: 1px solid #9fb3c8; border-radius: 4px; padding: 3px 4px; background: #fdfdfd; }
        .node.off { opacity: .55; border: 1px dashed var(--unhealthy); }
        .node > .name { font-size: 11px; color: #486581; white-space: nowrap; }
        .chips { display: grid; grid-template-columns: repeat(8, 14px); gap: 2px; margin-top: 2px; }
        .chip { width: 14px; height: 14px; border-radius: 2px; background: var(--free); display: inline-block; }
        #models td, #models th { font-size: 12px; }
        #find { margin: 6px 0; }
        #found .nodes { margin-bottom: 8px; }
        .cores { font-size: 11px; color: var(--muted, #888); }
        .chip[data-health="unhealthy"] { outline: 2px solid #7f1d1d; }
        #legend { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 6px; font-size: 12px; }
        #legend span.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
        td.reason { color: #52606d; max-width: 360px; }
        tr.fallen td.tier { color: #c65d21; font-weight: 600; }
        .state { border-radius: 8px; padding: 0 6px; font-size: 11px; background: #e4e7eb; }
        .state-running { background: #c6f7e2; } .state-queued { background: #fff3c4; } .state-failed { background: #ffe3e3; }
        .state-completed { background: #dceefb; } .state-placed { background: #e0e8f9; }
        #log { list-style: none; margin: 0; padding: 0; max-height: 420px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12px; }
        #log li { padding: 1px 0; border-bottom: 1px solid #f0f4f8; }
        #log li .t { color: #829ab1; margin-right: 6px; }
        #log li.kind-fell-back, #log li.kind-returned { background: #fff4e5; font-weight: 600; }
        #log li.kind-faulted, #log li.kind-node-lost, #log li.kind-gave-up { color: #a61b1b; }
        #job-section[hidden] { display: none; }
        #job-section { grid-column: 1 / 3; }
        #timeline { width: 100%; height: 90px; }
        .muted { color: #829ab1; }
        </style>
        </head>
        <body>
        <header>
          <h1>HeteroSched</h1>
          <span id="summary">loading…</span>
          <span id="live" class="off">live log: connecting</span>
          <span id="refresh-stats" class="muted"></span>
          <label>colour by
            <select id="colour"><option value="job">job</option><option value="queue">queue</option><option value="health">health</option></select>
          </label>
          <a href="#">fleet</a>
        </header>
        <main>
          <section id="job-section" hidden>
            <h2 id="job-title"></h2>
            <div id="job-detail"></div>
            <svg id="timeline" role="img" aria-label="attempts over time"></svg>
            <ol id="job-events"></ol>
          </section>
          <section id="fleet-section">
            <h2>Fleet <span id="fleet-count" class="muted"></span></h2>
            <table id="models"><thead><tr><th>model</th><th>vendor</th><th>chips</th><th>busy</th><th>free</th><th>stopping</th><th>resting</th><th>unhealthy</th><th>on nodes away</th></tr></thead><tbody></tbody></table>
            <form id="find"><input id="find-text" type="search" placeholder="find nodes by name" size="28"> <span id="found-count" class="muted"></span></form>
            <div id="found"></div>
            <div id="fleet"></div>
            <div id="legend"></div>
          </section>
          <section id="jobs-section">
            <h2>Jobs</h2>
            <table id="jobs"><thead><tr><th>job</th><th>state</th><th>kind</th><th>user</th><th>queue</th><th>tier</th><th>chips</th><th>why / where</th></tr></thead><tbody></tbody></table>
          </section>
          <section id="log-section">
            <h2>Placement log</h2>
            <ol id="log"></ol>
          </section>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        // A fleet this small shows every node at once; a larger one its domains, each opened on demand.
        // MOST_NODES: the most one part holds (FleetPart.maximumLimit).
        const SMALL_FLEET = 400, PART = 200, FOUND = 50, MOST_NODES = 1000;
        let summary = null, jobs = null, allNodes = null, found = null, findText = "";
        const parts = new Map();  // an open domain → its last part
        const opened = new Map(JSON.parse(sessionStorage.getItem("open-domains") || "[]"));  // domain → nodes asked
        const known = new Map();  // URL → { tag, value } last fetched
        let refreshing = false, again = false, refreshTimer = null, lastRefresh = 0, firstPaint = null;
        // Each refresh: when, whether anything drawn changed, its requests and the bytes they took on
        // the wire (headers too) as the browser's Resource Timing reports them. Entries arrive after
        // their requests end, so a refresh's figure may grow for a moment after it ends. The last 100.
        const refreshLog = [];
        window.refreshLog = refreshLog;
        const hue = (text) => { let h = 0; for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0; return h % 360; };
        const el = (tag, attrs = {}, text) => {
          const e = document.createElement(tag);
          for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
          if (text !== undefined) e.textContent = text;
          return e;
        };
        const clock = (t) => new Date(t * 1000).toISOString().slice(11, 19);

        function chipColour(chip, by) {
          if (chip.health !== "healthy") return "var(--unhealthy)";
          if (chip.state === "stopping") return "var(--stopping)";
          if (chip.state === "resting") return "var(--resting)";
          if (chip.state !== "busy") return "var(--free)";
          if (by === "health") return "#3ebd93";
          const key = by === "queue" ? (chip.queue || "") : chip.jobs.join(",");
          // Hues a golden angle apart, by the key's place among those on the page: no two alike. The
          // first is the legend's blue, not the red of an unhealthy chip.
          const place = palette.get(key) ?? hue(key);
          return `hsl(${(210 + place * 137.508) % 360}, 62%, 48%)`;
        }
        let palette = new Map();
        function shownNodes() {
          const nodes = allNodes ? [...allNodes.nodes] : [...parts.values()].flatMap((p) => p.nodes);
          return found ? nodes.concat(found.nodes) : nodes;
        }
        function choosePalette(by) {
          const keys = new Set();
          for (const node of shownNodes()) for (const chip of node.chips) {
            if (chip.state === "busy") keys.add(by === "queue" ? (chip.queue || "") : chip.jobs.join(","));
          }
          palette = new Map([...keys].sort().map((key, index) => [key, index]));
        }

        function nodeCard(node, by) {
          const off = !node.connected || node.lost || node.state === "down";
          const card = el("div", { class: "node" + (off ? " off" : ""), "data-node": node.id, "data-state": node.state, title: node.note || "" });
          const label = node.id + (node.lost ? " (lost)" : !node.connected ? " (away)" : node.state !== "ready" ? ` (${node.state})` : "");
          card.append(el("div", { class: "name" }, label));
          const chips = el("div", { class: "chips" });
          for (const chip of node.chips) {
            const span = el("span", {
              class: "chip", "data-node": node.id, "data-chip": String(chip.index), "data-state": chip.state,
              "data-health": chip.health, "data-job": chip.jobs.join(","), "data-queue": chip.queue || "",
              title: `${node.id} chip ${chip.index}: ${chip.model}, ${chip.health}, ${chip.state}` +
                (chip.jobs.length ? ` — ${chip.jobs.join(", ")}` + (chip.queue ? ` (queue ${chip.queue})` : "") : ""),
            });
            span.style.backgroundColor = chipColour(chip, by);
            chips.append(span);
          }
          if (!node.chips.length) {
            chips.append(el("span", { class: "cores", "data-node": node.id }, `cpu-only: ${node.cpusUsed}/${node.cpus} cores`));
          }
          card.append(chips);
          return card;
        }

        // A model's chips in a domain as a bar: busy, stopping, resting over free.
        function modelLine(count) {
          const line = el("div", { class: "model", "data-model": count.model, "data-busy": String(count.busy), "data-total": String(count.total) });
          const bar = el("div", { class: "bar", title: `${count.model}: ${count.busy} busy, ${count.free} free, ${count.stopping} stopping, ${count.resting} resting, ${count.unhealthy} unhealthy` });
          for (const kind of ["busy", "stopping", "resting"]) {
            if (!count[kind]) continue;
            const part = el("span", { class: kind });
            part.style.width = `${(100 * count[kind]) / count.total}%`;
            bar.append(part);
          }
          line.append(bar, el("span", {}, `${count.model} ${count.busy}/${count.total} busy`));
          if (count.unhealthy) line.append(el("span", { class: "warn" }, `${count.unhealthy} unhealthy`));
          if (count.unavailable) line.append(el("span", { class: "muted" }, `${count.unavailable} on nodes away`));
          return line;
        }

        function drawFleet() {
          if (!summary) return;
          const by = $("colour").value;
          choosePalette(by);
          const small = allNodes !== null;
          const byDomain = new Map();
          for (const node of small ? allNodes.nodes : []) {
            if (!byDomain.has(node.domain)) byDomain.set(node.domain, []);
            byDomain.get(node.domain).push(node);
          }
          const root = $("fleet");
          root.replaceChildren();
          for (const domain of summary.domains) {
            const open = small || opened.has(domain.name);
            const box = el("div", { class: "domain", "data-domain": domain.name, "data-open": String(open), "data-nodes": String(domain.nodes) });
            const head = el("div", { class: "head" });
            const toggle = el("button", { type: "button", "aria-expanded": String(open) }, (small ? "" : open ? "▾ " : "▸ ") + (domain.name || "(no topology domain)"));
            toggle.disabled = small;
            toggle.addEventListener("click", () => toggleDomain(domain.name));
            const off = domain.nodeStates.filter((s) => s.state !== "ready").map((s) => `${s.count} ${s.state}`);
            head.append(toggle, el("span", { class: "muted" }, [domain.kind, `${domain.nodes} node${domain.nodes === 1 ? "" : "s"}`].filter(Boolean).join(" · ")));
            if (off.length) head.append(el("span", { class: "warn" }, off.join(", ")));
            box.append(head);
            for (const count of domain.models) box.append(modelLine(count));
            if (domain.cpuOnlyNodes) box.append(el("div", { class: "model muted" }, `${domain.cpuOnlyNodes} cpu-only`));
            const nodes = small ? byDomain.get(domain.name) || [] : parts.get(domain.name)?.nodes;
            if (open && nodes) {
              const list = el("div", { class: "nodes" });
              for (const node of nodes) list.append(nodeCard(node, by));
              box.append(list);
              const part = parts.get(domain.name);
              if (!small && part && part.nodes.length < part.total && part.nodes.length >= MOST_NODES) {
                box.append(el("div", { class: "muted" }, `the first ${part.nodes.length} of ${part.total} nodes: find the others by name`));
              } else if (!small && part && part.nodes.length < part.total) {
                const more = el("button", { type: "button", class: "more" }, `show ${Math.min(PART, part.total - part.nodes.length, MOST_NODES - part.nodes.length)} more of ${part.total}`);
                more.addEventListener("click", () => { opened.set(domain.name, Math.min(part.nodes.length + PART, MOST_NODES)); remember(); refresh(); });
                box.append(more);
              }
            }
            root.append(box);
          }
          const foundList = $("found");
          foundList.replaceChildren();
          if (found) {
            const list = el("div", { class: "nodes" });
            for (const node of found.nodes) list.append(nodeCard(node, by));
            foundList.append(list);
            $("found-count").textContent = `${found.total} node${found.total === 1 ? "" : "s"} match` + (found.total > found.nodes.length ? `, the first ${found.nodes.length} shown` : "");
          } else {
            $("found-count").textContent = "";
          }
          $("fleet-count").textContent = `${summary.chipsBusy} of ${summary.chipsTotal} chips busy on ${summary.nodes} nodes in ${summary.domains.length} domains`;
          const models = $("models").tBodies[0];
          models.replaceChildren();
          for (const m of summary.models) {
            const row = el("tr", { "data-model": m.model });
            for (const v of [m.model, m.vendor, m.total, m.busy, m.free, m.stopping, m.resting, m.unhealthy, m.unavailable]) row.append(el("td", {}, String(v)));
            models.append(row);
          }
          const legend = $("legend");
          legend.replaceChildren();
          for (const [name, colour] of [["free", "var(--free)"], ["unhealthy", "var(--unhealthy)"], ["stopping", "var(--stopping)"], ["resting after a fault", "var(--resting)"], [by === "health" ? "busy" : `busy (one colour per ${by})`, "hsl(210, 62%, 48%)"]]) {
            const item = el("span");
            const swatch = el("span", { class: "swatch" });
            swatch.style.backgroundColor = colour;
            item.append(swatch, name);
            legend.append(item);
          }
        }

        function remember() { sessionStorage.setItem("open-domains", JSON.stringify([...opened])); }
        function toggleDomain(name) {
          if (opened.has(name)) { opened.delete(name); parts.delete(name); } else opened.set(name, PART);
          remember();
          drawFleet();
          refresh();
        }

        function drawJobs() {
          if (!jobs) return;
          const body = $("jobs").tBodies[0];
          body.replaceChildren();
          for (const job of jobs.jobs) {
            const row = el("tr", { "data-job": job.id, class: job.tier > 1 ? "fallen" : "" });
            const link = el("a", { href: `#job/${encodeURIComponent(job.id)}` }, job.id);
            const first = el("td"); first.append(link);
            const state = el("td"); state.append(el("span", { class: `state state-${job.state}` }, job.state));
            const where = job.nodes.length ? `${job.model} on ${job.nodes.join(", ")}` : "";
            row.append(first, state, el("td", {}, job.kind), el("td", { class: "user" }, job.user || "-"), el("td", {}, job.queue),
              el("td", { class: "tier" }, `${job.tier}/${job.tiers} ${job.tierName}`), el("td", {}, String(job.chips)),
              el("td", { class: "reason" }, job.state === "queued" ? (job.reason || "") : (where || job.reason || "")));
            body.append(row);
          }
          const counts = Object.entries(jobs.counts).filter(([, n]) => n > 0).sort().map(([s, n]) => `${n} ${s}`).join(", ");
          $("summary").textContent = counts ? `jobs: ${counts}` : "no jobs";
        }

        // A part of the page's JSON, asked again with its ETag (the browser's cache answers a 304):
        // `changed` is false when it is what was drawn last.
        async function part(url) {
          const reply = await fetch(url, { cache: "no-cache" });
          if (!reply.ok) throw new Error(`${url}: ${reply.status} ${await reply.text()}`);
          const tag = reply.headers.get("ETag"), last = known.get(url);
          if (tag && last && last.tag === tag) return { changed: false, value: last.value };
          const value = await reply.json();
          known.set(url, { tag, value });
          return { changed: true, value };
        }
        const partURL = (domain, count) => `/api/fleet/nodes?domain=${encodeURIComponent(domain)}&limit=${count}`;

        new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) {
            if (entry.initiatorType !== "fetch") continue;
            const during = refreshLog.findLast((r) => entry.startTime >= r.start);
            if (during && (during.end === null || entry.startTime <= during.end)) {
              during.bytes += entry.transferSize;
              during.requests += 1;
            }
          }
          performance.clearResourceTimings();
          showStats();
        }).observe({ type: "resource" });
        function showStats() {
          const done = refreshLog.filter((r) => r.end !== null);
          if (!done.length || firstPaint === null) return;
          const last = done[done.length - 1];
          const line = $("refresh-stats");
          Object.assign(line.dataset, { firstPaintMs: String(Math.round(firstPaint)), refreshes: String(done.length) });
          line.textContent = `first drawn in ${Math.round(firstPaint)} ms; refreshed ${new Date(performance.timeOrigin + last.end).toISOString().slice(11, 19)}, ${(last.bytes / 1000).toFixed(1)} kB`;
        }

        async function refresh() {
          if (refreshing) { again = true; return; }
          refreshing = true;
          const round = { start: performance.now(), end: null, bytes: 0, requests: 0, changed: false };
          refreshLog.push(round);
          if (refreshLog.length > 100) refreshLog.shift();
          try {
            const fleetPart = await part("/api/fleet");
            summary = fleetPart.value;
            let changed = fleetPart.changed;
            if (firstPaint === null) {
              // The first paint: the summary alone, before nodes and jobs.
              drawFleet();
              firstPaint = performance.now();
            }
            const small = summary.nodes <= SMALL_FLEET;
            const names = new Set(summary.domains.map((d) => d.name));
            const open = small ? [] : [...opened].filter(([name]) => names.has(name));
            const [jobsPart, everyNode, foundPart, ...domainParts] = await Promise.all([
              part("/api/jobs?limit=200"),
              small ? part(`/api/fleet/nodes?limit=${SMALL_FLEET}`) : null,
              findText ? part(`/api/fleet/nodes?match=${encodeURIComponent(findText)}&limit=${FOUND}`) : null,
              ...open.map(([name, count]) => part(partURL(name, count))),
            ]);
            if (small !== (allNodes !== null) || (everyNode && everyNode.changed)) changed = true;
            allNodes = everyNode ? everyNode.value : null;
            if ((foundPart?.changed ?? false) || (foundPart === null) !== (found === null)) changed = true;
            found = foundPart ? foundPart.value : null;
            const drawn = new Set(parts.keys());
            parts.clear();
            open.forEach(([name], i) => {
              parts.set(name, domainParts[i].value);
              if (domainParts[i].changed || !drawn.has(name)) changed = true;
            });
            if (changed || drawn.size !== parts.size) drawFleet();
            jobs = jobsPart.value;
            if (jobsPart.changed) drawJobs();
            round.changed = changed || drawn.size !== parts.size || jobsPart.changed;
            if (location.hash.startsWith("#job/")) await showJob(decodeURIComponent(location.hash.slice(5)));
          } catch (e) {
            $("summary").textContent = "cannot reach the coordinator: " + e;
          } finally {
            refreshing = false;
            lastRefresh = round.end = performance.now();
            showStats();
            if (again) { again = false; refreshSoon(); }
          }
        }
        // Events come in bursts: one refresh a second at most follows them.
        function refreshSoon() {
          if (refreshTimer) return;
          const wait = Math.max(250, 1000 - (performance.now() - lastRefresh));
          refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, wait);
        }

        async function showJob(id) {
          const section = $("job-section");
          const reply = await fetch(`/api/jobs/${encodeURIComponent(id)}`);
          if (!reply.ok) { section.hidden = false; $("job-title").textContent = `no job ${id}`; return; }
          const view = await reply.json();
          const r = view.record;
          section.hidden = false;
          $("job-title").textContent = `${r.job.id} — ${r.state}, attempt ${r.attempt}`;
          const detail = $("job-detail");
          detail.replaceChildren();
          const tiers = el("ol", { id: "job-tiers" });
          for (const visit of r.tierHistory || []) {
            tiers.append(el("li", {}, `${clock(visit.enteredAt)} tier ${visit.tier + 1} (${visit.name})` + (visit.reason ? `: ${visit.reason}` : "")));
          }
          detail.append(el("div", {}, r.reason || ""), el("div", { class: "muted" }, "tiers entered:"), tiers);
          drawTimeline(view);
          const list = $("job-events");
          list.replaceChildren();
          for (const e of view.events) list.append(el("li", { class: `kind-${e.kind}` }, `${clock(e.time)} ${e.message}`));
        }

        // Each attempt as a bar from its placement to its end, coloured by chip model; faults as red ticks.
        function drawTimeline(view) {
          const svg = $("timeline");
          svg.replaceChildren();
          const events = view.events;
          if (!events.length) return;
          const start = events[0].time, end = Math.max(view.time, events[events.length - 1].time);
          const width = svg.clientWidth || 800, span = Math.max(end - start, 1);
          const x = (t) => 10 + (width - 20) * (t - start) / span;
          const ns = "http://www.w3.org/2000/svg";
          const attempts = new Map();
          for (const e of events) {
            // A move between tiers ends the attempt that ran (its stop is not an event of its own).
            if (e.kind === "fell-back" || e.kind === "returned") for (const a of attempts.values()) if (a.to === null) a.to = e.time;
            if (e.attempt === undefined || e.attempt === null) continue;
            if (e.kind === "placed") attempts.set(e.attempt, { from: e.time, to: null, model: e.details.chipModel || "?" });
            const a = attempts.get(e.attempt);
            if (a && ["completed", "failed", "faulted", "preempted", "cancelled", "requeued", "returned"].includes(e.kind) && a.to === null) a.to = e.time;
          }
          let row = 0;
          for (const [n, a] of attempts) {
            const rect = document.createElementNS(ns, "rect");
            const from = x(a.from), to = x(a.to === null ? end : a.to);
            rect.setAttribute("x", from); rect.setAttribute("y", 10 + (row % 3) * 24);
            rect.setAttribute("width", Math.max(to - from, 2)); rect.setAttribute("height", 18);
            rect.setAttribute("fill", `hsl(${hue(a.model)}, 55%, 55%)`);
            rect.setAttribute("data-attempt", String(n));
            const title = document.createElementNS(ns, "title"); title.textContent = `attempt ${n} on ${a.model}`; rect.append(title);
            const label = document.createElementNS(ns, "text");
            label.setAttribute("x", from + 3); label.setAttribute("y", 23 + (row % 3) * 24); label.setAttribute("font-size", "11");
            label.textContent = `#${n} ${a.model}`;
            svg.append(rect, label);
            row++;
          }
          for (const e of events.filter((e) => e.kind === "faulted" || e.kind === "fell-back")) {
            const tick = document.createElementNS(ns, "line");
            tick.setAttribute("x1", x(e.time)); tick.setAttribute("x2", x(e.time)); tick.setAttribute("y1", 4); tick.setAttribute("y2", 84);
            tick.setAttribute("stroke", e.kind === "faulted" ? "#d62728" : "#ff7f0e"); tick.setAttribute("stroke-width", 2);
            svg.append(tick);
          }
        }

        function followLog() {
          const source = new EventSource("/api/events");
          source.onopen = () => { $("live").className = "on"; $("live").textContent = "live log"; };
          source.onerror = () => { $("live").className = "off"; $("live").textContent = "live log: reconnecting"; };
          source.addEventListener("placement", (message) => {
            const e = JSON.parse(message.data);
            const item = el("li", { class: `kind-${e.kind}`, "data-seq": String(e.seq), "data-kind": e.kind });
            item.append(el("span", { class: "t" }, clock(e.time)), e.message);
            const log = $("log");
            log.prepend(item);
            while (log.children.length > 500) log.lastElementChild.remove();
            refreshSoon();
          });
        }

        $("colour").addEventListener("change", drawFleet);
        $("find").addEventListener("submit", (event) => {
          event.preventDefault();
          // The refresh sees the search gone (or new) and draws again.
          findText = $("find-text").value.trim();
          refresh();
        });
        window.addEventListener("hashchange", () => {
          if (location.hash.startsWith("#job/")) showJob(decodeURIComponent(location.hash.slice(5)));
          else $("job-section").hidden = true;
        });
        refresh();
        setInterval(refresh, 5000);
        followLog();
        </script>
        </body>
        </html>
        """#
}
