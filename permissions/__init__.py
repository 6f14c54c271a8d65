"""Who may do what: the vocabulary (enums), the decisions (policy), the visible rows (scoping).

Pure Python and tortoise querysets; nothing here knows GraphQL.
"""
