"""What a column can hold: the check of opaque inputs (cursors, global ids) before a query uses them.

A query argument its column cannot hold makes the query fail (PostgreSQL refuses a number beyond an
`integer` column's 2^31-1 or a `bigint`'s 2^63-1, and text with a NUL character), which a client
would see as an unexpected error. So cursor values and the numbers in global ids are checked
against their column first, and refused as BAD_USER_INPUT by the caller.
"""

from __future__ import annotations

import re

from tortoise import Tortoise
from tortoise.exceptions import ConfigurationError
from tortoise.fields import Field

from partner_portal.models.tortoise_internals import primary_key


def column_holds(field: Field, value: object) -> bool:
    """`value` is an integer within an integer column's range, text fitting a text column, or
    null in a nullable column."""
    if value is None:
        return field.null
    if field.field_type is int:
        return type(value) is int and field.constraints["ge"] <= value <= field.constraints["le"]
    if field.field_type is str:
        max_length = getattr(field, "max_length", None)
        return type(value) is str and "\x00" not in value and (max_length is None or len(value) <= max_length)
    return False  # cursors hold integers and text only (`encode_cursor` writes what `.values()` read)


# An id as the API writes it: positive, decimal, no sign or leading zero, at most 19 digits (64 bits).
PRIMARY_KEY = re.compile(r"[1-9][0-9]{0,18}")


# The global id types whose model has another name (every other type is named as its model).
MODEL_OF_TYPE = {"CouponInvoice": "Invoice"}


def primary_key_in(model_name: str, text: str) -> int | None:
    """The id written in `text` when the table of the model named `model_name` can hold it, else None
    (also for no such model). A global id's type name is its model's name (`Organization`), or the
    one `MODEL_OF_TYPE` gives."""
    try:
        model = Tortoise.apps.get_model("models", MODEL_OF_TYPE.get(model_name, model_name))
    except ConfigurationError:
        return None
    if not PRIMARY_KEY.fullmatch(text):
        return None
    number = int(text)
    return number if number <= primary_key(model).constraints["le"] else None
