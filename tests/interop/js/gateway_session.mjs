#!/usr/bin/env node
// The official TypeScript SDK, signed in with its own OAuthClientProvider, through
// `belay gateway serve` (stock and weather upstreams). Started by
// tests/interop/python/gateway_session.py --client js, which runs the authorization server
// and the gateway, and passes the gateway's URL and the user's name and password:
//
//   BELAY_USER=alice BELAY_PASSWORD=... node gateway_session.mjs http://127.0.0.1:PORT/mcp
//
// The SDK does the OAuth work (401 → protected resource metadata → authorization server
// metadata → dynamic registration → PKCE → token); a scripted person fills in Belay's login
// form (fields username, password, consent=approve, plus the hidden fields and CSRF cookie).
// Every check prints PASS/FAIL; the exit code is 1 if any failed.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const url = process.argv[2] ?? process.env.BELAY_MCP_URL;
const USER = process.env.BELAY_USER;
const PASSWORD = process.env.BELAY_PASSWORD;
if (!url || !USER || !PASSWORD) {
  console.error('usage: BELAY_USER=… BELAY_PASSWORD=… gateway_session.mjs URL');
  process.exit(2);
}
const REDIRECT = 'http://127.0.0.1:33419/callback'; // never listened on: the person reads Location
const TIMEOUT_MS = 60_000;
const LABEL = '[js]';
const WEEK_RANGE = /\b52(?:[\s-]*weeks?\b|W\b)/i;

let failed = 0;
function check(name, ok, detail = '') {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${LABEL} ${name}${!ok && detail ? `: ${detail}` : ''}`);
  if (!ok) failed += 1;
}

// ---- the person at the browser ----------------------------------------------------------
const attr = (tag, name) => tag.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1];
const unescape = (s) => s.replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>');

const person = { visits: 0, code: undefined };
async function signIn(authorizationUrl) {
  person.visits += 1;
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  if (page.status !== 200) throw new Error(`authorization page answered ${page.status}`);
  const html = await page.text();
  const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const form = html.match(/<form\b[^>]*>/i)?.[0];
  if (!form) throw new Error(`no form on the authorization page: ${html.slice(0, 300)}`);
  const fields = new URLSearchParams();
  for (const input of html.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attr(input, 'name');
    if (name && attr(input, 'type') !== 'submit') fields.set(name, unescape(attr(input, 'value') ?? ''));
  }
  fields.set('username', USER);
  fields.set('password', PASSWORD);
  fields.set('consent', 'approve');
  const action = new URL(unescape(attr(form, 'action') ?? ''), page.url ?? authorizationUrl);
  const answer = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: fields,
  });
  const location = answer.headers.get('location');
  if (!location) throw new Error(`sign-in did not redirect (status ${answer.status})`);
  person.code = new URL(location).searchParams.get('code') ?? undefined;
  if (!person.code) throw new Error(`redirect carries no code: ${location}`);
}

// ---- the SDK's OAuth client provider, kept in memory -------------------------------------
const store = {};
const authProvider = {
  get redirectUrl() {
    return REDIRECT;
  },
  get clientMetadata() {
    return {
      client_name: 'belay interop (typescript)',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation: () => store.client,
  saveClientInformation: (info) => {
    store.client = info;
  },
  tokens: () => store.tokens,
  saveTokens: (tokens) => {
    store.tokens = tokens;
  },
  redirectToAuthorization: (authorizationUrl) => signIn(authorizationUrl.toString()),
  saveCodeVerifier: (verifier) => {
    store.verifier = verifier;
  },
  codeVerifier: () => store.verifier,
};

// ---- client -------------------------------------------------------------------------------
const elicitations = [];
function newClient() {
  const client = new Client({ name: 'belay-interop-gateway-js', version: '0' }, { capabilities: { elicitation: { form: {} } } });
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    elicitations.push(request.params);
    const props = request.params.requestedSchema?.properties ?? {};
    const content = Object.fromEntries(Object.entries(props).map(([k, s]) => [k, s.type === 'boolean' ? true : (s.default ?? s.enum?.[0] ?? 'x')]));
    return { action: 'accept', content };
  });
  return client;
}

const textOf = (result) => (result.content ?? []).filter((c) => typeof c?.text === 'string').map((c) => c.text).join('\n');
const opts = { timeout: TIMEOUT_MS };

let client = newClient();
let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider });
try {
  try {
    await client.connect(transport, opts);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    // The SDK sent the person to sign in; finish with the code, then connect again.
    await transport.finishAuth(person.code);
    client = newClient();
    transport = new StreamableHTTPClientTransport(new URL(url), { authProvider });
    await client.connect(transport, opts);
  }
  check('signed in through the login form, connected', person.visits === 1 && !!store.tokens?.access_token, `visits=${person.visits}`);
  console.log(`     ${LABEL} protocol ${transport.protocolVersion ?? '?'}, registered as ${store.client?.client_id}`);

  const { tools } = await client.listTools(undefined, opts);
  const names = tools.map((t) => t.name);
  const missing = ['stock__get_stock_price', 'weather__get_weather', 'stock__get_ticker_info'].filter((t) => !names.includes(t));
  check("tools/list has both upstreams' tools", missing.length === 0, `missing ${missing}; got ${names}`);

  const price = await client.callTool({ name: 'stock__get_stock_price', arguments: { symbol: 'AAPL' } }, undefined, opts);
  check('stock__get_stock_price(AAPL)', !price.isError && Number(textOf(price)) > 0, textOf(price).slice(0, 200));

  const weather = await client.callTool({ name: 'weather__get_weather', arguments: { city: 'London' } }, undefined, opts);
  check('weather__get_weather(London)', !weather.isError && textOf(weather).includes('London'), textOf(weather).slice(0, 200));

  const info = await client.callTool({ name: 'stock__get_ticker_info', arguments: { symbol: 'AAPL' } }, undefined, opts);
  const asked = elicitations.length === 1 && 'include_week_range' in (elicitations[0].requestedSchema?.properties ?? {});
  check(
    'stock__get_ticker_info: elicitation crosses the gateway (accept)',
    !info.isError && asked && WEEK_RANGE.test(textOf(info)),
    `elicitations=${elicitations.length} isError=${info.isError} text=${textOf(info).slice(0, 200)}`,
  );
} catch (err) {
  check('session', false, err?.stack ?? String(err));
} finally {
  await Promise.race([transport.terminateSession?.().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  await client.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
