// PostGraphile 5 on the benchmark database (bench/peer/policies.sql applied), the peer of issue 18.
// Started by `python -m bench peer` through server.mjs; see docs/performance.md.
//
//   PEER_DATABASE_URL  postgres://pp_peer_authenticator@127.0.0.1:5432/<database> (a role that is no
//                      superuser: PostGraphile exposes what `pp_peer_partner` is granted, nothing more)
//   PEER_POOL_SIZE     PostgreSQL connections (default 5, as partner-portal's pool)
//   PEER_PORT          default 5678
//
// Authentication: partner-portal's own session token (`Authorization: Bearer pps_…`). The context
// hook hashes it (SHA-256, as partner-portal stores it) and reads its claims with one statement
// (`peer_private.claims`, as partner-portal reads its session with one query); they become the
// request transaction's settings (`SET LOCAL peer.user_id` …) and its role `pp_peer_partner`, whose
// row-level security policies read them. No token or an unknown one: empty claims, no rows.
import { createHash } from "node:crypto";
import pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

// one pool for the claims and PostGraphile's statements
const pool = new pg.Pool({
  connectionString: process.env.PEER_DATABASE_URL,
  max: Number(process.env.PEER_POOL_SIZE ?? 5),
});
const NO_CLAIMS = {
  "peer.user_id": "",
  "peer.customers_partner_id": "",
  "peer.dashboard_partner_id": "",
  "peer.organizations": "{}",
};

async function claims(authorization) {
  const token = authorization.toLowerCase().startsWith("bearer ") ? authorization.slice(7).trim() : "";
  if (!token) {
    return NO_CLAIMS;
  }
  const digest = createHash("sha256").update(token).digest("hex");
  const { rows } = await pool.query({
    name: "peer_claims",
    text: "select peer_private.claims($1) as claims",
    values: [digest],
  });
  return rows[0].claims;
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [makePgService({ pool, schemas: ["public", "peer"] })],
  gather: { installWatchFixtures: false },
  grafserv: {
    port: Number(process.env.PEER_PORT ?? 5678),
    host: "127.0.0.1",
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    maxRequestLength: 100_000,
  },
  grafast: {
    explain: false,
    async context(requestContext) {
      const authorization = requestContext.node?.req?.headers?.authorization ?? "";
      return { pgSettings: { role: "pp_peer_partner", ...(await claims(authorization)) } };
    },
  },
};

export default preset;
