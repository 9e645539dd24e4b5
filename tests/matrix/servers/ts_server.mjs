// An MCP server made with the official TypeScript SDK (npm `@modelcontextprotocol/sdk`), for
// the interop matrix: the same features as py_server.py, written the way an SDK user does.
//
//   node ts_server.mjs stdio TAG
//   node ts_server.mjs http TAG PORT      # Streamable HTTP on http://127.0.0.1:PORT/mcp
//
// Tools: echo, weather (structured content with an output schema), tiny_image, slow (progress,
// a log line per step at debug and info, and it counts the cancellations it sees:
// `cancellations` tells how many), add_tool (the tools list changes), touch (a resource
// updated notification), ask_name (elicitation), headline (sampling). Resources
// matrix://TAG/notes/0..11 and the template matrix://TAG/items/{item}; subscriptions;
// the prompt greet(name, style); completions for style and item; logging/setLevel.
// TAG goes into every URI so that copies behind one gateway do not claim the same resources.
//
// The SDK is resolved from tests/matrix/js/node_modules (the same pin as tests/interop/js).
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '../js/package.json'));
const sdk = (path) => import(require.resolve(`@modelcontextprotocol/sdk/${path}`));
const { McpServer, ResourceTemplate } = await sdk('server/mcp.js');
const { completable } = await sdk('server/completable.js');
const { StdioServerTransport } = await sdk('server/stdio.js');
const { StreamableHTTPServerTransport } = await sdk('server/streamableHttp.js');
const { SetLevelRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema } = await sdk('types.js');
const { z } = await import(require.resolve('zod'));

const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==';
const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const STYLES = ['formal', 'friendly', 'pirate'];
const ITEMS = ['apple', 'apricot', 'banana'];
const NOTES = 12;
const text = (t) => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('cancelled'));
    });
  });

function build(tag) {
  const server = new McpServer(
    { name: `matrix-typescript-${tag}`, version: '1.0.0' },
    { capabilities: { logging: {}, resources: { subscribe: true, listChanged: true }, tools: { listChanged: true } } },
  );
  const state = { level: 'debug', cancelled: 0, added: 0, subscribed: new Set() };

  server.registerTool('echo', { description: 'Echo the text back.', inputSchema: { text: z.string() } }, ({ text: t }) =>
    text(`echo: ${t}`),
  );
  server.registerTool(
    'weather',
    {
      description: 'Weather of a city, as structured content.',
      inputSchema: { city: z.string() },
      outputSchema: { city: z.string(), temperature_c: z.number(), conditions: z.string() },
    },
    ({ city }) => {
      const out = { city, temperature_c: 21.5, conditions: 'sunny' };
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  server.registerTool('tiny_image', { description: 'A tiny PNG image.' }, () => ({
    content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }],
  }));
  server.registerTool(
    'slow',
    {
      description: 'Works for steps * step_ms milliseconds, with progress and logs.',
      inputSchema: { steps: z.number().int(), step_ms: z.number().int() },
    },
    async ({ steps, step_ms }, extra) => {
      const token = extra._meta?.progressToken;
      try {
        for (let i = 1; i <= steps; i++) {
          await sleep(step_ms, extra.signal);
          if (token !== undefined) {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress: i, total: steps, message: `step ${i}` },
            });
          }
          for (const level of ['debug', 'info']) {
            if (LEVELS.indexOf(level) >= LEVELS.indexOf(state.level)) {
              await extra.sendNotification({
                method: 'notifications/message',
                params: { level, data: `slow step ${i} at ${level}` },
              });
            }
          }
        }
      } catch (e) {
        if (extra.signal.aborted) state.cancelled += 1;
        throw e;
      }
      return text(`done after ${steps} steps`);
    },
  );
  server.registerTool('cancellations', { description: 'How many calls of `slow` were cancelled.' }, () =>
    text(String(state.cancelled)),
  );
  server.registerTool('add_tool', { description: 'Adds a tool (the tools list changes).' }, () => {
    state.added += 1;
    const name = `extra_${state.added}`;
    server.registerTool(name, { description: 'Added at run time.' }, () => text(name)); // sends list_changed
    return text(name);
  });
  server.registerTool(
    'touch',
    { description: 'Tells subscribers that a resource changed.', inputSchema: { uri: z.string() } },
    async ({ uri }) => {
      if (state.subscribed.has(uri)) await server.server.sendResourceUpdated({ uri });
      return text(`touched ${uri}`);
    },
  );
  server.registerTool('ask_name', { description: "Asks the user's name (elicitation)." }, async () => {
    const answer = await server.server.elicitInput({
      message: 'What is your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string', description: 'Your name' } }, required: ['name'] },
    });
    return text(answer.action === 'accept' ? `hello ${answer.content.name}` : `no name (${answer.action})`);
  });
  server.registerTool(
    'headline',
    { description: "Asks the client's model for a headline (sampling).", inputSchema: { topic: z.string() } },
    async ({ topic }) => {
      const result = await server.server.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: `Headline on ${topic}` } }],
        maxTokens: 50,
      });
      return text(`headline: ${result.content.type === 'text' ? result.content.text : JSON.stringify(result.content)}`);
    },
  );

  for (let i = 0; i < NOTES; i++) {
    const uri = `matrix://${tag}/notes/${i}`;
    server.registerResource(`note-${i}`, uri, { mimeType: 'text/plain' }, () => ({
      contents: [{ uri, mimeType: 'text/plain', text: `note ${i} of ${tag}` }],
    }));
  }
  const items = new ResourceTemplate(`matrix://${tag}/items/{item}`, {
    list: undefined,
    complete: { item: (value) => ITEMS.filter((v) => v.startsWith(value)) },
  });
  server.registerResource('item', items, { mimeType: 'text/plain' }, (uri, { item }) => ({
    contents: [{ uri: uri.href, mimeType: 'text/plain', text: `item ${item} of ${tag}` }],
  }));
  server.registerPrompt(
    'greet',
    {
      description: 'Greets someone in a style.',
      argsSchema: { name: z.string(), style: completable(z.string(), (value) => STYLES.filter((s) => s.startsWith(value))) },
    },
    ({ name, style }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Write a ${style} greeting for ${name}.` } }],
    }),
  );

  // Own handlers: the SDK's setLevel filters only sendLoggingMessage, which goes to the
  // session's stream; `slow` logs on its request's stream, as a per-call log should.
  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    state.level = request.params.level;
    return {};
  });
  server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
    state.subscribed.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    state.subscribed.delete(request.params.uri);
    return {};
  });
  return server;
}

const [mode = 'stdio', tag = 'ts', port = '0'] = process.argv.slice(2);
if (mode === 'stdio') {
  await build(tag).connect(new StdioServerTransport());
} else if (mode === 'http') {
  // Stateful Streamable HTTP, one McpServer per session, as the SDK's examples do.
  const sessions = new Map();
  const http = createServer(async (req, res) => {
    if (!req.url.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    const id = req.headers['mcp-session-id'];
    let transport = id && sessions.get(id);
    if (!transport) {
      if (id || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'unknown session' } }));
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => sessions.set(sid, transport),
      });
      transport.onclose = () => sessions.delete(transport.sessionId);
      await build(tag).connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  http.listen(Number(port), '127.0.0.1', () => console.error(`ts_server listening on ${http.address().port}`));
} else {
  console.error(`usage: ts_server.mjs stdio|http TAG [PORT]`);
  process.exit(2);
}
