"""An operation sent again is not validated again: the validation cache must hit, with the
depth and alias limits on (strawberry's limiters made new rules per request, which defeated it)."""

from __future__ import annotations

import strawberry.schema.schema

PROBE = "query ValidationCacheProbe { __typename a: __typename }"


async def test_an_operation_sent_again_is_not_validated_again(api, monkeypatch):
    validations = []
    validate = strawberry.schema.schema.validate

    def counting_validate(*args, **kwargs):
        validations.append(args[1])
        return validate(*args, **kwargs)

    monkeypatch.setattr(strawberry.schema.schema, "validate", counting_validate)
    # Given the probe operation sent once
    first = await api.post(PROBE)
    assert first["data"] == {"__typename": "Query", "a": "Query"}
    once = len(validations)

    # When it is sent again
    second = await api.post(PROBE)

    # Then it is answered alike without being validated again
    assert second["data"] == first["data"]
    assert once <= 1
    assert len(validations) == once
