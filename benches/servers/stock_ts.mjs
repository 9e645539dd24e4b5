// The benchmark's TypeScript baseline: Belay's `stock` server's `get_stock_price`, on the
// official MCP TypeScript SDK (`McpServer`), over stdio or Streamable HTTP on node:http.
//
// Only what the benchmark drives is here: one tool, `get_stock_price(symbol)`, over the same
// mock prices as `belay serve stock`, answering as Belay does (the price with two decimals as
// text, `{symbol, price}` as structured content) and failing as Belay does (an `isError`
// result that lists the valid tickers). The HTTP side is the SDK's documented
// stateful pattern: one `StreamableHTTPServerTransport` + `McpServer` per session, keyed by
// `mcp-session-id`, with the SDK's defaults (SSE responses, no JSON mode).
//
//   .tools/bin/node benches/servers/stock_ts.mjs                           # stdio
//   .tools/bin/node benches/servers/stock_ts.mjs --transport http --port 8000
//
// The SDK is resolved from tests/interop/js/node_modules (installed by scripts/setup);
// BENCH_NODE_MODULES overrides that folder.

import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.BENCH_NODE_MODULES ?? path.join(here, "..", "..", "tests", "interop", "js", "node_modules");
const load = (rel) => import(pathToFileURL(path.join(modules, rel)).href);

const { McpServer } = await load("@modelcontextprotocol/sdk/dist/esm/server/mcp.js");
const { StdioServerTransport } = await load("@modelcontextprotocol/sdk/dist/esm/server/stdio.js");
const { StreamableHTTPServerTransport } = await load("@modelcontextprotocol/sdk/dist/esm/server/streamableHttp.js");
const { isInitializeRequest } = await load("@modelcontextprotocol/sdk/dist/esm/types.js");
const { z } = await load("zod/index.js");

// Keep in sync with Belay's stock server (crates/belay-servers/src/stock/data.rs) and benches/loadgen/src/mcp.rs (the load generator
// checks every answer against this table, so a drift shows up as errors in the results).
const MOCK_PRICES = {
  AAPL: 150.25,
  MSFT: 380.5,
  GOOGL: 140.8,
  AMZN: 145.3,
  TSLA: 242.6,
  META: 335.2,
  NVDA: 485.1,
};

function buildServer() {
  const server = new McpServer({ name: "stock-ts", version: "0.1.0" });
  server.registerTool(
    "get_stock_price",
    {
      description: "Retrieve the current stock price for the given ticker symbol.",
      inputSchema: { symbol: z.string() },
      outputSchema: { symbol: z.string(), price: z.number() },
    },
    async ({ symbol }) => {
      const wanted = symbol.trim().toUpperCase();
      const price = MOCK_PRICES[wanted];
      if (price === undefined) {
        const valid = Object.keys(MOCK_PRICES).join(", ");
        return {
          content: [{ type: "text", text: `Unknown ticker "${wanted}". Valid tickers: ${valid}.` }],
          isError: true,
        };
      }
      // Same answer as Belay's: the price with two decimals as text, {symbol, price} as structure.
      return {
        content: [{ type: "text", text: price.toFixed(2) }],
        structuredContent: { symbol: wanted, price },
      };
    },
  );
  return server;
}

async function serveStdio() {
  await buildServer().connect(new StdioServerTransport());
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (chunks.length === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (err) {
        reject(err);
      }
    });
    req.on("error", reject);
  });
}

function rpcError(res, status, code, message) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

async function serveHttp(host, port) {
  const transports = new Map(); // mcp-session-id -> StreamableHTTPServerTransport
  const http = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname !== "/mcp") return rpcError(res, 404, -32601, "not found");
      const sid = req.headers["mcp-session-id"];
      let transport = typeof sid === "string" ? transports.get(sid) : undefined;
      if (req.method === "POST") {
        let body;
        try {
          body = await readJson(req);
        } catch {
          return rpcError(res, 400, -32700, "Parse error");
        }
        if (!transport) {
          if (sid !== undefined || !isInitializeRequest(body)) {
            return rpcError(res, 400, -32000, "Bad Request: no valid session ID provided");
          }
          transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => transports.set(id, transport),
          });
          transport.onclose = () => {
            if (transport.sessionId) transports.delete(transport.sessionId);
          };
          await buildServer().connect(transport);
        }
        return await transport.handleRequest(req, res, body);
      }
      if (!transport) return rpcError(res, 400, -32000, "Bad Request: no valid session ID provided");
      return await transport.handleRequest(req, res); // GET (SSE stream) and DELETE
    } catch (err) {
      console.error("request failed:", err);
      if (!res.headersSent) rpcError(res, 500, -32603, "Internal error");
    }
  });
  http.listen(port, host, () => console.error(`stock_ts: listening on http://${host}:${port}/mcp`));
  const stop = () => http.close(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

const { values } = parseArgs({
  options: {
    transport: { type: "string", default: "stdio" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8000" },
  },
});
if (values.transport === "stdio") await serveStdio();
else if (values.transport === "http") await serveHttp(values.host, Number(values.port));
else throw new Error(`unknown --transport ${values.transport} (stdio or http)`);
