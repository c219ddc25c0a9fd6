// app.js - the page: asks the engine (nabla.js: the nabla C engine and
// web/nabla_web.c compiled to WebAssembly) for a graph as JSON, draws it as
// SVG and steps through it.  Every number shown comes from the engine's
// reply; this file only decides when to show it, and how.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const GREEN = '#1a7f37', RED = '#cf222e', FONT = 'Helvetica, Arial, sans-serif';
  const BOX_W = 136, BOX_H = 76, COL_W = 216, ROW_H = 96, PAD = 24, OUT_W = 110;
  const SYMBOL = { add: '+', mul: '\u00d7', neg: '\u2212x', reciprocal: '1/x', pow: 'x^p' };

  let api = null;
  let data = null;    // the engine's last successful reply
  let byId = new Map();
  let ops = [];       // op gates (not leaves), forward order
  let consumers = new Map(); // id -> [{ gate, k }]: who reads a node, as input k
  let fwd = 0, bwd = 0;      // op gates stepped forward, and backward
  let current = null;        // the gate of the last step
  let src = '';              // the expression the spans point into
  let quizGate = null;       // the gate whose backward step the student is answering
  let steps = [];            // the log, one line per step
  const timing = { engineReadyMs: null, firstGraphMs: null };

  // ---- Numbers and labels ---------------------------------------------------

  function fmt(v) {
    if (v === null || v === undefined) return '\u2014';
    if (v === 0) return '0'; // also -0
    return String(Number(v.toPrecision(6))).replace('e+', 'e');
  }

  // Spans count bytes of UTF-8; the text is a JS string.
  function byteSlice(s, begin, end) {
    const bytes = new TextEncoder().encode(s);
    return new TextDecoder().decode(bytes.slice(begin, end));
  }

  function charColumn(s, byteColumn) {
    let bytes = 0, i = 0;
    for (const ch of s) {
      if (bytes >= byteColumn) break;
      bytes += new TextEncoder().encode(ch).length;
      i++;
    }
    return i;
  }

  function label(g) {
    if (g.label) return g.label;
    if (g.leaf) return g.name || fmt(g.value);
    if (!g.span) return '';
    let t = byteSlice(src, g.span[0], g.span[1]).replace(/\s+/g, ' ').trim();
    if (g.prefix === '/') t = '1/' + t;
    else if (g.prefix === '-') t = '-' + t;
    return t.length > 19 ? t.slice(0, 17) + '\u2026' : t; // fits the box
  }

  const isConst = (g) => g.leaf && !g.wants_grad;
  const opName = (g) => SYMBOL[g.op] || g.op;
  const ref = (g) => (g.leaf ? label(g) : '#' + g.num + ' ' + opName(g));

  // ---- What is shown at this step -----------------------------------------

  const stepsDone = () => fwd === ops.length && bwd === ops.length;
  const valueShown = (g) => g.leaf || ops.indexOf(g) < fwd;
  const processed = (g) => !g.leaf && ops.length - 1 - ops.indexOf(g) < bwd;

  // What n has received from the gates above it so far, and whether that is all.
  function received(n) {
    const from = (consumers.get(n.id) || []).filter((c) => c.gate.pass[c.k] !== null);
    const got = from.filter((c) => processed(c.gate));
    return { from, got, all: got.length === from.length };
  }

  function gradShown(g) {
    if (!g.wants_grad) return false;
    if (ops.length === 0) return true;
    if (g.id === data.root) return fwd === ops.length && (bwd > 0 || quizGate === g);
    const r = received(g);
    return r.got.length > 0 && r.all;
  }

  // "6 + -8" while contributions arrive; the engine's sum once all are in.
  function gradText(g) {
    if (gradShown(g)) return fmt(g.grad);
    if (!g.wants_grad || g.id === data.root) return '';
    const r = received(g);
    return r.got.length ? r.got.map((c) => fmt(c.gate.pass[c.k])).join(' + ') + ' + \u2026' : '';
  }

  // ---- Drawing ---------------------------------------------------------------

  function el(name, attrs, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Columns by depth (a leaf just before its first reader), rows ordered to
  // keep wires short: a few sweeps of the barycentre heuristic.
  function layout() {
    const depth = new Map();
    for (const g of data.gates)
      depth.set(g.id, g.leaf ? 0 : 1 + Math.max(...g.inputs.map((i) => depth.get(i))));
    for (const g of data.gates) {
      const cs = consumers.get(g.id) || [];
      if (g.leaf && cs.length) depth.set(g.id, Math.min(...cs.map((c) => depth.get(c.gate.id))) - 1);
    }
    const cols = [];
    for (const g of data.gates) (cols[depth.get(g.id)] = cols[depth.get(g.id)] || []).push(g);
    const pos = new Map();
    const place = () => cols.forEach((col) => col.forEach((g, i) => pos.set(g.id, i - (col.length - 1) / 2)));
    const mean = (ids, dflt) => (ids.length ? ids.reduce((s, i) => s + pos.get(i), 0) / ids.length : dflt);
    place();
    for (let sweep = 0; sweep < 4; sweep++) {
      const order = sweep % 2 ? cols.slice().reverse() : cols;
      for (const col of order) {
        if (!col) continue;
        const key = new Map(col.map((g) => [g.id, sweep % 2
          ? mean((consumers.get(g.id) || []).map((c) => c.gate.id), pos.get(g.id))
          : mean(g.inputs, pos.get(g.id))]));
        col.sort((a, b) => key.get(a.id) - key.get(b.id));
        place();
      }
    }
    const rows = Math.max(...cols.map((c) => (c ? c.length : 0)));
    const xy = new Map();
    cols.forEach((col, d) => col.forEach((g, i) => {
      xy.set(g.id, { x: PAD + d * COL_W, y: PAD + (i + (rows - col.length) / 2) * ROW_H });
    }));
    return { xy, width: PAD * 2 + (cols.length - 1) * COL_W + BOX_W + OUT_W, height: PAD * 2 + rows * ROW_H - (ROW_H - BOX_H) };
  }

  function wireLabels(svg, x, y, value, grad) {
    if (value !== null)
      svg.appendChild(el('text', { x, y: y - 5, fill: GREEN, 'font-size': 12, 'text-anchor': 'middle', class: 'wire-value' }, value));
    if (grad !== null)
      svg.appendChild(el('text', { x, y: y + 14, fill: RED, 'font-size': 12, 'text-anchor': 'middle', class: 'wire-grad' }, grad));
  }

  function drawNode(svg, g, p) {
    const node = el('g', { transform: `translate(${p.x},${p.y})`, class: 'gate', 'data-id': g.id });
    const mid = BOX_W / 2;
    const text = (y, size, fill, s, cls, weight) =>
      node.appendChild(el('text', { x: mid, y, 'font-size': size, fill, 'text-anchor': 'middle', class: cls, 'font-weight': weight || 'normal' }, s));
    if (isConst(g)) { // a constant: just its value, no box
      text(BOX_H / 2 + 5, 13, '#57606a', fmt(g.value), 'value');
      svg.appendChild(node);
      return;
    }
    node.appendChild(el('rect', {
      width: BOX_W, height: BOX_H, rx: 8, fill: g.id === current ? '#fff8c5' : g.leaf ? '#f6f8fa' : '#fff',
      stroke: g.id === current ? '#d4a72c' : '#8c959f', 'stroke-width': g.id === current ? 2.5 : 1,
    }));
    text(18, 14, '#1f2328', g.leaf ? label(g) : `${opName(g)}  #${g.num}`, 'op', 'bold');
    text(34, 12, '#57606a', g.leaf ? 'variable' : label(g), 'label');
    text(52, 14, GREEN, valueShown(g) ? fmt(g.value) : '', 'value');
    text(68, 14, RED, gradText(g), 'grad');
    svg.appendChild(node);
  }

  function draw() {
    const { xy, width, height } = layout();
    const svg = el('svg', { xmlns: SVGNS, width, height, viewBox: `0 0 ${width} ${height}`, 'font-family': FONT });
    svg.appendChild(el('rect', { width, height, fill: '#fff' }));
    for (const g of data.gates) {
      // wires enter a gate in the order their sources sit, so they never cross there
      const slot = g.inputs.map((id, k) => k).sort((i, j) => xy.get(g.inputs[i]).y - xy.get(g.inputs[j]).y || i - j);
      g.inputs.forEach((id, k) => {
        const a = xy.get(id), b = xy.get(g.id), x = byId.get(id);
        const x1 = a.x + (isConst(x) ? BOX_W / 2 + 16 : BOX_W), y1 = a.y + BOX_H / 2;
        const x2 = b.x, y2 = b.y + BOX_H * (slot.indexOf(k) + 1) / (g.inputs.length + 1);
        const d = (x2 - x1) / 2;
        svg.appendChild(el('path', { d: `M${x1},${y1} C${x1 + d},${y1} ${x2 - d},${y2} ${x2},${y2}`, fill: 'none', stroke: '#8c959f' }));
        wireLabels(svg, (x1 + x2) / 2, (y1 + y2) / 2, valueShown(x) ? fmt(x.value) : null,
          processed(g) && g.pass[k] !== null ? fmt(g.pass[k]) : null);
      });
    }
    const root = byId.get(data.root), r = xy.get(root.id);
    const ox = r.x + (isConst(root) ? BOX_W / 2 + 16 : BOX_W), oy = r.y + BOX_H / 2;
    svg.appendChild(el('path', { d: `M${ox},${oy} H${ox + OUT_W - 20}`, stroke: '#8c959f', 'marker-end': '' }));
    wireLabels(svg, ox + (OUT_W - 20) / 2, oy, valueShown(root) ? fmt(root.value) : null,
      gradShown(root) ? fmt(root.grad) : null);
    for (const g of data.gates) drawNode(svg, g, xy.get(g.id));
    $('graph').replaceChildren(svg);
    // shrink a wide graph to fit, down to 60% (text stays readable); wider ones scroll
    const avail = $('graph').clientWidth - 2;
    if (width > avail) {
      const w = Math.max(avail, width * 0.6);
      svg.setAttribute('width', Math.round(w));
      svg.setAttribute('height', Math.round(height * w / width));
    }
    if (timing.firstGraphMs === null) {
      timing.firstGraphMs = Math.round(performance.now());
      $('status').textContent = `Engine (WebAssembly) ready after ${timing.engineReadyMs} ms; first graph drawn ${timing.firstGraphMs} ms after the page began loading.`;
    }
  }

  // ---- The panels -----------------------------------------------------------

  function showPhase() {
    const n = ops.length;
    $('fwd').disabled = fwd === n;
    $('bwd').disabled = fwd < n || bwd === n || quizGate !== null;
    $('all').disabled = stepsDone();
    $('phase').textContent = n === 0 ? 'a single leaf: nothing to step through'
      : fwd < n ? `forward: ${fwd} of ${n} gates`
      : bwd < n ? `backward: ${bwd} of ${n} gates` : 'done: every gate has its value and gradient';
    const ol = $('log');
    ol.replaceChildren(...steps.map((s, i) => {
      const li = document.createElement('li');
      li.textContent = s;
      if (i === steps.length - 1) li.className = 'current';
      return li;
    }));
    ol.scrollTop = ol.scrollHeight;
    const tbody = $('grads').tBodies[0];
    tbody.replaceChildren(...data.vars.map((v) => {
      const tr = document.createElement('tr');
      const g = byId.get(v.id), shown = stepsDone() || gradShown(g);
      const diff = shown && v.grad !== null && v.numeric !== null ? fmt(Math.abs(v.grad - v.numeric)) : '';
      for (const s of [v.name, fmt(v.value), shown ? fmt(v.grad) : '', shown ? fmt(v.numeric) : '', diff]) {
        const td = document.createElement('td');
        td.textContent = s;
        tr.appendChild(td);
      }
      tr.dataset.name = v.name;
      return tr;
    }));
  }

  function refresh() {
    draw();
    showPhase();
  }

  // ---- Stepping ---------------------------------------------------------------

  function forwardStep() {
    if (fwd === ops.length) return;
    const g = ops[fwd++];
    current = g.id;
    const ins = g.inputs.map((i) => fmt(byId.get(i).value)).join(', ');
    steps.push(`forward #${g.num} ${g.op} ${label(g)}: ${g.op}(${ins}) = ${fmt(g.value)}`);
  }

  function backwardStep() {
    if (fwd < ops.length || bwd === ops.length) return;
    const g = ops[ops.length - 1 - bwd++];
    current = g.id;
    const parts = g.inputs.map((id, k) => {
      const x = byId.get(id);
      if (g.pass[k] === null) return `${ref(x)} is a constant: nothing to pass`;
      return `upstream ${fmt(g.grad)} \u00d7 local ${fmt(g.local[k])} = ${fmt(g.pass[k])} to ${ref(x)}`;
    });
    steps.push(`backward #${g.num} ${g.op}: ` + parts.join('; '));
    // a node read by several gates (the copy gate) adds what they pass back
    for (const id of new Set(g.inputs)) {
      const x = byId.get(id), r = received(x);
      if (r.all && r.from.length > 1) {
        const sum = r.from.map((c) => fmt(c.gate.pass[c.k])).join(' + ');
        steps.push(`copy adds: ${ref(x)} is read ${r.from.length} times, its gradient is ${sum} = ${fmt(x.grad)}`);
      }
    }
  }

  function nextBackwardGate() {
    return fwd === ops.length && bwd < ops.length ? ops[ops.length - 1 - bwd] : null;
  }

  function askQuiz() {
    const g = nextBackwardGate();
    // a gate of constants passes nothing down: nothing to ask
    if (!g || g.pass.every((p) => p === null)) return false;
    quizGate = g;
    $('quiz-question').textContent = `Gate #${g.num} (${g.op}${label(g) ? ', ' + label(g) : ''}) receives the upstream gradient ${fmt(g.grad)}. What does it pass down to each input?`;
    const fields = g.inputs.map((id, k) => {
      if (g.pass[k] === null) return null;
      const lab = document.createElement('label');
      lab.textContent = `to ${ref(byId.get(id))} `;
      const inp = document.createElement('input');
      inp.size = 10;
      inp.dataset.k = k;
      inp.className = 'quiz-answer';
      lab.appendChild(inp);
      return lab;
    }).filter(Boolean);
    $('quiz-fields').replaceChildren(...fields);
    $('quiz-verdict').textContent = '';
    $('quiz-verdict').className = '';
    $('quizbox').hidden = false;
    $('quiz-check').disabled = false;
    const first = $('quiz-fields').querySelector('input');
    if (first) first.focus();
    return true;
  }

  // Right within half a percent, or 0.005, which rounding by hand allows.
  function checkQuiz() {
    const g = quizGate;
    if (!g) return;
    const verdicts = [];
    let right = true;
    for (const inp of $('quiz-fields').querySelectorAll('input')) {
      const k = Number(inp.dataset.k), want = g.pass[k], got = Number(inp.value.trim());
      const ok = inp.value.trim() !== '' && Number.isFinite(got) && Math.abs(got - want) <= Math.max(0.005, 0.005 * Math.abs(want));
      right = right && ok;
      verdicts.push(`${ref(byId.get(g.inputs[k]))}: ${ok ? 'right' : `you said ${inp.value.trim() || 'nothing'}, it is ${fmt(want)}`}`);
    }
    const v = $('quiz-verdict');
    v.textContent = (right ? 'Right! ' : 'Not quite. ') + verdicts.join('; ') + ` (upstream ${fmt(g.grad)} \u00d7 local gradient)`;
    v.className = right ? 'right' : 'wrong';
    $('quiz-check').disabled = true;
    quizGate = null;
    backwardStep();
    refresh();
  }

  function onBackward() {
    if ($('quiz').checked && askQuiz()) {
      refresh();
      return;
    }
    backwardStep();
    refresh();
  }

  function showAll() {
    quizGate = null;
    $('quizbox').hidden = true;
    while (fwd < ops.length) forwardStep();
    while (bwd < ops.length) backwardStep();
    refresh();
  }

  function startOver() {
    fwd = bwd = 0;
    current = null;
    quizGate = null;
    steps = [];
    $('quizbox').hidden = true;
    refresh();
  }

  // ---- Talking to the engine ----------------------------------------------------

  function load(reply, text) {
    const r = JSON.parse(reply);
    if (!r.ok) {
      showError(r);
      return false;
    }
    $('error').hidden = true;
    data = r;
    src = text;
    // gates are numbered 1, 2, ... in forward order, leaves too, as `nabla grad --table` does
    r.gates.forEach((g, i) => (g.num = i + 1));
    byId = new Map(r.gates.map((g) => [g.id, g]));
    ops = r.gates.filter((g) => !g.leaf);
    consumers = new Map();
    for (const g of r.gates)
      g.inputs.forEach((id, k) => (consumers.get(id) || consumers.set(id, []).get(id)).push({ gate: g, k }));
    $('title').textContent = r.title;
    $('gd-result').replaceChildren();
    startOver();
    return true;
  }

  function showError(r) {
    const field = r.field === 'values' ? 'values' : 'expr';
    const name = field === 'values' ? 'values' : 'expression';
    const text = $(field).value;
    let msg = r.message;
    if (r.column > 0 && (r.field === 'expr' || r.field === 'values')) {
      const col = charColumn(text, r.column - 1);
      msg = `${name}: ${text}\n${' '.repeat(name.length + 2 + col)}^\ncolumn ${r.column}: ${r.message}`;
    }
    $('error-text').textContent = msg;
    $('error').hidden = false;
  }

  function run() {
    const name = $('example').value;
    const lecture = lectures.find((l) => l.name === name);
    if (lecture && !lecture.src) return load(api.lecture(name), '');
    const text = $('expr').value;
    return load(api.eval(text, $('values').value), text);
  }

  function gdStep() {
    const lr = Number($('lr').value);
    const old = new Map(data.vars.map((v) => [v.name, v.value]));
    const r = JSON.parse(api.step(lr));
    if (!r.ok) {
      $('gd-result').textContent = r.message;
      return;
    }
    const text = src;
    load(JSON.stringify(r), text);
    showAll();
    steps = [`one gradient-descent step with learning rate ${fmt(lr)}: every variable v becomes v \u2212 ${fmt(lr)} \u00d7 dv`];
    current = null;
    $('values').value = r.vars.map((v) => `${v.name}=${v.value}`).join(' ');
    const down = r.value < r.before;
    const out = document.createElement('div');
    const p = document.createElement('p');
    p.innerHTML = '';
    p.textContent = `value ${fmt(r.before)} \u2192 ${fmt(r.value)}: ` + (down
      ? `went down by ${fmt(r.before - r.value)}`
      : 'did not go down: try a smaller learning rate');
    p.className = down ? 'right' : 'wrong';
    p.id = 'gd-verdict';
    const ul = document.createElement('ul');
    for (const v of r.vars) {
      const li = document.createElement('li');
      li.textContent = `${v.name}: ${fmt(old.get(v.name))} \u2192 ${fmt(v.value)}`;
      ul.appendChild(li);
    }
    out.append(p, ul);
    $('gd-result').replaceChildren(out);
    refresh();
  }

  // ---- Export ------------------------------------------------------------------------

  function svgText() {
    const shown = $('graph').querySelector('svg');
    if (!shown) return '';
    const svg = shown.cloneNode(true); // at its natural size, not as shrunk to fit
    const [, , w, h] = svg.getAttribute('viewBox').split(' ');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg) + '\n';
  }

  const html = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

  // Graphviz, with what the page shows now: values green above gradients red.
  function dotText() {
    if (!data) return '';
    const vg = (v, g) => (v ? `<font color="${GREEN}">${html(v)}</font>` : '') + (g ? `<br/><font color="${RED}">${html(g)}</font>` : '');
    const lines = ['digraph nabla {', '  rankdir=LR;', '  node [shape=box, style=rounded, fontname="Helvetica"];',
      '  edge [fontname="Helvetica", fontsize=10];', `  labelloc=t; label=<${html(data.title)}>;`];
    for (const g of data.gates) {
      const value = valueShown(g) ? fmt(g.value) : '', grad = gradShown(g) ? fmt(g.grad) : '';
      if (isConst(g)) lines.push(`  n${g.id} [shape=plaintext, label=<${html(fmt(g.value))}>];`);
      else if (g.leaf) lines.push(`  n${g.id} [label=<<b>${html(label(g))}</b><br/>${vg(value, grad)}>];`);
      else lines.push(`  n${g.id} [label=<<b>${html(g.op)}</b> #${g.num}<br/><font point-size="9" color="gray35">${html(label(g))}</font><br/>${vg(value, grad)}>];`);
    }
    for (const g of data.gates)
      g.inputs.forEach((id, k) => {
        const x = byId.get(id);
        const pass = processed(g) && g.pass[k] !== null ? fmt(g.pass[k]) : '';
        lines.push(`  n${id} -> n${g.id} [label=<${vg(valueShown(x) ? fmt(x.value) : '', pass) || ' '}>];`);
      });
    lines.push('}', '');
    return lines.join('\n');
  }

  function download(name, type, text) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // ---- Start ---------------------------------------------------------------------------

  let lectures = [];

  function pickExample() {
    const l = lectures.find((x) => x.name === $('example').value);
    if (!l) return;
    $('expr').disabled = !l.src;
    $('expr').value = l.src || '';
    $('expr').placeholder = l.src ? '' : 'built gate by gate in C (see the title below)';
    $('values').disabled = !l.src;
    $('values').value = l.values || '';
    if (l.name === 'two-layer') $('lr').value = '0.3';
    run();
    if (!l.src) $('values').value = data.vars.map((v) => `${v.name}=${v.value}`).join(' ');
  }

  function wire() {
    $('input').addEventListener('submit', (e) => { e.preventDefault(); run(); });
    const custom = () => {
      if ($('example').value && !$('expr').disabled) $('example').value = '';
    };
    $('expr').addEventListener('input', custom);
    $('values').addEventListener('input', custom);
    $('example').addEventListener('change', () => {
      if (!$('example').value) {
        $('expr').disabled = $('values').disabled = false;
        $('expr').placeholder = '';
      }
      pickExample();
    });
    $('fwd').addEventListener('click', () => { forwardStep(); refresh(); });
    $('bwd').addEventListener('click', onBackward);
    $('all').addEventListener('click', showAll);
    $('reset').addEventListener('click', startOver);
    $('quizbox').addEventListener('submit', (e) => { e.preventDefault(); checkQuiz(); });
    $('quiz').addEventListener('change', () => {
      if (!$('quiz').checked) { quizGate = null; $('quizbox').hidden = true; refresh(); }
    });
    $('gd').addEventListener('submit', (e) => { e.preventDefault(); gdStep(); });
    $('export-svg').addEventListener('click', () => download('nabla-graph.svg', 'image/svg+xml', svgText()));
    $('export-dot').addEventListener('click', () => download('nabla-graph.dot', 'text/vnd.graphviz', dotText()));
  }

  // For the browser test and the curious: the state and the exports.
  window.nabla = { timing, svg: svgText, dot: dotText, get data() { return data; } };

  NablaModule().then((M) => {
    api = {
      eval: M.cwrap('nbw_eval', 'string', ['string', 'string']),
      lecture: M.cwrap('nbw_lecture', 'string', ['string']),
      lectures: M.cwrap('nbw_lectures', 'string', []),
      step: M.cwrap('nbw_step', 'string', ['number']),
    };
    timing.engineReadyMs = Math.round(performance.now());
    lectures = JSON.parse(api.lectures());
    for (const l of lectures) {
      const o = document.createElement('option');
      o.value = l.name;
      o.textContent = `${l.name}: ${l.title.length > 50 ? l.title.slice(0, 48) + '\u2026' : l.title}`;
      $('example').appendChild(o);
    }
    wire();
    run();
    document.body.dataset.ready = '1';
  }, (err) => {
    $('status').textContent = 'The engine did not load: ' + err;
  });
})();
