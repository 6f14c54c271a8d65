"""Adapters to systems outside the process: the OIDC provider, SMTP, Stripe, webhooks."""
