"""Small-scale twin of bench W2/W3: an unchanged re-scrape writes nothing, 1% changed writes 1%.

The benchmark asserts the same at 100k objects with a clock; here only the counts are checked.
"""

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.db import connection

from bench import data
from bench.ingest import ensure_scraper, ingest_objects
from catalog.models import ConfigChange, ConfigItem

pytestmark = pytest.mark.django_db

SIZE = 2_000
SEED = 1
CHANGED = 20  # 1%, as W3's 1,000 of 100k
WRITE_TABLES = ("catalog_configitem", "catalog_configchange", "catalog_configrelationship")


def objects(changes: int = 0) -> Iterator[dict[str, Any]]:
    stream = data.generate(SIZE, SEED)
    return data.changed(stream, data.change_plan(SIZE, SEED, changes)) if changes else stream


def rows_written() -> int:
    """Writes this transaction made so far: the test runs inside one, so xact stats see it all."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
            "FROM pg_stat_xact_user_tables WHERE relname = ANY(%s)",
            [list(WRITE_TABLES)],
        )
        return int(cur.fetchone()[0])


@pytest.fixture
def catalog() -> None:
    ensure_scraper()
    ingest_objects(objects())


def test_fresh_ingest_stores_every_object_and_the_cluster(catalog: None) -> None:
    assert ConfigItem.objects.filter(deleted_at__isnull=True).count() == SIZE + 1


def test_unchanged_rescrape_writes_no_rows(catalog: None) -> None:
    before = rows_written()

    stats = ingest_objects(objects())

    assert rows_written() - before == 0
    assert stats.unchanged == SIZE + 1


def test_one_percent_changed_writes_one_diff_change_row_each(catalog: None) -> None:
    ingest_objects(objects(changes=CHANGED))

    changes = ConfigChange.objects.all()
    assert changes.count() == CHANGED
    assert all(c.change_type == "diff" and c.diff for c in changes)


def test_data_set_is_byte_identical_for_the_same_seed() -> None:
    first = b"".join(orjson.dumps(o) for o in data.generate(300, 7))
    second = b"".join(orjson.dumps(o) for o in data.generate(300, 7))

    assert first == second
