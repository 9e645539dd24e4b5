// The interop matrix, driven by the official TypeScript SDK client (@modelcontextprotocol/sdk
// 1.32.2, handshake era: it speaks up to 2025-11-25).
//
//   node ts_client.mjs PLAN.json RESULTS.json
//
// The same plan and checks as py_client.py (which documents them): one session per endpoint,
// one record per cell. The client declares sampling, elicitation and client-side tasks for
// both (an InMemoryTaskStore), so server-everything's async tools, which send their request
// as a task, can be answered: the answer is stored as the task's result for the server to poll.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '../js/package.json'));
const sdk = (path) => import(require.resolve(`@modelcontextprotocol/sdk/${path}`));
const { Client } = await sdk('client/index.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { InMemoryTaskStore } = await sdk('experimental/tasks/index.js');
const T = await sdk('types.js');

const CHECK_TIMEOUT_MS = 20_000;
const NOTICE_WAIT_MS = 3_000;
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

class Fail extends Error {}
const expect = (cond, message) => {
  if (!cond) throw new Fail(message);
};
const short = (value, limit = 240) => {
  const text = (typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)).replaceAll('\n', '\\n');
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const texts = (result) =>
  [
    ...(result.content ?? []).filter((b) => b.type === 'text').map((b) => b.text),
    ...(result.contents ?? []).filter((b) => typeof b.text === 'string').map((b) => b.text),
    ...(result.messages ?? []).filter((m) => m.content?.type === 'text').map((m) => m.content.text),
  ].join('\n');
async function waitFor(pred, ms = NOTICE_WAIT_MS) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (pred()) return true;
    await sleep(50);
  }
  return pred();
}
function withNonce(spec, nonce) {
  if (typeof spec === 'string') return spec.replaceAll('{nonce}', nonce);
  if (Array.isArray(spec)) return spec.map((v) => withNonce(v, nonce));
  if (spec && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, withNonce(v, nonce)]));
  return spec;
}

function answerFor(name, schema, answerName) {
  if (name === 'name') return answerName;
  if ('default' in schema) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  if (schema.format === 'email') return 'matrix@example.com';
  if (schema.format === 'uri') return 'https://example.com/matrix';
  if (schema.format === 'date') return '2024-01-01';
  if (schema.type === 'integer' || schema.type === 'number') return schema.minimum ?? 1;
  if (schema.type === 'boolean') return true;
  return answerName;
}

/** One session: the client, what reached its callbacks, and the row naming. */
async function connect(url, plan) {
  const s = { logs: [], notices: [], samplings: 0, elicitations: 0, tasks: 0 };
  const client = new Client(
    { name: 'belay-matrix-typescript', version: '0' },
    {
      capabilities: {
        sampling: {},
        elicitation: { form: {} },
        tasks: { requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
      },
      taskStore: new InMemoryTaskStore(),
    },
  );
  // A request sent as a task (params.task) is answered with the task; the answer becomes its
  // result, which the server fetches with tasks/result.
  const answering = (compute) => async (request, extra) => {
    if (!request.params.task) return compute(request);
    s.tasks += 1;
    const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl ?? 60_000 });
    setTimeout(async () => {
      await extra.taskStore.storeTaskResult(task.taskId, 'completed', await compute(request));
    }, 100);
    return { task };
  };
  client.setRequestHandler(
    T.CreateMessageRequestSchema,
    answering(() => {
      s.samplings += 1;
      return { role: 'assistant', content: { type: 'text', text: plan.marker }, model: 'belay-matrix-model', stopReason: 'endTurn' };
    }),
  );
  client.setRequestHandler(
    T.ElicitRequestSchema,
    answering((request) => {
      s.elicitations += 1;
      const properties = request.params.requestedSchema?.properties ?? {};
      const content = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, answerFor(k, v, plan.answer_name)]));
      return { action: 'accept', content };
    }),
  );
  client.setNotificationHandler(T.LoggingMessageNotificationSchema, (n) => {
    s.logs.push({ ...n.params, at: Date.now() });
  });
  for (const schema of [
    T.ResourceUpdatedNotificationSchema,
    T.ToolListChangedNotificationSchema,
    T.ResourceListChangedNotificationSchema,
    T.PromptListChangedNotificationSchema,
  ]) {
    client.setNotificationHandler(schema, (n) => {
      s.notices.push({ at: Date.now(), method: n.method, params: n.params ?? {} });
    });
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { client, s };
}

async function listAll(client, kind) {
  const [method, key] = {
    tools: ['listTools', 'tools'],
    resources: ['listResources', 'resources'],
    templates: ['listResourceTemplates', 'resourceTemplates'],
    prompts: ['listPrompts', 'prompts'],
  }[kind];
  const items = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client[method](cursor ? { cursor } : {});
    pages += 1;
    items.push(...page[key]);
    cursor = page.nextCursor;
  } while (cursor && pages < 200);
  return { items, pages };
}
const keyOf = (kind, item) => (kind === 'templates' ? item.uriTemplate : kind === 'resources' ? item.uri : item.name);

async function call(client, row, spec, options = {}) {
  const name = row.name(spec.tool);
  const result = await client.callTool({ name, arguments: spec.args ?? {} }, undefined, { timeout: CHECK_TIMEOUT_MS, ...options });
  expect(!result.isError, `${name} answered isError: ${short(texts(result))}`);
  return result;
}
async function requireTool(client, row, spec) {
  const { items } = await listAll(client, 'tools');
  const name = row.name(spec.tool);
  expect(items.some((t) => t.name === name), `${name} not listed (the upstream did not offer it)`);
}

const CHECKS = {
  async tools(client, s, row, spec) {
    const { items } = await listAll(client, 'tools');
    const name = row.name(spec.tool);
    expect(items.some((t) => t.name === name), `${name} not listed (${items.length} tools)`);
    const result = await call(client, row, spec);
    expect(texts(result).includes(spec.expect), `${name} answered ${short(texts(result))}`);
    return `${name} answered`;
  },
  async structured(client, s, row, spec) {
    const { items } = await listAll(client, 'tools');
    const tool = items.find((t) => t.name === row.name(spec.tool));
    expect(tool?.outputSchema, `${row.name(spec.tool)} has no outputSchema`);
    const result = await call(client, row, spec);
    const sc = result.structuredContent;
    expect(sc && typeof sc === 'object', `no structuredContent: ${short(result)}`);
    const missing = spec.keys.filter((k) => !(k in sc));
    expect(!missing.length, `structuredContent lacks ${missing}: ${short(sc)}`);
    return `structuredContent ${short(Object.keys(sc).sort(), 80)}`;
  },
  async images(client, s, row, spec) {
    const result = await call(client, row, spec);
    const image = result.content.find((b) => b.type === 'image');
    expect(image, `no image content: ${result.content.map((b) => b.type)}`);
    const data = Buffer.from(image.data, 'base64');
    expect(image.mimeType === 'image/png' && data.subarray(0, 8).equals(PNG_SIGNATURE), `not a PNG: ${image.mimeType}`);
    return `PNG of ${data.length} bytes`;
  },
  async resources(client, s, row, spec) {
    const { items } = await listAll(client, 'resources');
    const uris = new Set(items.map((r) => r.uri));
    const missing = spec.uris.filter((u) => !uris.has(u));
    expect(!missing.length, `not listed: ${missing}`);
    const result = await client.readResource({ uri: spec.read });
    if (spec.expect) expect(texts(result).includes(spec.expect), `read ${spec.read}: ${short(texts(result))}`);
    else expect(result.contents.length, `read ${spec.read}: no contents`);
    return `${spec.uris.length} listed, read ${spec.read}`;
  },
  async templates(client, s, row, spec) {
    const { items } = await listAll(client, 'templates');
    expect(items.some((t) => t.uriTemplate === spec.template), `${spec.template} not listed (${items.length} templates)`);
    const result = await client.readResource({ uri: spec.read });
    expect(texts(result).includes(spec.expect), `read ${spec.read}: ${short(texts(result))}`);
    return `read ${spec.read}`;
  },
  async pagination(client, s, row, spec) {
    const { items, pages } = await listAll(client, spec.list);
    const keys = items.map((i) => keyOf(spec.list, i));
    const want = spec.names.map((n) => (['tools', 'prompts'].includes(spec.list) ? row.name(n) : n));
    const missing = want.filter((n) => !keys.includes(n));
    const doubled = [...new Set(keys.filter((k, i) => keys.indexOf(k) !== i))];
    expect(pages > 1, `${spec.list}: one page of ${keys.length}`);
    expect(!missing.length && !doubled.length, `${spec.list} over ${pages} pages: missing ${missing}, twice ${doubled}`);
    return `${spec.list}: ${keys.length} over ${pages} pages`;
  },
  async prompts(client, s, row, spec) {
    const { items } = await listAll(client, 'prompts');
    const name = row.name(spec.prompt);
    const prompt = items.find((p) => p.name === name);
    expect(prompt, `${name} not listed`);
    const args = new Set((prompt.arguments ?? []).map((a) => a.name));
    expect(Object.keys(spec.args).every((a) => args.has(a)), `${name} arguments ${[...args]}`);
    const result = await client.getPrompt({ name, arguments: spec.args });
    expect(texts(result).includes(spec.expect), `${name}: ${short(texts(result))}`);
    return `${name} with ${Object.keys(spec.args).sort()}`;
  },
  async completions(client, s, row, spec) {
    const ref = spec.prompt ? { type: 'ref/prompt', name: row.name(spec.prompt) } : { type: 'ref/resource', uri: spec.template };
    const result = await client.complete({ ref, argument: { name: spec.argument, value: spec.value } });
    const values = result.completion.values;
    expect(values.includes(spec.expect), `completion of ${spec.argument}=${spec.value}: ${short(values)}`);
    return `${spec.argument}=${JSON.stringify(spec.value)} -> ${short(values.slice(0, 4))}`;
  },
  async logging(client, s, row, spec) {
    await client.setLoggingLevel(spec.level);
    const before = s.logs.length;
    for (const step of spec.calls) await call(client, row, step);
    try {
      if (spec.later) {
        // A message the server sends on its own, outside any call (the gateway must still
        // relay it): only what arrives a second after the call counts.
        const since = Date.now() + 1000;
        await waitFor(() => s.logs.slice(before).some((m) => m.at >= since), spec.later * 1000);
        const late = s.logs.slice(before).filter((m) => m.at >= since);
        expect(late.length, `no log message within ${spec.later}s of switching logging on (one every 5 s)`);
        return `${late.length} message(s) sent outside a call arrived`;
      }
    } finally {
      for (const step of spec.finally ?? []) await call(client, row, step);
    }
    await waitFor(() => s.logs.length > before, 2_000);
    const got = s.logs.slice(before);
    expect(got.length, `no log message (level ${spec.level})`);
    if (spec.absent) {
      const low = got.filter((m) => m.level === spec.absent);
      expect(!low.length, `${low.length} ${spec.absent} messages after asking for ${spec.level}`);
    }
    if (spec.expect) expect(got.some((m) => String(m.data).includes(spec.expect)), `logs: ${short(got.map((m) => m.data))}`);
    return `${got.length} messages at ${[...new Set(got.map((m) => m.level))].sort()}`;
  },
  async progress(client, s, row, spec) {
    const seen = [];
    await call(client, row, spec, { onprogress: (p) => seen.push(p.progress) });
    expect(seen.length >= spec.min, `${seen.length} progress notifications, want ${spec.min}`);
    expect(seen.every((v, i) => i === 0 || v >= seen[i - 1]), `progress not increasing: ${seen}`);
    return `${seen.length} notifications [${seen}]`;
  },
  async cancellation(client, s, row, spec) {
    const counter = async () => (spec.counter ? Number(texts(await call(client, row, { tool: spec.counter })).trim()) : null);
    const before = await counter();
    const abort = new AbortController();
    let started;
    const progressed = new Promise((resolve) => (started = resolve));
    const pending = call(client, row, spec, { signal: abort.signal, onprogress: () => started() }).then(
      (r) => `finished: ${short(texts(r))}`,
      (e) => (abort.signal.aborted ? null : `failed: ${e}`),
    );
    await Promise.race([progressed, sleep(10_000)]);
    const t0 = Date.now();
    abort.abort('the matrix cancels');
    const outcome = await pending;
    expect(outcome === null, `the call was not cancelled: ${outcome}`);
    await call(client, row, spec.after);
    if (before === null) return `cancelled in ${((Date.now() - t0) / 1000).toFixed(2)}s; session usable`;
    let after = before;
    const deadline = Date.now() + NOTICE_WAIT_MS;
    while (after <= before && Date.now() < deadline) {
      await sleep(200);
      after = await counter();
    }
    expect(after > before, `the server saw no cancellation (count stays ${before})`);
    return `the server saw it (count ${before} -> ${after})`;
  },
  async subscriptions(client, s, row, spec) {
    const mark = Date.now();
    await client.subscribeResource({ uri: spec.uri });
    try {
      for (const step of spec.trigger) await call(client, row, step);
      const ok = await waitFor(() =>
        s.notices.some((n) => n.at >= mark && n.method === 'notifications/resources/updated' && n.params.uri === spec.uri),
      );
      expect(ok, `no notifications/resources/updated for ${spec.uri}; saw ${s.notices.filter((n) => n.at >= mark).map((n) => n.method)}`);
    } finally {
      await client.unsubscribeResource({ uri: spec.uri });
    }
    return `update for ${spec.uri} (resources/subscribe)`;
  },
  async 'list-changed'(client, s, row, spec) {
    const method = { tools: 'notifications/tools/list_changed', resources: 'notifications/resources/list_changed' }[spec.list];
    const mark = Date.now();
    const result = await call(client, row, spec.trigger);
    const got = await waitFor(() => s.notices.some((n) => n.at >= mark && n.method === method));
    expect(got, `no ${method}; saw ${[...new Set(s.notices.filter((n) => n.at >= mark).map((n) => n.method))]}`);
    const fresh = spec.new ?? texts(result).trim();
    const name = spec.list === 'tools' ? row.name(fresh) : fresh;
    const { items } = await listAll(client, spec.list);
    expect(items.some((i) => keyOf(spec.list, i) === name), `${name} not in the new ${spec.list} list`);
    return `${spec.list} changed; ${name} listed`;
  },
  async sampling(client, s, row, spec) {
    await requireTool(client, row, spec);
    const before = s.samplings;
    const result = await call(client, row, spec);
    expect(s.samplings > before, 'the sampling callback was not called');
    expect(texts(result).includes(client.plan.marker), `the sampled text is not in the result: ${short(texts(result))}`);
    return 'sampled text in the result';
  },
  async elicitation(client, s, row, spec) {
    await requireTool(client, row, spec);
    const before = s.elicitations;
    const result = await call(client, row, spec);
    expect(s.elicitations > before, 'the elicitation callback was not called');
    expect(texts(result).includes(client.plan.answer_name), `the answer is not in the result: ${short(texts(result))}`);
    return 'the answer is in the result';
  },
};
// The async forms: the answer must cross as a task that the server polls to its end
// (server-everything also takes a plain answer, which it marks [SYNC]).
for (const kind of ['sampling', 'elicitation']) {
  const counter = `${kind}s`;
  CHECKS[`${kind}-async`] = async (client, s, row, spec) => {
    await requireTool(client, row, spec);
    const [answered, tasks] = [s[counter], s.tasks];
    const text = texts(await call(client, row, spec));
    expect(s[counter] > answered, `the ${kind} callback was not called`);
    expect(s.tasks > tasks, 'the request did not arrive as a task');
    expect(text.includes('[COMPLETED]'), `the server did not get the task's result: ${short(text)}`);
    const answer = kind === 'sampling' ? client.plan.marker : client.plan.answer_name;
    expect(text.includes(answer), `the answer is not in the result: ${short(text)}`);
    return 'answered as a task, polled to its end';
  };
}

function describe(e) {
  if (e?.name === 'AbortError' || /timed out|timeout/i.test(String(e?.message))) return `no answer within ${CHECK_TIMEOUT_MS / 1000}s`;
  return short(`${e?.constructor?.name ?? 'Error'}: ${e?.message ?? e}`, 400);
}

async function runEndpoint(url, rows, plan, out) {
  const record = (row, feature, status, detail) => out.push({ row: row.row, route: row.route, feature, status, detail });
  let session;
  try {
    session = await connect(url, plan);
  } catch (e) {
    for (const row of rows)
      for (const feature of plan.features) {
        const spec = row.checks[feature];
        if (typeof spec === 'string') record(row, feature, 'N/A', spec);
        else record(row, feature, 'FAIL', `session: ${describe(e)}`);
      }
    return;
  }
  const { client, s } = session;
  client.plan = plan;
  console.log(`  [ts] ${url}: protocol ${client.transport?.protocolVersion ?? '(handshake)'}`);
  for (const row of rows) {
    for (const feature of plan.features) {
      let spec = row.checks[feature];
      if (typeof spec !== 'string') spec = spec.na_route?.[row.route] ?? spec;
      if (typeof spec === 'string') {
        record(row, feature, 'N/A', spec);
        continue;
      }
      try {
        let timer;
        const limit = new Promise((_, reject) => (timer = setTimeout(() => reject(new Fail(`no answer within ${CHECK_TIMEOUT_MS / 1000}s`)), CHECK_TIMEOUT_MS)));
        const detail = await Promise.race([CHECKS[feature](client, s, row, withNonce(spec, randomBytes(4).toString('hex'))), limit]);
        clearTimeout(timer);
        record(row, feature, 'PASS', detail);
      } catch (e) {
        record(row, feature, 'FAIL', describe(e));
      }
    }
  }
  await client.close().catch(() => {});
}

const [planPath, outPath] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planPath, 'utf8'));
const endpoints = new Map();
for (const r of plan.rows) {
  for (const [route, url] of Object.entries(r.urls)) {
    const row = { row: r.row, route, checks: r.checks, name: (n) => (route === 'mcp' ? r.prefix + n : n) };
    endpoints.set(url, [...(endpoints.get(url) ?? []), row]);
  }
}
const out = [];
for (const [url, rows] of endpoints) await runEndpoint(url, rows, plan, out);
writeFileSync(outPath, JSON.stringify(out, null, 1));
process.exit(0);
