"""Query budgets and look-up limits shared by several servers through a real Redis
(`RATE_LIMIT_STORAGE=redis://…`, the README's setting for more than one worker).

Two uvicorn processes stand for two workers: what a client spends on one counts on the other.
In memory (the default) each process would count alone, and every refusal below would be an
answer. The tests use the Redis database `TEST_REDIS_URL` (default 127.0.0.1:6379, database
13) and empty it first; without a Redis they are skipped, but not in CI (`CI=true`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from partner_portal.permissions.actor import Actor
from partner_portal.permissions.enums import ApiKeyScope, Via
from partner_portal.resolvers.identity import issue_api_key
from tests.conftest import free_port, start_api, test_settings
from tests.servers import Server
from tests.support import create_api_key, operator, register

RATES = "{ exchangeRates(first: 10) { edges { node { currency } } } }"  # costs 21 points
CHECK = "query Check($code: String!) { discountCode(code: $code) { valid } }"


@pytest.fixture
async def two_servers(api, redis_url) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two servers on the test's database, counting in Redis: 100 points a minute and 3 look-ups."""
    environment = {
        "RATE_LIMIT_STORAGE": redis_url,
        "QUERY_BUDGET": "100",
        "MAX_QUERY_COST": "100",
        "CODE_LOOKUP_RATE": "3/minute",
    }
    servers = [Server(api.settings.database_url, environment) for _ in range(2)]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        async with httpx.AsyncClient(base_url=servers[0].url) as one, httpx.AsyncClient(base_url=servers[1].url) as two:
            yield one, two
    finally:
        for server in servers:
            await server.kill()


async def graphql(client: httpx.AsyncClient, query: str, variables: dict | None = None, **headers: str) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    return response.json()


def refused(body: dict) -> bool:
    return [error["extensions"]["code"] for error in body.get("errors", [])] == ["THROTTLED"]


@pytest.mark.slow  # two server processes
async def test_what_a_client_spends_on_one_server_counts_on_the_other(api, two_servers):
    # given
    one, two = two_servers
    bearer = {"authorization": f"Bearer {(await register(api, 'busy@example.com')).token}"}
    other = {"authorization": f"Bearer {(await register(api, 'other@example.com')).token}"}

    # when: 4 × 21 points, two on each server
    answers = [await graphql(server, RATES, **bearer) for server in (one, two, one, two)]

    # then: the fifth fits on neither (16 points are left of 100)
    assert [refused(body) for body in answers] == [False] * 4
    assert answers[-1]["extensions"]["cost"]["remaining"] <= 100 - 4 * 21 + 1  # the previous minute may fade a point
    assert refused(await graphql(one, RATES, **bearer))
    assert refused(await graphql(two, RATES, **bearer))
    assert not refused(await graphql(two, RATES, **other))  # a budget per client


@pytest.mark.slow  # two server processes
async def test_look_ups_on_one_server_count_on_the_other(api, two_servers):
    # given
    one, two = two_servers
    key = await create_api_key(api, await operator(api), ["BILLING_WRITE"], "Checkout")

    # when: 3 look-ups a minute, two on one server, one on the other
    answers = [await graphql(server, CHECK, {"code": "AAAAAAAAAA"}, **{"x-api-key": key}) for server in (one, one, two)]

    # then
    assert [body["data"]["discountCode"]["valid"] for body in answers] == [False] * 3
    assert refused(await graphql(two, CHECK, {"code": "AAAAAAAAAA"}, **{"x-api-key": key}))
    assert refused(await graphql(one, CHECK, {"code": "AAAAAAAAAA"}, **{"x-api-key": key}))


# --- Redis unreachable ---------------------------------------------------------------------------------


@pytest.fixture
async def without_redis(database_url):
    """The app counting in a Redis that does not answer (nothing listens on the port)."""
    settings = test_settings(database_url, rate_limit_storage=f"redis://127.0.0.1:{free_port()}")
    async for running in start_api(settings):
        yield running


def is_limits_outage(response: httpx.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 503
        and response.headers.get("retry-after") == "5"
        and "data" not in body
        and [error["extensions"]["code"] for error in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    )


async def test_without_redis_a_query_is_a_503_service_unavailable_with_retry_after(without_redis):
    # when
    response = await without_redis.client.post("/graphql", json={"query": "{ viewer { user { id } } }"})

    # then
    assert is_limits_outage(response), (response.status_code, response.text)
    assert "rate limits" in response.json()["errors"][0]["message"]


async def test_without_redis_a_limited_look_up_is_a_503_service_unavailable(database_url):
    # given: no query budget, so the look-up limit is the first to need Redis
    settings = test_settings(database_url, rate_limit_storage=f"redis://127.0.0.1:{free_port()}", query_budget=0)
    async for running in start_api(settings):
        key = (await issue_api_key(Actor(via=Via.CLI), "Checkout", [ApiKeyScope.BILLING_WRITE])).key  # as the CLI does

        # when
        response = await running.client.post(
            "/graphql", json={"query": CHECK, "variables": {"code": "AAAAAAAAAA"}}, headers={"x-api-key": key}
        )

        # then
        assert response.status_code == 503, response.text
        assert response.headers.get("retry-after") == "5"
        assert [error["extensions"]["code"] for error in response.json()["errors"]] == ["SERVICE_UNAVAILABLE"]


async def test_readyz_is_503_while_redis_does_not_answer(without_redis):
    # when
    response = await without_redis.client.get("/readyz")

    # then
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "migrations": "ok",
        "rateLimitStorage": "unreachable",
    }


async def test_readyz_is_200_with_a_redis_that_answers(database_url, redis_url):
    async for running in start_api(test_settings(database_url, rate_limit_storage=redis_url)):
        response = await running.client.get("/readyz")

        assert response.status_code == 200
        assert response.json()["rateLimitStorage"] == "ok"
