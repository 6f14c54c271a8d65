"""Request guards: what every GraphQL request passes before and while it runs (query cost and
budgets, selection and sign-in limits, the text guard, and the per-query-text caches they share)."""
