"use strict";
// reasonloop show: draws a run's problems and samples from the JSON in #rl-data.
// Every string from the run (model output above all) is drawn with text nodes,
// never parsed as markup. Only one page of problems exists in the DOM at a time.
(function () {
  const started = performance.now();
  const DATA = JSON.parse(document.getElementById("rl-data").textContent);
  const PAGE_SIZE = 20;
  const TREES_SHOWN = 12;
  const CLIP = 700;

  const SF = index(DATA.samples.fields);
  const PF = index(DATA.problems.fields);
  const S = DATA.samples.rows;
  const P = DATA.problems.rows;
  const V = DATA.values;
  const HOW_LABELS = {
    "plain": "plain sample",
    "plain-resample": "plain resample",
    "critique": "critique",
    "refined-after-critique": "revision after the critique",
    "rollout": "rollout from a step",
    "guided-answer": "guided by the answer as a hint",
    "guided-rationale": "guided by a worked solution",
    "state-reset": "continued from a pre-filled start",
    "interactive": "revision after the teacher's feedback",
    "feedback": "teacher's feedback",
    "test-gen": "tests written by the model",
    "debug-post": "program fixed after its tests ran",
    "debug-in": "program fixed after its trace",
  };

  function index(fields) {
    const out = {};
    fields.forEach((f, i) => { out[f] = i; });
    return out;
  }

  // el("div", {class: "x"}, child, "text", ...): strings become text nodes.
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
        else e.setAttribute(k, String(v));
      }
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }

  const NUMBER = new Intl.NumberFormat("en-US");
  function fmtInt(n) { return NUMBER.format(n); }

  // A long text: the first CLIP characters, and a button that shows the rest.
  function clipped(text, cls, prefix) {
    const pre = el("pre", {class: cls});
    if (prefix) pre.append(el("span", {class: "prefill", title: "pre-filled by the request"}, prefix));
    const body = document.createTextNode("");
    pre.append(body);
    if (text.length <= CLIP) {
      body.data = text;
      return pre;
    }
    body.data = text.slice(0, CLIP) + " …";
    const more = el("button", {class: "more", type: "button"}, `show all ${fmtInt(text.length)} characters`);
    more.addEventListener("click", () => { body.data = text; more.remove(); });
    return el("div", null, pre, more);
  }

  // -- the summary -------------------------------------------------------------------------

  function drawSummary() {
    const run = DATA.run;
    document.title = `reasonloop: ${run.name}`;
    document.getElementById("title").textContent = `Run ${run.name}`;
    document.getElementById("run-info").textContent =
      `${run.path} · stages done: ${run.completed.join(", ") || "none"} · ` +
      `page written ${run.written} by reasonloop ${run.reasonloop}`;
    const rows = DATA.summary;
    const evaluated = rows.filter((r) => r.accuracy !== null);
    if (evaluated.length >= 2) {
      const a = evaluated[0], b = evaluated[evaluated.length - 1];
      const diff = ((b.accuracy - a.accuracy) * 100).toFixed(1);
      document.getElementById("headline").append(el("p", null,
        `Held-out accuracy went from ${(100 * a.accuracy).toFixed(1)}% (${a.stage}) to ` +
        `${(100 * b.accuracy).toFixed(1)}% (${b.stage}): ${diff >= 0 ? "+" : ""}${diff} points.`));
    }
    const head = ["stage", "held-out accuracy [95% interval]", "problems", "samples drawn", "kept",
      "tokens", "wall time (s)"];
    const table = el("table", {id: "summary-rows"}, el("tr", null, ...head.map((h) => el("th", null, h))));
    for (const r of rows) {
      table.append(el("tr", null, el("td", null, r.stage), el("td", null, r.accuracy_text),
        el("td", null, r.problems === null ? "-" : r.problems), el("td", null, fmtInt(r.samples)),
        el("td", null, fmtInt(r.kept)), el("td", null, fmtInt(r.tokens)), el("td", null, r.seconds)));
    }
    document.getElementById("summary-table").append(rows.length ? table :
      el("p", {class: "muted"}, "No stage has samples or an evaluation yet."));
    if (DATA.paired.length) {
      const t = el("table", {id: "paired-rows"}, el("tr", null, ...["stage", "against", "problems",
        "difference [95% paired bootstrap]", "McNemar p", "gained", "lost", "verdict"].map((h) => el("th", null, h))));
      for (const c of DATA.paired) {
        t.append(c.unavailable ? el("tr", null, el("td", null, c.stage), el("td", null, c.against),
          el("td", {colspan: 6}, `unavailable: ${c.unavailable}`)) :
          el("tr", null, ...[c.stage, c.against, c.problems, c.difference, c.p, c.gained, c.lost, c.verdict]
            .map((x) => el("td", null, x))));
      }
      document.getElementById("paired").append(el("h3", null, "Paired comparisons"), t);
    }
    const plots = document.getElementById("plots");
    for (const p of DATA.plots) {
      // The source is a data: URI the page writer built from the run's PNG files.
      if (!p.src.startsWith("data:image/png;base64,")) continue;
      plots.append(el("img", {src: p.src, alt: p.name, title: p.name}));
    }
    const files = document.getElementById("files");
    for (const [name, text] of [["report.md", run.report], ["recipe.yaml", run.recipe]]) {
      if (text) files.append(el("details", null, el("summary", null, name), el("pre", null, text)));
    }
    const compute = rows.flatMap((r) => r.compute.map((c) => [r.stage, c]));
    if (compute.length) {
      const t = el("table", null, el("tr", null, ...["stage", "role", "plugin", "purpose", "requests",
        "samples", "prompt tokens", "completion tokens", "seconds"].map((h) => el("th", null, h))));
      for (const [stage, c] of compute) {
        t.append(el("tr", null, ...[stage, c.role, c.plugin, c.purpose, fmtInt(c.requests), fmtInt(c.samples),
          fmtInt(c.prompt_tokens), fmtInt(c.completion_tokens), Number(c.seconds).toFixed(1)]
          .map((x) => el("td", null, x))));
      }
      files.append(el("details", null, el("summary", null, "compute by role, plugin and purpose"), t));
    }
  }

  // -- indexes -----------------------------------------------------------------------------

  const byProblem = P.map(() => []);
  for (let i = 0; i < S.length; i++) byProblem[S[i][SF.problem]].push(i);
  const finals = P.map(() => []);
  for (const f of DATA.finals) if (f[0] < P.length) finals[f[0]].push(f);
  const correctCount = new Int32Array(P.length);
  const answerCount = new Int32Array(P.length);
  for (let i = 0; i < S.length; i++) {
    const v = S[i][SF.verdict];
    if (v === null) continue;
    answerCount[S[i][SF.problem]]++;
    if (v === "correct") correctCount[S[i][SF.problem]]++;
  }
  let lowerSamples = null, lowerProblems = null, lowerTexts = null;
  function searchIndex() {
    if (lowerSamples) return;
    lowerTexts = DATA.texts.map((t) => t.toLowerCase());
    lowerSamples = S.map((s) => ((s[SF.prefill] || "") + s[SF.completion] + "\u0000" +
      (s[SF.extracted] || "") + "\u0000" + s[SF.id]).toLowerCase());
    lowerProblems = P.map((p) => (p[PF.id] + "\u0000" + p[PF.prompt] + "\u0000" + (p[PF.answer] || "")).toLowerCase());
  }

  // -- filters -----------------------------------------------------------------------------

  const F = {};
  const ANY = "\u0000any";
  function options(id, label, entries) {
    const select = document.getElementById(id);
    select.append(el("option", {value: ANY}, `any ${label}`));
    for (const [value, text] of entries) select.append(el("option", {value}, text));
    F[id] = select;
    select.addEventListener("change", () => { page = 0; apply(); });
  }
  function counted(values, column, names) {
    const counts = new Map();
    for (const s of S) counts.set(s[column], (counts.get(s[column]) || 0) + 1);
    return [...counts.keys()].sort((a, b) => (counts.get(b) - counts.get(a)))
      .map((k) => [String(k), `${names ? names(k) : k} (${fmtInt(counts.get(k))})`]);
  }
  function problemValues(column) {
    const counts = new Map();
    for (const p of P) counts.set(p[column], (counts.get(p[column]) || 0) + 1);
    return [...counts.keys()].sort().map((k) => [k, `${k} (${fmtInt(counts.get(k))} problems)`]);
  }
  options("f-stage", "stage", DATA.stages.map((name, i) => [String(i), name]));
  options("f-verdict", "verdict", counted(null, SF.verdict, (k) => (k === null ? "no verdict" : k)));
  options("f-plugin", "plugin", counted(null, SF.plugin, (k) => V.plugin[k]));
  options("f-how", "kind", counted(null, SF.how, (k) => HOW_LABELS[V.how[k]] ? `${V.how[k]}: ${HOW_LABELS[V.how[k]]}` : V.how[k]));
  options("f-role", "role", counted(null, SF.role, (k) => V.role[k]));
  options("f-difficulty", "difficulty", problemValues(PF.difficulty));
  options("f-source", "source", problemValues(PF.source));
  options("f-kept", "sample", [["1", "made a training example"], ["0", "did not"]]);
  const order = document.getElementById("f-order");
  for (const [v, t] of [["run", "as in the run"], ["hard", "fewest correct first"],
    ["easy", "most correct first"], ["many", "most samples first"]]) order.append(el("option", {value: v}, t));
  order.addEventListener("change", () => { page = 0; apply(); });
  const search = document.getElementById("f-search");
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { page = 0; apply(); }, 150);
  });
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  document.getElementById("f-reset").addEventListener("click", () => {
    for (const s of Object.values(F)) s.value = ANY;
    search.value = "";
    order.value = "run";
    page = 0;
    apply();
  });

  function chosen(id) {
    const v = F[id].value;
    return v === ANY ? null : v;
  }

  let visible = [];  // problem rows shown, in order
  let matches = new Uint8Array(S.length);  // samples that pass the filters
  let page = 0;

  function apply() {
    const t0 = performance.now();
    const stage = chosen("f-stage"), verdict = chosen("f-verdict"), plugin = chosen("f-plugin");
    const how = chosen("f-how"), role = chosen("f-role"), kept = chosen("f-kept");
    const difficulty = chosen("f-difficulty"), source = chosen("f-source");
    const q = search.value.trim().toLowerCase();
    if (q) searchIndex();
    const sampleFilter = stage !== null || verdict !== null || plugin !== null || how !== null ||
      role !== null || kept !== null;
    matches = new Uint8Array(S.length);
    visible = [];
    let sampleTotal = 0;
    for (let p = 0; p < P.length; p++) {
      const prob = P[p];
      if (difficulty !== null && prob[PF.difficulty] !== difficulty) continue;
      if (source !== null && prob[PF.source] !== source) continue;
      const problemHit = q !== "" && lowerProblems[p].includes(q);
      let any = false;
      for (const i of byProblem[p]) {
        const s = S[i];
        if (stage !== null && String(s[SF.stage]) !== stage) continue;
        if (verdict !== null && String(s[SF.verdict]) !== verdict) continue;
        if (plugin !== null && String(s[SF.plugin]) !== plugin) continue;
        if (how !== null && String(s[SF.how]) !== how) continue;
        if (role !== null && String(s[SF.role]) !== role) continue;
        if (kept !== null && String(s[SF.kept]) !== kept) continue;
        if (q !== "" && !problemHit && !lowerSamples[i].includes(q) &&
          !(s[SF.asked] >= 0 && lowerTexts[s[SF.asked]].includes(q))) continue;
        matches[i] = 1;
        sampleTotal++;
        any = true;
      }
      const shown = any || (!sampleFilter && (q === "" || problemHit));
      if (shown) visible.push(p);
    }
    const how_ = order.value;
    if (how_ === "hard" || how_ === "easy") {
      const share = (p) => (answerCount[p] ? correctCount[p] / answerCount[p] : -1);
      visible.sort((a, b) => (how_ === "hard" ? share(a) - share(b) : share(b) - share(a)) || a - b);
    } else if (how_ === "many") {
      visible.sort((a, b) => byProblem[b].length - byProblem[a].length || a - b);
    }
    document.getElementById("counts").textContent =
      `${fmtInt(visible.length)} of ${fmtInt(P.length)} problems, ` +
      `${fmtInt(sampleTotal)} of ${fmtInt(S.length)} samples match`;
    drawPage();
    window.reasonloopShow.lastFilterMs = performance.now() - t0;
    window.reasonloopShow.applied++;
    // Tests wait on this attribute: a selector, which the page's policy allows (eval is not).
    document.body.setAttribute("data-applied", String(window.reasonloopShow.applied));
  }

  // -- one page of problems ----------------------------------------------------------------

  function drawPager(nav) {
    const pages = Math.max(1, Math.ceil(visible.length / PAGE_SIZE));
    const go = (n) => () => { page = Math.min(Math.max(0, n), pages - 1); drawPage(); };
    nav.replaceChildren(
      el("button", {type: "button", class: "first", on: {click: go(0)}}, "« first"),
      el("button", {type: "button", class: "prev", on: {click: go(page - 1)}}, "‹ previous"),
      el("span", {class: "page-of"}, `page ${page + 1} of ${pages}`),
      el("button", {type: "button", class: "next", on: {click: go(page + 1)}}, "next ›"),
      el("button", {type: "button", class: "last", on: {click: go(pages - 1)}}, "last »"));
  }

  function drawPage() {
    const t0 = performance.now();
    drawPager(document.getElementById("pager-top"));
    drawPager(document.getElementById("pager-bottom"));
    const box = document.getElementById("problems");
    const start = page * PAGE_SIZE;
    const cards = visible.slice(start, start + PAGE_SIZE).map((p) => problemCard(p, false));
    box.replaceChildren(...(cards.length ? cards : [el("div", {class: "empty"}, "No problem matches the filters.")]));
    if (window.reasonloopShow) window.reasonloopShow.lastDrawMs = performance.now() - t0;
  }

  function problemCard(p, allTrees) {
    const prob = P[p];
    const card = el("article", {class: "problem", "data-problem": prob[PF.id]});
    const mine = byProblem[p];
    card.append(el("div", {class: "problem-head"},
      el("span", {class: "problem-id"}, prob[PF.id]),
      el("span", {class: "tag"}, prob[PF.split]), el("span", {class: "tag"}, prob[PF.domain]),
      el("span", {class: "tag"}, `source ${prob[PF.source]}`),
      el("span", {class: "tag"}, `difficulty ${prob[PF.difficulty]}`),
      el("span", {class: "muted"}, `${correctCount[p]} of ${answerCount[p]} answers correct, ${mine.length} samples`),
      prob[PF.answer] !== null ? el("span", null, "reference answer: ", el("b", {class: "reference"}, prob[PF.answer])) : null));
    if (finals[p].length) {
      card.append(el("div", {class: "finals"}, "final answer: ", ...finals[p].flatMap((f) => [
        el("span", {class: "tag"}, `${f[1]}: `, el("b", null, f[3] === null ? "none" : f[3]), " ",
          el("span", {class: `verdict v-${f[4] ? "correct" : (f[2] || "none")}`}, f[4] ? "correct" : (f[2] || "no answer"))), " "])));
    }
    if (prob[PF.prompt]) card.append(clipped(prob[PF.prompt], "prompt"));
    // Roots (depth 0) with their subtrees, which follow them in the rows: grouped by stage.
    const roots = [];
    for (let k = 0; k < mine.length; k++) {
      const i = mine[k];
      if (S[i][SF.depth] !== 0) continue;
      let end = k + 1;
      while (end < mine.length && S[mine[end]][SF.depth] > 0) end++;
      const subtree = mine.slice(k, end);
      if (subtree.some((j) => matches[j])) roots.push(subtree);
    }
    const shown = allTrees ? roots : roots.slice(0, TREES_SHOWN);
    let lastStage = -1;
    for (const subtree of shown) {
      const stage = S[subtree[0]][SF.stage];
      if (stage !== lastStage) {
        card.append(el("div", {class: "stage-title"}, DATA.stages[stage]));
        lastStage = stage;
      }
      card.append(el("div", {class: "tree"}, tree(subtree)));
    }
    if (shown.length < roots.length) {
      const more = el("button", {type: "button", class: "more"},
        `show all ${roots.length} lineages (${roots.length - shown.length} more)`);
      more.addEventListener("click", () => card.replaceWith(problemCard(p, true)));
      card.append(more);
    }
    return card;
  }

  // A root and its descendants (rows in pre-order) as nested nodes: child below parent.
  function tree(subtree) {
    const nodes = new Map();
    let top = null;
    for (const i of subtree) {
      const node = sampleNode(i);
      nodes.set(i, node);
      const parent = S[i][SF.parent];
      if (top === null) top = node;
      else (nodes.get(parent) || top).querySelector(":scope > .children").append(node);
    }
    return top;
  }

  function sampleNode(i) {
    const s = S[i];
    const verdict = s[SF.verdict];
    const how = V.how[s[SF.how]];
    const node = el("div", {class: `node ${verdict || "none"}${matches[i] ? "" : " context"}`, "data-sample": s[SF.id]});
    const link = s[SF.depth] > 0 ? el("span", {class: "link"}, "↳") : null;
    node.append(el("div", {class: "node-head"}, link,
      el("span", {class: "how"}, HOW_LABELS[how] || how),
      el("span", {class: "verdict v-" + (verdict || "none")}, verdict || "no verdict"),
      s[SF.extracted] !== null ? el("span", null, "answer: ", el("b", {class: "extracted"}, s[SF.extracted])) : null,
      el("span", {class: "muted"}, `${V.plugin[s[SF.plugin]]} · ${V.purpose[s[SF.purpose]]} · ${V.role[s[SF.role]]}`),
      el("span", {class: "muted"}, `round ${s[SF.round]} · #${s[SF.index]}`),
      el("span", {class: "muted tokens"}, `${fmtInt(s[SF.prompt_tokens])} + ${fmtInt(s[SF.completion_tokens])} tokens`),
      s[SF.finish_reason] && s[SF.finish_reason] !== "stop" ? el("span", {class: "tag"}, `finish: ${s[SF.finish_reason]}`) : null,
      s[SF.kept] ? el("span", {class: "kept", title: "a selected training example was made from it"}, "✓ trained on") : null,
      el("span", {class: "muted"}, s[SF.id])));
    const asked = s[SF.asked] >= 0 ? DATA.texts[s[SF.asked]] : null;
    if (asked !== null && (how !== "plain" || s[SF.depth] > 0)) {
      node.append(el("div", {class: "asked-label"}, "asked:"), clipped(asked, "asked"));
    } else if (asked !== null) {
      node.append(el("details", null, el("summary", {class: "asked-label"}, "prompt"), el("pre", {class: "asked"}, asked)));
    }
    node.append(clipped(s[SF.completion], "completion", s[SF.prefill]));
    for (const key of ["meta", "evidence"]) {
      const value = s[SF[key]];
      if (value) node.append(el("div", {class: "meta"}, `${key}: ${JSON.stringify(value).slice(0, 600)}`));
    }
    node.append(el("div", {class: "children"}));
    return node;
  }

  // For tests and benchmarks: sizes, timings, and how many times the filters ran.
  window.reasonloopShow = {samples: S.length, problems: P.length, applied: 0};
  drawSummary();
  apply();
  window.reasonloopShow.loadMs = performance.now() - started;  // parse the data, index, draw
  window.reasonloopShow.readyAt = performance.now();  // since navigation began
  window.reasonloopShow.ready = true;
  document.body.setAttribute("data-ready", "1");
})();
