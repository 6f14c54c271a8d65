"""Business logic, one module per domain: plain async functions taking (actor, arguments).

Every read goes through `permissions.scoping`, every write through `permissions.policy`.
"""
