"""Storage: schema creation races, price storage, id reuse."""

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import metadata
from core.migrations import current_revision, head_revision
from tests.procs import ROOT

ITEM = {"name": "Updated Item", "price": 19.99, "in_stock": True}


def test_processes_creating_the_schema_at_once_all_succeed(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = (
        "from core.config import Settings; from core.db import make_engine; from core.migrations import upgrade; "
        + (f"upgrade(make_engine(Settings(database_url={url!r}, _env_file=None)))")
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(6)]
    results = [(proc.wait(60), proc.stderr.read().decode()) for proc in procs]
    assert [code for code, _ in results] == [0] * 6, [err for _, err in results if err]


def test_deleted_ids_are_not_reused(client, writer):
    first = client.post("/items", json=ITEM, headers=writer).json()
    assert client.delete(f"/items/{first['id']}", headers=writer).status_code == 204
    second = client.post("/items", json=ITEM, headers=writer)
    assert second.json()["id"] == first["id"] + 1
    stale = client.put(f"/items/{first['id']}", json=ITEM, headers=writer | {"If-Match": '"1"'})
    assert stale.status_code == 412
    assert client.get(f"/items/{second.json()['id']}").json()["version"] == 1


def test_migrated_schema_matches_the_models(app, client):
    engine = app.state.engine
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert differences == []


def test_migrating_twice_is_a_no_op(app, client):
    from core.migrations import upgrade

    upgrade(app.state.engine)
    assert current_revision(app.state.engine) == head_revision()
