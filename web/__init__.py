"""The web edge: everything that speaks HTTP to a caller of the portal.

The GraphQL view and its guards (media types, body limits, idempotency, outage answers, error
bodies) and the inbound endpoints (Stripe webhooks, the affiliate redirect, CSV reports, health).
`server.py` mounts them; calls that leave the process are in `integrations/`. The web edge may
import every layer below it; no layer imports it back (tests/test_layers.py).
"""
