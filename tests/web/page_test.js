// page_test.js - the browser page (web/) in headless Chromium, driven over
// the DevTools protocol on a pipe (--remote-debugging-pipe), so the test
// needs node and chromium and no npm package.  It types, clicks and reads
// what the page shows, as a student would.
//
// usage: node page_test.js PAGE_DIR CHROMIUM [SCREENSHOT_DIR]
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [pageDir, chromium, shotDir] = process.argv.slice(2);
if (!pageDir || !chromium) {
  console.error('usage: node page_test.js PAGE_DIR CHROMIUM [SCREENSHOT_DIR]');
  process.exit(2);
}
const pageUrl = 'file://' + path.resolve(pageDir, 'index.html');

let passed = 0, failed = 0;
function check(what, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || detail === undefined ? '' : ': ' + detail}`);
}
const near = (got, want, tol = 1e-6) => Math.abs(Number(got) - want) <= tol * Math.max(1, Math.abs(want));

// ---- The DevTools protocol on fds 3 (to Chromium) and 4 (from it) ----------

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'nabla-web-'));
const args = ['--headless', '--remote-debugging-pipe', '--disable-gpu', '--no-first-run',
  '--no-default-browser-check', '--disable-extensions', '--mute-audio',
  `--user-data-dir=${profile}`, 'about:blank'];
// as Playwright does by default: the sandbox needs root's consent or user
// namespaces, which containers often lack, and the page is our own
args.unshift('--no-sandbox');
const browser = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
browser.stderr.on('data', (d) => { stderr += d; });
const toBrowser = browser.stdio[3], fromBrowser = browser.stdio[4];

let nextId = 1, pending = new Map(), session = null, exceptions = [], requests = [], inbox = '';
fromBrowser.on('data', (chunk) => {
  inbox += chunk;
  let end;
  while ((end = inbox.indexOf('\0')) >= 0) {
    const msg = JSON.parse(inbox.slice(0, end));
    inbox = inbox.slice(end + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject, method } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
      else resolve(msg.result);
    } else if (msg.method === 'Network.requestWillBeSent') {
      requests.push(msg.params.request.url);
    } else if (msg.method === 'Runtime.exceptionThrown') {
      exceptions.push(msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text);
    }
  }
});

function send(method, params = {}, sessionId = session) {
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  toBrowser.write(JSON.stringify(msg) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}

async function evaluate(expression) {
  const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
  return r.result.value;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(expression, what, ms = 10000) {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(20))
    if (await evaluate(expression)) return;
  throw new Error(`timed out waiting for ${what}`);
}

// A real click: the mouse pressed and released over the element's centre.
async function click(selector) {
  const box = await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
    e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2, disabled: !!e.disabled }; })()`);
  if (box.disabled) throw new Error(`${selector} is disabled`);
  for (const type of ['mousePressed', 'mouseReleased'])
    await send('Input.dispatchMouseEvent', { type, x: box.x, y: box.y, button: 'left', clickCount: 1 });
}

// Replace a field's text by typing, as the keyboard would.
async function type(selector, text) {
  await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
    e.focus(); e.select(); })()`);
  await send('Input.insertText', { text });
}

async function press(key) {
  const code = { Enter: 13 }[key];
  await send('Input.dispatchKeyEvent', { type: 'keyDown', key, code: key, windowsVirtualKeyCode: code, text: '\r' });
  await send('Input.dispatchKeyEvent', { type: 'keyUp', key, code: key, windowsVirtualKeyCode: code });
}

async function screenshot(name) {
  if (!shotDir) return;
  const { data } = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
  fs.mkdirSync(shotDir, { recursive: true });
  fs.writeFileSync(path.join(shotDir, name), Buffer.from(data, 'base64'));
  console.log(`     screenshot ${path.join(shotDir, name)}`);
}

// What the graph shows: per gate its title line, value and gradient text.
const gates = () => evaluate(`[...document.querySelectorAll('#graph g.gate')].map((g) => ({
  title: g.querySelector('.op') ? g.querySelector('.op').textContent : '',
  value: g.querySelector('.value').textContent,
  grad: g.querySelector('.grad') ? g.querySelector('.grad').textContent : '' }))`);
const gate = async (title) => (await gates()).find((g) => g.title.startsWith(title));
// The gradient table: variable -> [value, backprop, numerical, difference]
const table = () => evaluate(`Object.fromEntries([...document.querySelectorAll('#grads tbody tr')]
  .map((tr) => [tr.dataset.name, [...tr.cells].slice(1).map((c) => c.textContent)]))`);
const text = (selector) => evaluate(`document.querySelector(${JSON.stringify(selector)}).textContent`);

// ---- The student's session ------------------------------------------------

async function addMul() {
  await type('#expr', '(x+y)*z');
  await type('#values', 'x=-2 y=5 z=-4');
  await click('#run');
  let g = await gates();
  check('(x+y)*z: five gates drawn (x, y, +, z, *)', g.length === 5, JSON.stringify(g));
  check('before stepping, only the variables show values',
    (await gate('+')).value === '' && (await gate('x')).value === '-2');
  await click('#fwd');
  check('forward step 1: x + y = 3', (await gate('+')).value === '3');
  check('forward step 1: the product is not computed yet', (await gate('\u00d7')).value === '');
  await click('#fwd');
  check('forward step 2: (x + y) z = -12', (await gate('\u00d7')).value === '-12');
  check('forward done: the backward button is enabled',
    !(await evaluate(`document.getElementById('bwd').disabled`)));
  await click('#bwd');
  check('backward step 1: z gets q = 3', (await gate('z')).grad === '3');
  check('backward step 1: x has no gradient yet', (await gate('x')).grad === '');
  const log = await text('#log li.current');
  check('backward step 1 explains upstream x local = passed',
    log.includes('upstream 1 \u00d7 local -4 = -4') && log.includes('upstream 1 \u00d7 local 3 = 3'), log);
  await click('#bwd');
  check('backward step 2: x gets -4', (await gate('x')).grad === '-4');
  check('backward step 2: y gets -4', (await gate('y')).grad === '-4');
  check('backward step 2: the + gate got -4', (await gate('+')).grad === '-4');
  const t = await table();
  check('table: backprop dx, dy, dz = -4, -4, 3',
    t.x[1] === '-4' && t.y[1] === '-4' && t.z[1] === '3', JSON.stringify(t));
  check('table: numerical gradients agree', near(t.x[2], -4) && near(t.y[2], -4) && near(t.z[2], 3),
    JSON.stringify(t));
  check('table: difference below 1e-6', Number(t.x[3]) < 1e-6 && Number(t.z[3]) < 1e-6, JSON.stringify(t));
  check('phase says done', (await text('#phase')).startsWith('done'));
  await screenshot('add-mul.png');
}

async function quiz() {
  await click('#reset');
  await click('#fwd');
  await click('#fwd');
  await click('#quiz');
  await click('#bwd');
  check('quiz: the question names the product gate',
    (await text('#quiz-question')).includes('receives the upstream gradient 1'));
  check('quiz: the answer is not shown before it is given', (await gate('z')).grad === '');
  const n = await evaluate(`document.querySelectorAll('#quiz-fields input').length`);
  check('quiz: one field per input', n === 2, n);
  await type('#quiz-fields label:nth-child(1) input', '-4');
  await type('#quiz-fields label:nth-child(2) input', '3');
  await press('Enter');
  const v = await text('#quiz-verdict');
  check('quiz: -4 and 3 are right', v.startsWith('Right'), v);
  check('quiz: then the step is revealed', (await gate('z')).grad === '3');
  await click('#bwd');
  await type('#quiz-fields label:nth-child(1) input', '4');
  await type('#quiz-fields label:nth-child(2) input', '-4');
  await click('#quiz-check');
  const w = await text('#quiz-verdict');
  check('quiz: 4 for x is wrong, and the page says what it is', w.startsWith('Not quite') && w.includes('it is -4'), w);
  await click('#quiz');
}

async function lecture() {
  await evaluate(`(() => { const s = document.getElementById('example'); s.value = 'neuron';
    s.dispatchEvent(new Event('change')); })()`);
  check('lecture neuron: the expression is filled in',
    (await evaluate(`document.getElementById('expr').value`)) === '1/(1+exp(-(w0*x0+w1*x1+w2)))');
  const ops = (await gates()).filter((g) => g.title.includes('#')).map((g) => g.title.split(' ')[0]);
  check('lecture neuron: the slide\'s gates *, *, +, +, -x, exp, +, 1/x',
    JSON.stringify(ops) === JSON.stringify(['\u00d7', '\u00d7', '+', '+', '\u2212x', 'exp', '+', '1/x']),
    JSON.stringify(ops));
  for (let i = 0; i < 8; i++) await click('#fwd');
  check('lecture neuron: f = 0.731059', (await gate('1/x')).value === '0.731059');
  for (let i = 0; i < 4; i++) await click('#bwd');
  await click('#quiz');
  await click('#bwd');
  await type('#quiz-fields label:nth-child(1) input', '0.1966');
  await screenshot('neuron-quiz.png');
  await type('#quiz-fields label:nth-child(2) input', '0.1966');
  await press('Enter');
  const v = await text('#quiz-verdict');
  check('lecture neuron: the quiz takes 0.1966 for 0.196612', v.startsWith('Right'), v);
  check('lecture neuron: halfway back, dw2 is known and dw0 is not',
    (await gate('w2')).grad === '0.196612' && (await gate('w0')).grad === '');
  await click('#quiz');
  for (let i = 0; i < 3; i++) await click('#bwd');
  const t = await table();
  check('lecture neuron: dw0 = -0.196612, dx0 = 0.393224, dw2 = 0.196612',
    t.w0[1] === '-0.196612' && t.x0[1] === '0.393224' && t.w2[1] === '0.196612', JSON.stringify(t));
  await screenshot('neuron.png');

  await evaluate(`(() => { const s = document.getElementById('example'); s.value = 'two-layer';
    s.dispatchEvent(new Event('change')); })()`);
  await click('#all');
  check('lecture two-layer: a10 = 0.54', (await gate('sigmoid')).value.startsWith('0.54'),
    JSON.stringify(await gate('sigmoid')));
  const log = await evaluate(`[...document.querySelectorAll('#log li')].map((li) => li.textContent).join('\\n')`);
  check('lecture two-layer: fan-out shown (a hidden unit read twice adds)', /copy adds: #\d+ sigmoid is read 2 times/.test(log));
  const before = await table();
  check('lecture two-layer: dE/dw1_10 = 0.049', near(before.w1_10[1], 0.0490, 0.01), before.w1_10);
  await type('#lr', '0.3');
  await click('#gd-step');
  const verdict = await text('#gd-verdict');
  check('two-layer: one step at rate 0.3 makes E go down', verdict.includes('went down'), verdict);
  const after = await table();
  check('two-layer: w1_10 after the step = 0.3853', near(after.w1_10[0], 0.3853, 1e-3), after.w1_10);
  await screenshot('two-layer.png');
}

async function errors() {
  await evaluate(`(() => { const s = document.getElementById('example'); s.value = '';
    s.dispatchEvent(new Event('change')); })()`);
  await type('#expr', '(x+y)*');
  await click('#run');
  const shown = await evaluate(`!document.getElementById('error').hidden`);
  const msg = await text('#error-text');
  const lines = msg.split('\n');
  check('error: shown for (x+y)*', shown, msg);
  check('error: names column 7', lines[2] && lines[2].startsWith('column 7:'), msg);
  check('error: the caret sits under column 7', lines[1] === ' '.repeat('expression: '.length + 6) + '^', JSON.stringify(lines));
  await type('#expr', 'x*y');
  await type('#values', 'x=1');
  await click('#run');
  const m2 = await text('#error-text');
  check('error: a missing value is named', m2.includes('no value for y'), m2);
  await type('#values', 'x=1 y=2');
  await click('#run');
  check('error: gone once the input is right', await evaluate(`document.getElementById('error').hidden`));
  for (const [expr, values] of [['x', 'x=3'], ['2*3', ''], ['x*(2*3)', 'x=1']]) {
    await type('#expr', expr);
    await type('#values', values);
    await click('#run');
    if (!(await evaluate(`document.getElementById('all').disabled`))) await click('#all');
    const g = await gates();
    check(`odd graph ${expr}: drawn, no error`, g.length > 0 && await evaluate(`document.getElementById('error').hidden`), JSON.stringify(g));
    if (expr === 'x') check('a lone variable has gradient 1', (await table()).x[1] === '1', JSON.stringify(await table()));
    if (expr === 'x*(2*3)') check('x*(2*3): dx = 6', (await table()).x[1] === '6', JSON.stringify(await table()));
  }
}

async function exports() {
  const dot = await evaluate('window.nabla.dot()');
  check('export: DOT is a digraph with an edge', dot.startsWith('digraph nabla {') && / -> /.test(dot), dot.slice(0, 80));
  // Graphviz, where installed, must read it
  const { spawnSync } = require('child_process');
  const r = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  if (!r.error) check('export: Graphviz reads the DOT', r.status === 0 && r.stdout.includes('<svg'), r.stderr);
  const svg = await evaluate('window.nabla.svg()');
  check('export: SVG is a standalone document', svg.startsWith('<?xml') && svg.includes('xmlns="http://www.w3.org/2000/svg"'));
}

async function main() {
  const timer = setTimeout(() => { console.error('page_test: timed out'); browser.kill(); process.exit(1); }, 100000);
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' }, null);
  ({ sessionId: session } = await send('Target.attachToTarget', { targetId, flatten: true }, null));
  await send('Runtime.enable');
  await send('Page.enable');
  await send('Network.enable');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1000, deviceScaleFactor: 1, mobile: false });
  const t0 = Date.now();
  await send('Page.navigate', { url: pageUrl });
  await waitFor(`document.body && document.body.dataset.ready === '1'`, 'the engine to load');
  const timing = await evaluate('window.nabla.timing');
  console.log(`     engine ready ${timing.engineReadyMs} ms, first graph ${timing.firstGraphMs} ms after navigation started (${Date.now() - t0} ms here)`);
  check('first graph drawn', timing.firstGraphMs > 0 && (await gates()).length > 0);
  await addMul();
  await quiz();
  await lecture();
  await errors();
  await exports();
  check('no uncaught exceptions in the page', exceptions.length === 0, exceptions.join('; '));
  const away = requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:'));
  check('nothing fetched but the page\'s own files', away.length === 0 && requests.length > 0, away.join(' '));
  clearTimeout(timer);
}

main().catch((e) => {
  failed++;
  console.log('FAIL ' + e.message);
}).finally(async () => {
  try { await Promise.race([send('Browser.close', {}, null), sleep(2000)]); } catch (e) { /* closing anyway */ }
  // the profile goes once Chromium has stopped writing it
  const exited = browser.exitCode !== null ? Promise.resolve() : new Promise((r) => browser.once('exit', r));
  browser.kill();
  await Promise.race([exited, sleep(5000)]);
  try { fs.rmSync(profile, { recursive: true, force: true, maxRetries: 5 }); } catch (e) { /* left in tmp */ }
  console.log(`${passed} passed, ${failed} failed`);
  if (failed && stderr) console.log('chromium said:\n' + stderr.slice(-2000));
  process.exit(failed ? 1 : 0);
});
