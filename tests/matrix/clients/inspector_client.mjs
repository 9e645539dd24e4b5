// The interop matrix, driven by the MCP Inspector's CLI (@modelcontextprotocol/inspector 2.12.0,
// pinned in tests/interop/js): one `--cli --method ...` run per request, as a person or a
// script uses it, against `/mcp` and `/servers/NAME/mcp`.
//
//   node inspector_client.mjs PLAN.json RESULTS.json
//
// Its one-shot methods are tools/list, tools/call, resources/list, resources/read,
// resources/templates/list, prompts/list, prompts/get and logging/setLevel, each in a session
// of its own that ends with the answer: so it can check tools (structured content, images),
// resources, templates, pagination (its lists follow nextCursor to the end), prompts and
// setLevel, and nothing that needs a session to stay open (a notification, a request from
// the server, a cancellation) or a method it does not have (completion/complete). Those
// cells are N/A with that reason. Runs go two at a time; lists at /mcp are shared by its rows.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const INSPECTOR = join(HERE, '../../interop/js/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');
const TIMEOUT_MS = 30_000;
const PARALLEL = 2;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const NOT_ONE_SHOT = {
  completions: 'the Inspector CLI has no completion/complete method',
  logging:
    'the Inspector CLI only sends logging/setLevel, in a session that ends with the answer: no log message can reach it (checked: setLevel is accepted)',
  progress: 'the Inspector CLI one-shot call shows no progress notifications',
  cancellation: 'the Inspector CLI cannot cancel a call',
  subscriptions: 'the Inspector CLI has no resources/subscribe method',
  'list-changed': 'the Inspector CLI session ends with its answer: no notification can reach it',
  sampling: 'the Inspector CLI does not answer sampling requests in --cli mode',
  elicitation: 'the Inspector CLI does not answer elicitation requests in --cli mode',
  'sampling-async': 'the Inspector CLI does not answer sampling requests in --cli mode',
  'elicitation-async': 'the Inspector CLI does not answer elicitation requests in --cli mode',
};

class Fail extends Error {}
const expect = (cond, message) => {
  if (!cond) throw new Fail(message);
};
const short = (value, limit = 240) => {
  const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)).replaceAll('\n', '\\n');
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
};
const texts = (result) =>
  [
    ...(result.content ?? []).filter((b) => b.type === 'text').map((b) => b.text),
    ...(result.contents ?? []).filter((b) => typeof b.text === 'string').map((b) => b.text),
    ...(result.messages ?? []).filter((m) => m.content?.type === 'text').map((m) => m.content.text),
  ].join('\n');

/** One Inspector run: its JSON result, or a Fail with what it printed. */
function inspector(url, method, ...args) {
  return new Promise((resolve, reject) => {
    const home = mkdtempSync(join(tmpdir(), 'belay-matrix-inspector-'));
    const argv = [INSPECTOR, '--cli', '--format', 'json', '-q', '--transport', 'http', '--server-url', url, '--method', method, ...args];
    // NODE_COMPILE_CACHE: each run starts a fresh Node on the same large bundle.
    const env = { ...process.env, HOME: home, NODE_COMPILE_CACHE: join(tmpdir(), 'belay-matrix-inspector-cache') };
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      if (code !== 0) return reject(new Fail(`${method} exit ${code}: ${short(stderr || stdout)}`));
      try {
        const parsed = JSON.parse(stdout);
        resolve(parsed.result ?? parsed);
      } catch {
        reject(new Fail(`${method}: not JSON: ${short(stdout)}`));
      }
    });
  });
}
function withNonce(spec, nonce) {
  if (typeof spec === 'string') return spec.replaceAll('{nonce}', nonce);
  if (Array.isArray(spec)) return spec.map((v) => withNonce(v, nonce));
  if (spec && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, withNonce(v, nonce)]));
  return spec;
}
const toolArgs = (spec) => ['--tool-args-json', JSON.stringify(spec.args ?? {})];

// Lists are fetched once per endpoint (the rows of /mcp share them).
const lists = new Map();
function list(url, method) {
  const key = `${url} ${method}`;
  if (!lists.has(key)) lists.set(key, inspector(url, method));
  return lists.get(key);
}
async function call(url, row, spec) {
  const name = row.name(spec.tool);
  const result = await inspector(url, 'tools/call', '--tool-name', name, ...toolArgs(spec));
  expect(!result.isError, `${name} answered isError: ${short(texts(result))}`);
  return result;
}

const CHECKS = {
  async tools(url, row, spec) {
    const { tools } = await list(url, 'tools/list');
    const name = row.name(spec.tool);
    expect(tools.some((t) => t.name === name), `${name} not listed (${tools.length} tools)`);
    const result = await call(url, row, spec);
    expect(texts(result).includes(spec.expect), `${name} answered ${short(texts(result))}`);
    return `${name} answered`;
  },
  async structured(url, row, spec) {
    const { tools } = await list(url, 'tools/list');
    const tool = tools.find((t) => t.name === row.name(spec.tool));
    expect(tool?.outputSchema, `${row.name(spec.tool)} has no outputSchema`);
    const sc = (await call(url, row, spec)).structuredContent;
    expect(sc && typeof sc === 'object', 'no structuredContent');
    const missing = spec.keys.filter((k) => !(k in sc));
    expect(!missing.length, `structuredContent lacks ${missing}: ${short(sc)}`);
    return `structuredContent ${short(Object.keys(sc).sort(), 80)}`;
  },
  async images(url, row, spec) {
    const result = await call(url, row, spec);
    const image = (result.content ?? []).find((b) => b.type === 'image');
    expect(image, `no image content: ${(result.content ?? []).map((b) => b.type)}`);
    const data = Buffer.from(image.data, 'base64');
    expect(image.mimeType === 'image/png' && data.subarray(0, 8).equals(PNG_SIGNATURE), `not a PNG: ${image.mimeType}`);
    return `PNG of ${data.length} bytes`;
  },
  async resources(url, row, spec) {
    const { resources } = await list(url, 'resources/list');
    const uris = new Set(resources.map((r) => r.uri));
    const missing = spec.uris.filter((u) => !uris.has(u));
    expect(!missing.length, `not listed: ${missing}`);
    const result = await inspector(url, 'resources/read', '--uri', spec.read);
    if (spec.expect) expect(texts(result).includes(spec.expect), `read ${spec.read}: ${short(texts(result))}`);
    else expect(result.contents?.length, `read ${spec.read}: no contents`);
    return `${spec.uris.length} listed, read ${spec.read}`;
  },
  async templates(url, row, spec) {
    const { resourceTemplates } = await list(url, 'resources/templates/list');
    expect(resourceTemplates.some((t) => t.uriTemplate === spec.template), `${spec.template} not listed`);
    const result = await inspector(url, 'resources/read', '--uri', spec.read);
    expect(texts(result).includes(spec.expect), `read ${spec.read}: ${short(texts(result))}`);
    return `read ${spec.read}`;
  },
  async pagination(url, row, spec) {
    const method = { tools: 'tools/list', resources: 'resources/list', templates: 'resources/templates/list' }[spec.list];
    const result = await list(url, method);
    const items = result[{ tools: 'tools', resources: 'resources', templates: 'resourceTemplates' }[spec.list]];
    const keys = items.map((i) => (spec.list === 'resources' ? i.uri : spec.list === 'templates' ? i.uriTemplate : i.name));
    const want = spec.names.map((n) => (spec.list === 'tools' ? row.name(n) : n));
    const missing = want.filter((n) => !keys.includes(n));
    const doubled = [...new Set(keys.filter((k, i) => keys.indexOf(k) !== i))];
    // The CLI gathers every page itself; the gateway's page size makes this list several pages.
    expect(keys.length > spec.pageSize, `${spec.list}: ${keys.length} items, not more than one page`);
    expect(!missing.length && !doubled.length, `${spec.list}: missing ${missing}, twice ${doubled}`);
    return `${spec.list}: ${keys.length} (several pages, gathered by the CLI)`;
  },
  async prompts(url, row, spec) {
    const name = row.name(spec.prompt);
    const pairs = Object.entries(spec.args).map(([k, v]) => `${k}=${v}`);
    const result = await inspector(url, 'prompts/get', '--prompt-name', name, '--prompt-args', ...pairs);
    expect(texts(result).includes(spec.expect), `${name}: ${short(texts(result))}`);
    return `${name} with ${Object.keys(spec.args).sort()}`;
  },
  async logging(url, row, spec) {
    await inspector(url, 'logging/setLevel', '--log-level', spec.level);
    throw new NotApplicable(NOT_ONE_SHOT.logging);
  },
};
class NotApplicable extends Error {}

async function cell(url, row, feature, plan) {
  let spec = row.checks[feature];
  if (typeof spec !== 'string') spec = spec.na_route?.[row.route] ?? spec;
  if (typeof spec === 'string') return ['N/A', spec];
  if (!CHECKS[feature]) return ['N/A', NOT_ONE_SHOT[feature]];
  try {
    const nonce = randomBytes(4).toString('hex');
    return ['PASS', await CHECKS[feature](url, row, { ...withNonce(spec, nonce), pageSize: plan.page_size })];
  } catch (e) {
    if (e instanceof NotApplicable) return ['N/A', e.message];
    return ['FAIL', short(e.message ?? String(e), 400)];
  }
}

const [planPath, outPath] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planPath, 'utf8'));
const jobs = [];
for (const r of plan.rows) {
  for (const [route, url] of Object.entries(r.urls)) {
    const row = { row: r.row, route, checks: r.checks, name: (n) => (route === 'mcp' ? r.prefix + n : n) };
    for (const feature of plan.features) jobs.push({ url, row, feature });
  }
}
const out = [];
let next = 0;
async function worker() {
  while (next < jobs.length) {
    const { url, row, feature } = jobs[next++];
    const [status, detail] = await cell(url, row, feature, plan);
    out.push({ row: row.row, route: row.route, feature, status, detail });
  }
}
await Promise.all(Array.from({ length: PARALLEL }, worker));
writeFileSync(outPath, JSON.stringify(out, null, 1));
