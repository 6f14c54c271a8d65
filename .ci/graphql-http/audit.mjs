// The graphql-http server audit (GraphQL over HTTP conformance) against partner-portal.
//
//   node audit.mjs                          starts `partner-portal serve --demo` on a free port and a
//                                           fresh SQLite file, audits it, stops it
//   node audit.mjs http://127.0.0.1:8000/graphql   audits a server that runs already
//
// Prints every audit; exits 1 when a MUST or a SHOULD does not pass (MAYs are only listed).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditServer } from 'graphql-http';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STARTUP_SECONDS = 120; // migrations and demo data first; generous for a busy machine
const AUDIT_SECONDS = 120;

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer().once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

async function waitUntilReady(base, server) {
  const deadline = Date.now() + STARTUP_SECONDS * 1000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((wait) => setTimeout(wait, 250));
  }
  throw new Error(`the server was not ready within ${STARTUP_SECONDS} s`);
}

/** Starts the demo server; returns its /graphql URL and how to stop it. */
async function startDemoServer() {
  const folder = mkdtempSync(join(tmpdir(), 'graphql-http-audit-'));
  const port = await freePort();
  const server = spawn(join(ROOT, '.venv/bin/partner-portal'), ['serve', '--demo', '--port', String(port)], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ENVIRONMENT: 'development',
      DATABASE_URL: `sqlite://${join(folder, 'portal.sqlite3')}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = ''; // the server's log (the demo logins, mails…): shown only when it does not start
  server.stderr.on('data', (chunk) => {
    log = (log + chunk).slice(-20_000);
  });
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((done) => server.once('exit', done));
      server.kill('SIGTERM');
      const forced = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(forced);
    }
    rmSync(folder, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, async () => {
      await stop();
      process.exit(1);
    });
  }
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(base, server);
  } catch (error) {
    await stop();
    console.error(log);
    throw error;
  }
  return { url: `${base}/graphql`, stop };
}

function withTimeout(promise, seconds, what) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} took longer than ${seconds} s`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const given = process.argv[2];
  const { url, stop } = given ? { url: given, stop: async () => {} } : await startDemoServer();
  let results;
  try {
    results = await withTimeout(auditServer({ url }), AUDIT_SECONDS, 'the audit');
  } finally {
    await stop();
  }
  const label = { ok: 'ok    ', error: 'FAILED', warn: 'FAILED', notice: 'no    ' };
  for (const result of results) {
    const reason = result.status === 'ok' ? '' : `: ${result.reason}`;
    console.log(`${label[result.status]} ${result.id} ${result.name}${reason}`);
  }
  const failed = results.filter((result) => result.status === 'error' || result.status === 'warn');
  const passed = results.filter((result) => result.status === 'ok').length;
  console.log(`graphql-http audit of ${url}: ${passed} of ${results.length} pass, ` +
    `${failed.length} MUST or SHOULD fail`);
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
