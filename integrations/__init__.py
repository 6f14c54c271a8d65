"""Outbound adapters, to systems outside the process: the OIDC provider's keys, SMTP and the mail
templates, outbound webhooks, and CSV cells a spreadsheet opens safely. Nothing here imports the
layers above (resolvers, schema, web); what calls into the portal over HTTP is in `web/`."""
