"""Who may do what: the vocabulary (enums), the decisions (policy; partners for the partner side),
what each operation requires, declared once (requirements), the visible rows (scoping).

Pure Python and tortoise querysets; nothing here knows GraphQL.
"""
