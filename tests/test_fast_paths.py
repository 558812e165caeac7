"""The fast paths (read cache, group commit, prepared statements) answer exactly what the plain paths would."""

import asyncio
import gc
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update

from core import audit, gc_tuning
from core import items as store
from core.audit import RequestContext
from core.config import Settings
from core.database import MISSING, ReadCache
from core.db import audit_log, items, make_engine, single_read, users, write_transaction
from core.migrations import upgrade
from core.writer import WriteQueue
from main import create_app
from tests.dbs import ON_POSTGRES

ITEM = {"name": "Cached Item", "price": 19.99, "in_stock": True}


def elsewhere(app):
    """An engine of its own: commits through it come from another connection, as another process's would."""
    return create_engine(app.state.engine.url)


def test_a_cached_item_reflects_a_commit_from_another_connection(client, writer, app):
    item_id = client.post("/items", json=ITEM, headers=writer).json()["id"]
    first = client.get(f"/items/{item_id}")
    assert client.get(f"/items/{item_id}").json() == first.json()  # served from the cache the second time
    other = elsewhere(app)
    with other.begin() as conn:
        conn.execute(update(items).where(items.c.id == item_id).values(name="Changed", version=items.c.version + 1))
    other.dispose()
    again = client.get(f"/items/{item_id}")
    assert (again.json()["name"], again.json()["version"], again.headers["etag"]) == ("Changed", 2, '"2"')


def test_a_cached_page_reflects_writes_on_this_port_and_other_connections(client, writer, app):
    client.post("/items", json=ITEM, headers=writer)
    assert client.get("/items?limit=5").json()["total"] == 1
    client.post("/items", json=ITEM, headers=writer)
    assert client.get("/items?limit=5").json()["total"] == 2
    other = elsewhere(app)
    with other.begin() as conn:
        conn.execute(items.delete())
    other.dispose()
    assert client.get("/items?limit=5").json() == {"items": [], "total": 0, "limit": 5, "offset": 0}


def test_a_missing_item_cached_as_404_appears_once_created(client, writer):
    assert client.get("/items/1").status_code == 404
    assert client.post("/items", json=ITEM, headers=writer).json()["id"] == 1
    assert client.get("/items/1").status_code == 200


def test_disabling_a_user_elsewhere_stops_their_token_at_once(client, make_user, token_for, app):
    make_user("carol", "items:write")
    headers = {"Authorization": f"Bearer {token_for('carol', 'items:write')}"}
    assert client.get("/aaa/me", headers=headers).status_code == 200
    assert client.get("/aaa/me", headers=headers).status_code == 200  # the user row now comes from the cache
    other = elsewhere(app)
    with other.begin() as conn:
        conn.execute(update(users).where(users.c.username == "carol").values(disabled=True))
    other.dispose()
    assert client.get("/aaa/me", headers=headers).status_code == 401
    assert client.post("/items", json=ITEM, headers=headers).status_code == 401


def test_a_cached_access_decision_follows_scope_and_password_changes_elsewhere(client, make_user, token_for, app):
    make_user("dave", "items:write")
    headers = {"Authorization": f"Bearer {token_for('dave', 'items:write')}"}
    assert [client.post("/items", json=ITEM, headers=headers).status_code for _ in range(2)] == [201, 201]
    other = elsewhere(app)

    def change(**values) -> None:
        with other.begin() as conn:
            conn.execute(update(users).where(users.c.username == "dave").values(**values))

    change(scopes="")
    refused = client.post("/items", json=ITEM, headers=headers)
    assert (refused.status_code, refused.json()["detail"]) == (403, "Missing scope: items:write")
    change(scopes="items:write")
    assert client.post("/items", json=ITEM, headers=headers).status_code == 201
    change(tokens_valid_after=datetime.now(UTC))  # as a password change does
    other.dispose()
    assert client.post("/items", json=ITEM, headers=headers).status_code == 401


def test_the_cache_is_bounded_and_can_be_turned_off(client, settings, writer, app):
    for _ in range(3):
        client.post("/items", json=ITEM, headers=writer)
    small = create_app(settings.model_copy(update={"read_cache_entries": 2}))
    off = create_app(settings.model_copy(update={"read_cache_entries": 0}))
    for each in (small, off):
        with TestClient(each) as client:
            assert [client.get(f"/items/{n}").json()["id"] for n in (1, 2, 3, 1)] == [1, 2, 3, 1]
    assert len(small.state.db._cache._entries) <= 2
    assert not off.state.db._cache.enabled
    assert not app.state.db._cache.enabled if ON_POSTGRES else app.state.db._cache.enabled


def test_the_cache_holds_a_bounded_number_of_bytes():
    cache = ReadCache(max_entries=1000, max_bytes=10_000)
    cache.validate(1)
    for page in range(100):
        cache.put(("page", page), b"x" * 2_500)
        assert cache._bytes <= 10_000 and len(cache._entries) <= 4
    assert cache.get(("page", 99)) == b"x" * 2_500
    cache.validate(2)
    assert (cache.get(("page", 99)), cache._bytes) == (MISSING, 0)


def test_concurrent_writes_share_transactions_and_all_land(client, writer, monkeypatch):
    import core.writer

    batches = []
    real = core.writer.commit_batch
    monkeypatch.setattr(
        core.writer, "commit_batch", lambda engine, writes: batches.append(len(writes)) or real(engine, writes)
    )
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(client.post("/items", json=ITEM, headers=writer)))
        for _ in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [201] * 40
    assert sorted(r.json()["id"] for r in results) == list(range(1, 41))
    assert client.get("/items?limit=1").json()["total"] == 40
    if not ON_POSTGRES:
        assert sum(batches) == 40 and len(batches) < 40, batches  # some transactions carried several writes


def _queue_engine(tmp_path):
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'queue.db'}", _env_file=None))
    upgrade(engine)
    return engine


def test_one_failing_write_leaves_the_rest_of_its_batch_committed(tmp_path):
    engine = _queue_engine(tmp_path)
    queue = WriteQueue(engine)

    def create(name):
        return lambda conn: store.create_item(conn, {"name": name, "price": Decimal("1.00"), "in_stock": True})["id"]

    def broken(conn):
        store.create_item(conn, {"name": "half-done", "price": Decimal("1.00"), "in_stock": True})
        raise ValueError("refused")

    async def run():
        writes = [create("a"), broken, create("b"), create("c")]
        return await asyncio.gather(*(queue.submit(write) for write in writes), return_exceptions=True)

    outcomes = asyncio.run(run())
    queue.close()
    assert isinstance(outcomes[1], ValueError)
    assert [outcomes[0], outcomes[2], outcomes[3]] == [1, 2, 3]  # rerun one by one, in order; the batch left nothing
    with single_read(engine) as conn:
        names = conn.execute(select(items.c.name).order_by(items.c.id)).scalars().all()
    assert names == ["a", "b", "c"]  # the failed write's own insert was rolled back


def test_a_write_is_acknowledged_only_after_its_commit(tmp_path):
    engine = _queue_engine(tmp_path)
    queue = WriteQueue(engine)
    seen = []

    async def run():
        item_id = await queue.submit(lambda conn: store.create_item(conn, dict(ITEM, price=Decimal("2.50")))["id"])
        reader = create_engine(engine.url)
        with reader.connect() as conn:  # another connection sees it: committed, not merely executed
            seen.append(conn.execute(select(items.c.price_cents).where(items.c.id == item_id)).scalar_one())
        reader.dispose()

    asyncio.run(run())
    queue.close()
    assert seen == [250]


@pytest.mark.skipif(ON_POSTGRES, reason="prepared statements are the SQLite path; PostgreSQL runs them as Core")
def test_prepared_statements_return_what_sqlalchemy_returns(tmp_path):
    engine = _queue_engine(tmp_path)
    ctx = RequestContext("api-test", "rid-1", "127.0.0.1")
    with write_transaction(engine) as conn:
        created = store.create_item(conn, {"name": "Zoë", "price": Decimal("0.10"), "in_stock": False})
        updated = store.update_item(conn, created["id"], {"price": Decimal("12.34")})
        record_id = audit.record(conn, ctx, actor="x", action="item.update", target="1", status_code=200)
    with single_read(engine) as conn:
        plain = dict(conn.execute(select(items).where(items.c.id == created["id"])).one()._mapping)
        fetched = store.get_item(conn, created["id"])
        logged = dict(conn.execute(select(audit_log).where(audit_log.c.id == record_id)).one()._mapping)
    assert (created["version"], updated["version"], fetched["version"]) == (1, 2, 2)
    assert fetched["price"] == Decimal("12.34") and plain["price_cents"] == 1234
    assert fetched["name"] == plain["name"] == "Zoë" and fetched["in_stock"] is False
    assert fetched["created_at"] == plain["created_at"] and fetched["created_at"].tzinfo is not None
    assert fetched["updated_at"] == updated["updated_at"] > created["updated_at"]
    assert (logged["actor"], logged["status_code"], logged["request_id"]) == ("x", 200, "rid-1")


def test_native_opentelemetry_is_off_unless_asked_for(settings):
    assert create_app(settings)._telemetry["tracing"] is False
    on = create_app(settings.model_copy(update={"otel_enabled": True}))
    assert (on._telemetry["tracing"], on._telemetry["metrics"]) == (True, True)


def test_access_lines_escape_what_a_client_controls(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/items/%0AINFO%20forged", headers={"X-Request-ID": "bad\nid"})
        client.get("/items/caf%C3%A9")
    lines = [record.getMessage() for record in caplog.records if record.name == "app.access"]
    assert '"GET /items/\\nINFO forged" 422' in lines[0] and "\n" not in lines[0]
    assert '"GET /items/caf\\xe9" 422' in lines[1]


def test_the_collector_is_settled_while_an_app_serves_and_restored_after(settings):
    before = gc.get_threshold()
    with TestClient(create_app(settings.model_copy(update={"gc_threshold": 5000}))) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_threshold() == (5000, *before[1:])
        assert gc.get_freeze_count() > 1000  # what startup built is out of the collector's walks
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
    with gc_tuning.settled(0):  # 0: the collector as Python set it
        assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
    with gc_tuning.settled(5000):
        with gc_tuning.settled(5000):  # two apps serving at once: the first to stop keeps the other's setting
            pass
        assert gc.get_threshold()[0] == 5000 and gc.get_freeze_count() > 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
