#!/usr/bin/env node
// Scripted interop session against `belay serve stock` over Streamable HTTP, using the
// official TypeScript SDK (@modelcontextprotocol/sdk, pinned in package.json here).
//
//   .tools/bin/node tests/interop/js/stock_session.mjs http://127.0.0.1:PORT/mcp
//
// tests/interop/run starts the server and passes its URL. The session mirrors
// tests/interop/python/stock_session.py: every check prints one line, checks marked WARN cover
// behaviour the spec does not pin down, and the exit code is 1 if any check failed.
// The client declares the elicitation and sampling capabilities and answers those requests
// with fixed values that the checks then look for in the tool results.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const TICKERS = ['AAPL', 'MSFT', 'GOOGL', 'AMZN', 'TSLA', 'META', 'NVDA'];
const TOOLS = [
  'get_stock_price',
  'get_stock_history',
  'compare_stock_prices',
  'get_ticker_info',
  'stock_headline_sampling',
  'calculate_portfolio_value',
  'get_investment_advice',
];
const PERIODS = ['1d', '5d', '1mo', '3mo', '6mo', '1y'];
const CSV_HEADER = 'Date,Open,High,Low,Close,Volume';
const UNKNOWN = 'ZZZZ';
const HEADLINE = 'INTEROP-js-41c2: Belay stock server headline round-trips through sampling';
const TIMEOUT_MS = 30_000;
const LABEL = '[js/http]';
// "52-week range", "52 week", "52W": not a bare "52", which a number like "52.3M" contains.
const WEEK_RANGE = /\b52(?:[\s-]*weeks?\b|W\b)/i;

const url = process.argv[2] ?? process.env.BELAY_MCP_URL;
if (!url) {
  console.error('usage: stock_session.mjs URL (or set BELAY_MCP_URL)');
  process.exit(2);
}

// ---- reporting --------------------------------------------------------------------------
let passed = 0;
let warned = 0;
const failures = [];

class CheckFailed extends Error {}
const expect = (cond, message) => {
  if (!cond) throw new CheckFailed(message);
};
const short = (text, limit = 160) => {
  const s = String(text).replaceAll('\n', '\\n');
  return s.length <= limit ? s : `${s.slice(0, limit - 3)}...`;
};
const warnUnless = (cond, name, detail) => {
  if (!cond) {
    warned += 1;
    console.log(`  WARN  ${LABEL} ${name}: ${detail}`);
  }
};

async function check(name, body) {
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`no answer within ${TIMEOUT_MS / 1000}s`)), TIMEOUT_MS);
    });
    const detail = await Promise.race([body(), timeout]);
    passed += 1;
    console.log(`  PASS  ${LABEL} ${name}${detail ? `: ${detail}` : ''}`);
  } catch (err) {
    const detail = err instanceof CheckFailed ? err.message : `${err?.name ?? 'Error'}: ${short(err?.message ?? err, 400)}`;
    failures.push(`${name}: ${detail}`);
    console.log(`  FAIL  ${LABEL} ${name}: ${detail}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---- client with elicitation + sampling handlers ----------------------------------------
const seen = { elicitations: [], samplings: [], elicitAction: 'accept' };

function answerFor(name, schema) {
  const fixed = { include_week_range: true, risk_level: 'high', time_horizon: 'long' };
  if (name in fixed) return fixed[name];
  if ('default' in schema) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  return { boolean: true, integer: 1, number: 1 }[schema.type] ?? 'x';
}

const client = new Client(
  { name: 'belay-interop-js', version: '0' },
  { capabilities: { elicitation: { form: {} }, sampling: {} } },
);
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  seen.elicitations.push(request.params);
  if (seen.elicitAction !== 'accept') return { action: seen.elicitAction };
  const props = request.params.requestedSchema?.properties ?? {};
  const content = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, answerFor(k, s)]));
  return { action: 'accept', content };
});
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  seen.samplings.push(request.params);
  return {
    role: 'assistant',
    content: { type: 'text', text: HEADLINE },
    model: 'belay-interop-fixed-model',
    stopReason: 'endTurn',
  };
});

const opts = { timeout: TIMEOUT_MS };
const textOf = (result) =>
  (result.content ?? result.contents ?? result.messages?.map((m) => m.content) ?? [])
    .filter((c) => typeof c?.text === 'string')
    .map((c) => c.text)
    .join('\n');
const callTool = (name, args) => client.callTool({ name, arguments: args }, undefined, opts);
async function toolOk(name, args) {
  const result = await callTool(name, args);
  const text = textOf(result);
  expect(!result.isError, `${name}(${JSON.stringify(args)}) returned isError: ${short(text)}`);
  return { result, text };
}
async function unknownTickerError(name, args) {
  const result = await callTool(name, args);
  const text = textOf(result);
  expect(result.isError === true, `${name}(${JSON.stringify(args)}) isError=${result.isError}, text=${JSON.stringify(short(text))}`);
  const missing = TICKERS.filter((t) => !text.includes(t));
  expect(missing.length === 0, `error text does not list valid tickers ${missing}: ${JSON.stringify(short(text))}`);
  return `isError, lists valid tickers`;
}
function parsePrice(result) {
  const text = textOf(result).trim();
  let value = Number(text);
  if (text === '' || Number.isNaN(value)) {
    const sc = result.structuredContent;
    value = typeof sc === 'number' ? sc : sc?.result;
    expect(typeof value === 'number', `price is not a float: text=${JSON.stringify(text)} structuredContent=${JSON.stringify(sc)}`);
  }
  expect(Number.isFinite(value) && value > 0, `price ${value} is not a positive finite number`);
  return value;
}
function parseHistory(text) {
  const lines = text.trim().split(/\r?\n/);
  expect(lines[0] === CSV_HEADER, `header is ${JSON.stringify(lines[0])}, want ${JSON.stringify(CSV_HEADER)}`);
  const rows = lines.slice(1).map((line, i) => {
    const f = line.split(',');
    expect(f.length === 6, `line ${i + 2} has ${f.length} fields: ${line}`);
    const [o, h, l, c, v] = f.slice(1).map(Number);
    expect(/^\d{4}-\d{2}-\d{2}/.test(f[0]) && [o, h, l, c, v].every(Number.isFinite), `line ${i + 2} does not parse: ${line}`);
    expect(h >= Math.max(o, c) - 1e-9 && l <= Math.min(o, c) + 1e-9 && l > 0, `line ${i + 2} has inconsistent OHLC: ${line}`);
    return { date: f[0].slice(0, 10), close: c };
  });
  expect(rows.length > 0, 'CSV has a header but no rows');
  for (let i = 1; i < rows.length; i++) expect(rows[i - 1].date < rows[i].date, 'dates are not strictly increasing');
  return rows;
}

// ---- the session ------------------------------------------------------------------------
async function session() {
  const prices = {};

  await check('connect', async () => {
    const caps = client.getServerCapabilities() ?? {};
    const missing = ['tools', 'resources', 'prompts', 'completions'].filter((k) => !caps[k]);
    expect(missing.length === 0, `server capabilities lack ${missing}: ${JSON.stringify(caps)}`);
    const info = client.getServerVersion();
    return `protocol ${transport.protocolVersion ?? '?'}, server ${info?.name} ${info?.version}, session ${transport.sessionId ?? '(none)'}`;
  });

  await check('tools/list', async () => {
    const { tools } = await client.listTools(undefined, opts);
    const names = tools.map((t) => t.name);
    const missing = TOOLS.filter((t) => !names.includes(t));
    expect(missing.length === 0, `missing tools ${missing}; got ${names}`);
    return `${names.length} tools`;
  });

  await check('resources/list + templates', async () => {
    const { resources } = await client.listResources(undefined, opts);
    const uris = resources.map((r) => r.uri);
    for (const want of ['stock://tickers', 'stock://sectors']) expect(uris.includes(want), `${want} not listed; got ${uris}`);
    const { resourceTemplates } = await client.listResourceTemplates(undefined, opts);
    const templates = resourceTemplates.map((t) => t.uriTemplate);
    expect(templates.includes('stock://{symbol}'), `stock://{symbol} not listed; got ${templates}`);
    return [...uris, ...templates].join(', ');
  });

  await check('prompts/list', async () => {
    const { prompts } = await client.listPrompts(undefined, opts);
    const names = prompts.map((p) => p.name);
    for (const want of ['stock_analysis_prompt', 'risk_assessment_prompt']) expect(names.includes(want), `${want} not listed; got ${names}`);
    return names.join(', ');
  });

  await check('get_stock_price (all tickers)', async () => {
    for (const t of TICKERS) prices[t] = parsePrice((await toolOk('get_stock_price', { symbol: t })).result);
    return TICKERS.map((t) => `${t}=${prices[t]}`).join(', ');
  });
  await check('get_stock_price unknown ticker', () => unknownTickerError('get_stock_price', { symbol: UNKNOWN }));

  await check('get_stock_history AAPL', async () => {
    const first = (await toolOk('get_stock_history', { symbol: 'AAPL', period: '1mo' })).text;
    const rows = parseHistory(first);
    const second = (await toolOk('get_stock_history', { symbol: 'AAPL', period: '1mo' })).text;
    expect(first === second, 'two identical calls returned different CSV (not deterministic)');
    const dflt = (await toolOk('get_stock_history', { symbol: 'AAPL' })).text;
    expect(dflt === first, "history without period differs from period='1mo'");
    return `${rows.length} rows ${rows[0].date}..${rows.at(-1).date}, deterministic`;
  });

  await check('get_stock_history periods', async () => {
    const counts = {};
    for (const p of PERIODS) counts[p] = parseHistory((await toolOk('get_stock_history', { symbol: 'NVDA', period: p })).text).length;
    expect(counts['1d'] === 1 && counts['5d'] === 5, `1d/5d row counts are ${counts['1d']}/${counts['5d']}, want 1/5`);
    const seq = PERIODS.map((p) => counts[p]);
    expect(seq.every((n, i) => i === 0 || seq[i - 1] < n), `row counts do not grow with the period: ${JSON.stringify(counts)}`);
    return JSON.stringify(counts);
  });

  await check('compare_stock_prices AAPL MSFT', async () => {
    const { text } = await toolOk('compare_stock_prices', { symbol1: 'AAPL', symbol2: 'MSFT' });
    expect(text.includes('AAPL') && text.includes('MSFT'), `result does not name both symbols: ${short(text)}`);
    return short(text, 100);
  });
  await check('compare_stock_prices unknown ticker', () =>
    unknownTickerError('compare_stock_prices', { symbol1: UNKNOWN, symbol2: 'MSFT' }),
  );

  await check('calculate_portfolio_value', async () => {
    const holdings = { AAPL: 10, MSFT: 5, NVDA: 2 };
    const { result, text } = await toolOk('calculate_portfolio_value', { holdings });
    const want = Object.entries(holdings).reduce((sum, [s, n]) => sum + n * prices[s], 0);
    const found = (text.match(/-?\d[\d,]*(?:\.\d+)?/g) ?? []).map((n) => Number(n.replaceAll(',', '')));
    if (result.structuredContent && typeof result.structuredContent === 'object') {
      found.push(...Object.values(result.structuredContent).filter((v) => typeof v === 'number'));
    }
    expect(found.some((x) => Math.abs(x - want) <= 0.011), `total ${want.toFixed(2)} not found in ${short(text)}`);
    return `total ${want.toFixed(2)} present`;
  });

  await check('get_ticker_info (elicitation)', async () => {
    seen.elicitations.length = 0;
    const { text } = await toolOk('get_ticker_info', { symbol: 'AAPL' });
    expect(seen.elicitations.length === 1, `expected 1 elicitation, got ${seen.elicitations.length}`);
    const prop = seen.elicitations[0].requestedSchema?.properties?.include_week_range;
    expect(prop?.type === 'boolean', `elicitation schema has no boolean include_week_range: ${JSON.stringify(seen.elicitations[0].requestedSchema)}`);
    const human = text.match(/\b\d+(?:\.\d+)?[KMBT]\b/);
    expect(human, `no humanized number (e.g. 2.80T) in ${short(text)}`);
    expect(WEEK_RANGE.test(text), `52-week range missing after include_week_range=true: ${short(text)}`);
    return `${human[0]} shown, 52-week range included`;
  });

  await check('get_ticker_info (elicitation: decline)', async () => {
    seen.elicitations.length = 0;
    seen.elicitAction = 'decline';
    try {
      const { text } = await toolOk('get_ticker_info', { symbol: 'MSFT' });
      expect(!WEEK_RANGE.test(text), `52-week range present after decline: ${short(text)}`);
      return 'no 52-week range';
    } finally {
      seen.elicitAction = 'accept';
    }
  });

  await check('get_investment_advice (elicitation)', async () => {
    seen.elicitations.length = 0;
    const { text } = await toolOk('get_investment_advice', { symbol: 'AAPL' });
    expect(seen.elicitations.length > 0, 'no elicitation request reached the client');
    const props = Object.assign({}, ...seen.elicitations.map((p) => p.requestedSchema?.properties ?? {}));
    for (const k of ['risk_level', 'time_horizon']) expect(k in props, `elicitation schema lacks ${k}: ${JSON.stringify(props)}`);
    const lower = text.toLowerCase();
    expect(lower.includes('high') && lower.includes('long'), `advice ignores risk_level=high/time_horizon=long: ${short(text)}`);
    return `${seen.elicitations.length} elicitation(s)`;
  });

  await check('stock_headline_sampling (sampling)', async () => {
    seen.samplings.length = 0;
    const { text } = await toolOk('stock_headline_sampling', { symbol: 'TSLA' });
    expect(seen.samplings.length === 1, `expected 1 sampling request, got ${seen.samplings.length}`);
    expect(text.includes(HEADLINE), `sampled headline not in result: ${short(text)}`);
    return 'sampled text returned';
  });

  await check('resources/read', async () => {
    const tickers = textOf(await client.readResource({ uri: 'stock://tickers' }, opts));
    const missing = TICKERS.filter((t) => !tickers.includes(t));
    expect(missing.length === 0, `stock://tickers lacks ${missing}: ${short(tickers)}`);
    const sectors = textOf(await client.readResource({ uri: 'stock://sectors' }, opts));
    expect(sectors.trim() !== '', 'stock://sectors is empty');
    const aapl = textOf(await client.readResource({ uri: 'stock://AAPL' }, opts));
    expect(aapl.includes('AAPL'), `stock://AAPL does not mention AAPL: ${short(aapl)}`);
    return `tickers, sectors (${short(sectors, 60)}), AAPL`;
  });

  await check('prompts/get', async () => {
    const a = await client.getPrompt({ name: 'stock_analysis_prompt', arguments: { symbol: 'AAPL', period: '3mo' } }, opts);
    expect(a.messages.length > 0 && textOf(a).includes('AAPL'), `stock_analysis_prompt: ${short(textOf(a))}`);
    const r = await client.getPrompt({ name: 'risk_assessment_prompt', arguments: { symbol: 'TSLA', risk_tolerance: 'high' } }, opts);
    expect(r.messages.length > 0 && textOf(r).includes('TSLA'), `risk_assessment_prompt: ${short(textOf(r))}`);
    return 'both prompts render';
  });

  await check('completion/complete', async () => {
    const p = await client.complete({ ref: { type: 'ref/prompt', name: 'stock_analysis_prompt' }, argument: { name: 'symbol', value: 'A' } }, opts);
    const values = p.completion.values;
    expect(values.includes('AAPL') && values.includes('AMZN'), `completing 'A' gave ${values}, want AAPL and AMZN`);
    const t = await client.complete({ ref: { type: 'ref/resource', uri: 'stock://{symbol}' }, argument: { name: 'symbol', value: 'M' } }, opts);
    expect(t.completion.values.includes('MSFT') && t.completion.values.includes('META'), `completing 'M' gave ${t.completion.values}`);
    return `'A' -> ${values}; 'M' -> ${t.completion.values}`;
  });
}

// ---- main -------------------------------------------------------------------------------
console.log(`== TypeScript SDK session over Streamable HTTP at ${url} ==`);
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport, opts);
  await session();
} catch (err) {
  failures.push(`session: ${err?.message ?? err}`);
  console.log(`  FAIL  ${LABEL} session: ${err?.stack ?? err}`);
} finally {
  // Ask the server to drop the session (DELETE), then close; neither may hang the run.
  await Promise.race([transport.terminateSession?.().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  await client.close().catch(() => {});
}
console.log(`${LABEL} ${failures.length ? 'FAILED' : 'ok'}: ${passed} checks passed, ${failures.length} failed, ${warned} warnings`);
for (const f of failures) console.log(`    - ${f}`);
process.exit(failures.length ? 1 : 0);
