-- PostGraphile 5, the peer of issue 18, on the benchmark database: roles, grants and row-level
-- security that give a partner's staff member what partner-portal gives them for the three works
-- measured (`python -m bench peer`, docs/performance.md):
--
--   1. "my customers": the acting partner's current customer relationships (ended_at IS NULL),
--      each with its customer organization and the customer's license (partner-portal:
--      `myCustomers`, ADMINISTER_CUSTOMERS, implied by CREATE_CUSTOMER_ORGANIZATIONS and
--      MANAGE_PARTNER_PORTAL, or the ADMINISTRATOR role);
--   2. the partner dashboard's figures (`partnerDashboard`, MANAGE_PARTNER_PORTAL or ADMINISTRATOR);
--   3. the viewer: the signed-in user's own row (`viewer`).
--
-- Authentication: the client sends partner-portal's own session token (`Authorization: Bearer
-- pps_…`). PostGraphile's context hook (graphile.config.mjs) hashes it (SHA-256, as partner-portal
-- stores it) and asks `peer_private.claims(digest)` in one round trip, as partner-portal reads its
-- session in one query: the viewer, the partner the viewer acts for with ADMINISTER_CUSTOMERS and
-- with MANAGE_PARTNER_PORTAL, the viewer's organizations. They become the request transaction's
-- settings (`SET LOCAL peer.user_id` …) with the role `pp_peer_partner`, and the policies below read
-- them. The acting partner is the viewer's first organization (the membership created first),
-- partner-portal's default when no `partnerId` is given; it must be an approved partner (a partner
-- profile), the viewer's address verified, and the membership not one of a management session
-- (`relationship_id`). Without a valid token every setting is empty and no policy lets a row through.
--
-- Why settings and not helper functions in the policies: a policy reading a setting costs
-- microseconds per row, and PostgreSQL's planner sees the setting's value when it estimates (a
-- 10,000-customer partner is not taken for an average one, so the first page walks the name index
-- and stops after it). Helper functions that look the session up (security definer, so never
-- inlined) cost a statement of their own per call: wrapped as `(SELECT f())` init plans the planner
-- takes the partner for an average one and joins every customer before sorting; called per row,
-- hundreds of calls a page. Both were tried: 100 to 200 ms a page at scale 0.25.
--
-- Scope: only what the three works read is granted; the policies on invitations, commissions and
-- payouts cover the dashboard's reader only (partner-portal has more readers of those tables).
--
-- Roles are cluster-wide: `pp_peer_authenticator` (LOGIN, NOINHERIT; PostGraphile connects and
-- introspects as it, so only what `pp_peer_partner` is granted becomes GraphQL) and `pp_peer_partner`
-- (what a request runs as). Run as a superuser; idempotent for a fresh dataset.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pp_peer_partner') THEN
    CREATE ROLE pp_peer_partner NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pp_peer_authenticator') THEN
    CREATE ROLE pp_peer_authenticator LOGIN NOINHERIT;
  END IF;
END
$$;
GRANT pp_peer_partner TO pp_peer_authenticator;

CREATE SCHEMA IF NOT EXISTS peer_private;  -- helpers, not exposed
CREATE SCHEMA IF NOT EXISTS peer;          -- root fields that are functions, exposed with public
REVOKE ALL ON SCHEMA peer_private FROM PUBLIC;
GRANT USAGE ON SCHEMA public, peer, peer_private TO pp_peer_partner;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- The claims of a session token's digest, as settings for the request's transaction (read by the
-- connection role before the transaction; see above). Empty strings where nothing is held.
CREATE OR REPLACE FUNCTION peer_private.claims(digest text) RETURNS json
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- PL/pgSQL keeps this statement's plan for the connection; a SQL function's would be planned per call
  RETURN (
  WITH viewer AS (
    SELECT t.user_id FROM session_tokens t
    WHERE t.token_hash = digest AND t.revoked_at IS NULL AND t.expires_at > now()
  ),
  acting AS (  -- the first membership, in an approved partner, with a verified address
    SELECT m.organization_id, m.role, m.permissions
    FROM memberships m
    JOIN users u ON u.id = m.user_id AND u.email_verified_at IS NOT NULL
    JOIN partner_profiles p ON p.organization_id = m.organization_id
    WHERE m.id = (SELECT min(first.id) FROM memberships first WHERE first.user_id = (SELECT user_id FROM viewer))
      AND m.relationship_id IS NULL
  )
  SELECT json_build_object(
    'peer.user_id', coalesce((SELECT user_id::text FROM viewer), ''),
    'peer.customers_partner_id', coalesce((
      SELECT organization_id::text FROM acting
      WHERE role = 'ADMINISTRATOR'
         OR permissions ?| ARRAY['ADMINISTER_CUSTOMERS', 'CREATE_CUSTOMER_ORGANIZATIONS', 'MANAGE_PARTNER_PORTAL']
    ), ''),
    'peer.dashboard_partner_id', coalesce((
      SELECT organization_id::text FROM acting
      WHERE role = 'ADMINISTRATOR' OR permissions ? 'MANAGE_PARTNER_PORTAL'
    ), ''),
    'peer.organizations', coalesce((
      SELECT array_agg(m.organization_id)::text FROM memberships m WHERE m.user_id = (SELECT user_id FROM viewer)
    ), '{}')
  )
  );
END
$$;
REVOKE ALL ON FUNCTION peer_private.claims(text) FROM PUBLIC;
GRANT USAGE ON SCHEMA peer_private TO pp_peer_authenticator;
GRANT EXECUTE ON FUNCTION peer_private.claims(text) TO pp_peer_authenticator;

-- The claims, read by the policies (null when empty).
CREATE OR REPLACE FUNCTION peer_private.setting_id(name text) RETURNS integer
LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting(name, true), '')::integer $$;
CREATE OR REPLACE FUNCTION peer_private.setting_ids(name text) RETURNS integer[]
LANGUAGE sql STABLE AS $$ SELECT coalesce(nullif(current_setting(name, true), ''), '{}')::integer[] $$;
GRANT EXECUTE ON FUNCTION peer_private.setting_id(text), peer_private.setting_ids(text) TO pp_peer_partner;

-- What GraphQL shows: these columns only (PostGraphile follows the grants).
GRANT SELECT (id, name, email) ON users TO pp_peer_partner;
GRANT SELECT (id, name, website, country, language, created_at) ON organizations TO pp_peer_partner;
GRANT SELECT (id, customer_id, partner_id, source, started_at, ended_at, grant_permissions, grant_expires_at,
              customer_name, license_status) ON customer_relationships TO pp_peer_partner;
GRANT SELECT (id, organization_id, status, plan, seats, mrr_amount, currency, trial_ends_at, updated_at)
  ON licenses TO pp_peer_partner;
-- read by the dashboard function (security invoker), not exposed as types: no root fields for them
GRANT SELECT (partner_id, status, expires_at) ON invitations TO pp_peer_partner;
GRANT SELECT (partner_id, status, amount) ON commissions TO pp_peer_partner;
GRANT SELECT (partner_id, status, amount) ON payouts TO pp_peer_partner;
GRANT SELECT (organization_id, payout_currency) ON partner_profiles TO pp_peer_partner;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_relationships ENABLE ROW LEVEL SECURITY;
ALTER TABLE licenses ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE commissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE payouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_profiles ENABLE ROW LEVEL SECURITY;

-- (the two setting functions are inlined: the policies read the settings directly)
DROP POLICY IF EXISTS peer_self ON users;
CREATE POLICY peer_self ON users FOR SELECT TO pp_peer_partner
  USING (id = peer_private.setting_id('peer.user_id'));

-- a partner's ADMINISTER_CUSTOMERS holders see its current relationships only (partner-portal:
-- permissions/scoping.py `visible_relationships`, partner side)
DROP POLICY IF EXISTS peer_current_customers ON customer_relationships;
CREATE POLICY peer_current_customers ON customer_relationships FOR SELECT TO pp_peer_partner
  USING (partner_id = peer_private.setting_id('peer.customers_partner_id') AND ended_at IS NULL);

-- members see their organizations; partner staff their current customers (`visible_organizations`)
DROP POLICY IF EXISTS peer_organizations ON organizations;
CREATE POLICY peer_organizations ON organizations FOR SELECT TO pp_peer_partner
  USING (
    id = ANY (peer_private.setting_ids('peer.organizations'))
    -- the subquery is under its policy too: the acting partner's current relationships only
    OR EXISTS (SELECT 1 FROM customer_relationships r WHERE r.customer_id = organizations.id)
  );

-- a license is read with its organization: its members, and the partner staff of a current customer
DROP POLICY IF EXISTS peer_licenses ON licenses;
CREATE POLICY peer_licenses ON licenses FOR SELECT TO pp_peer_partner
  USING (
    organization_id = ANY (peer_private.setting_ids('peer.organizations'))
    OR EXISTS (SELECT 1 FROM customer_relationships r WHERE r.customer_id = licenses.organization_id)
  );

-- the dashboard's reader: MANAGE_PARTNER_PORTAL holders of the partner
DROP POLICY IF EXISTS peer_dashboard ON invitations;
CREATE POLICY peer_dashboard ON invitations FOR SELECT TO pp_peer_partner
  USING (partner_id = peer_private.setting_id('peer.dashboard_partner_id'));
DROP POLICY IF EXISTS peer_dashboard ON commissions;
CREATE POLICY peer_dashboard ON commissions FOR SELECT TO pp_peer_partner
  USING (partner_id = peer_private.setting_id('peer.dashboard_partner_id'));
DROP POLICY IF EXISTS peer_dashboard ON payouts;
CREATE POLICY peer_dashboard ON payouts FOR SELECT TO pp_peer_partner
  USING (partner_id = peer_private.setting_id('peer.dashboard_partner_id'));
DROP POLICY IF EXISTS peer_dashboard ON partner_profiles;
CREATE POLICY peer_dashboard ON partner_profiles FOR SELECT TO pp_peer_partner
  USING (organization_id = peer_private.setting_id('peer.dashboard_partner_id'));

-- `viewer`: the signed-in user, or null (security definer: `users` grants some columns only, and
-- the function reads the row whole; GraphQL shows the granted columns)
CREATE OR REPLACE FUNCTION peer.viewer() RETURNS users
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT * FROM public.users WHERE id = nullif(current_setting('peer.user_id', true), '')::integer
$$;

-- `partnerDashboard`: the figures partner-portal's dashboard shows (resolvers/dashboard.py), in the
-- partner's payout currency; amounts in major units (the three currencies have two decimals).
-- Null when the viewer may not read them. Security invoker: the policies above apply too.
DROP FUNCTION IF EXISTS peer.partner_dashboard();
DROP TYPE IF EXISTS peer.dashboard;
CREATE TYPE peer.dashboard AS (
  customers integer,
  open_invitations integer,
  active_customers integer,
  trial_customers integer,
  currency text,
  total_commission numeric,
  paid_commission numeric,
  open_commission numeric
);
CREATE FUNCTION peer.partner_dashboard() RETURNS peer.dashboard
LANGUAGE plpgsql STABLE AS $$
DECLARE
  partner integer := nullif(current_setting('peer.dashboard_partner_id', true), '')::integer;
  figures peer.dashboard;
BEGIN
  IF partner IS NULL THEN
    RETURN NULL;
  END IF;
  -- the current customers counted by license status in one pass over the index
  -- (partner_id, ended_at, license_status), every other figure a scalar subquery, as partner-portal
  SELECT
    count(r.partner_id)::integer,
    (SELECT count(i.partner_id) FROM public.invitations i
      WHERE i.partner_id = partner AND i.status = 'OPEN' AND i.expires_at > now())::integer,
    (count(r.partner_id) FILTER (WHERE r.license_status = 'ACTIVE'))::integer,
    (count(r.partner_id) FILTER (WHERE r.license_status = 'TRIAL'))::integer,
    (SELECT pp.payout_currency FROM public.partner_profiles pp WHERE pp.organization_id = partner),
    NULL,
    (SELECT coalesce(sum(p.amount), 0) FROM public.payouts p WHERE p.partner_id = partner AND p.status = 'PAID'),
    (SELECT coalesce(sum(c.amount), 0) FROM public.commissions c
      WHERE c.partner_id = partner AND c.status IN ('PENDING', 'APPROVED'))
  INTO figures
  FROM public.customer_relationships r
  WHERE r.partner_id = partner AND r.ended_at IS NULL;
  figures.total_commission := round((figures.paid_commission + figures.open_commission) / 100.0, 2);
  figures.paid_commission := round(figures.paid_commission / 100.0, 2);
  figures.open_commission := round(figures.open_commission / 100.0, 2);
  RETURN figures;
END
$$;

GRANT EXECUTE ON FUNCTION peer.viewer(), peer.partner_dashboard() TO pp_peer_partner;
