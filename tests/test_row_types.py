"""Row types: a strawberry type built from a resolver's `.values()` rows, declared once and checked at import."""

from __future__ import annotations

import pytest
import strawberry
from strawberry.relay import GlobalID

import partner_portal.schema  # noqa: F401 — imports every schema module, so every row type is declared
from partner_portal.models.enums import LicenseStatus
from partner_portal.schema.rows import IdOf, RowType, member, row_type

COLUMNS = ("id", "partner_id", "partner__name", "amount_bp")


def declare(columns: tuple[str, ...] = COLUMNS, **sources):
    @row_type(columns, **sources)
    @strawberry.type(description="A line.")
    class Line(RowType):
        id: GlobalID | None
        partner_name: str
        percent: float
        _partner_id: strawberry.Private[int]

    return Line


def test_a_row_type_copies_columns_of_its_field_names_and_computes_the_rest():
    line_type = declare(id=IdOf("Line", "id"), partner_name="partner__name", percent=lambda row: row["amount_bp"] / 100)

    line = line_type.from_row({"id": 7, "partner_id": 3, "partner__name": "Fabrikam", "amount_bp": 2050})

    assert line == line_type(id=GlobalID("Line", "7"), partner_name="Fabrikam", percent=20.5, _partner_id=3)


def test_a_field_whose_column_the_resolver_does_not_read_fails_at_declaration():
    with pytest.raises(TypeError, match=r"reads \['partner__name'\]"):
        declare(
            ("id", "partner_id", "amount_bp"),
            id=IdOf("Line", "id"),
            partner_name="partner__name",
            percent=lambda row: 0.0,
        )


def test_a_source_for_no_field_fails_at_declaration():
    with pytest.raises(TypeError, match=r"has no fields \['name'\]"):
        declare(id=IdOf("Line", "id"), partner_name="partner__name", percent=lambda row: 0.0, name="partner__name")


def test_every_row_type_of_the_schema_is_declared():
    def subclasses(cls: type) -> list[type]:
        return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]

    undeclared = [
        cls.__name__
        for cls in subclasses(RowType)
        if cls.__module__.startswith("partner_portal.") and "row_sources" not in vars(cls)
    ]

    assert undeclared == []


def test_an_enum_column_becomes_its_member_whether_stored_as_member_or_value():
    assert member(LicenseStatus, LicenseStatus.TRIAL) is LicenseStatus.TRIAL  # tortoise's enum columns
    assert member(LicenseStatus, "TRIAL") is LicenseStatus.TRIAL  # JSON columns
    with pytest.raises(ValueError, match="NOT_A_STATUS"):  # as `LicenseStatus(value)` would
        member(LicenseStatus, "NOT_A_STATUS")
