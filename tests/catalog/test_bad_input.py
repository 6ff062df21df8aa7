"""Hostile or broken documents: a clear error naming the file and document, the rest ingested."""

import pytest

from catalog.models import ConfigItem
from tests.catalog.scrape_helpers import file_scraper, run_now

pytestmark = pytest.mark.django_db

GOOD = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: shop}}
data: {{k: v}}
"""

ALIAS_BOMB = """
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def errors_for(run, file_name):
    return [e for e in run.error_list if e["item"].startswith(file_name)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n", "invalid YAML"),
        (ALIAS_BOMB.encode(), "nodes"),
        (b"apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n",
         "duplicate key 'kind' at line 3"),
        (b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n", "not UTF-8"),
    ],
    ids=["malformed", "alias-bomb", "duplicate-keys", "non-utf8"],
)
def test_bad_document_is_reported_and_the_rest_still_ingested(manifests, content, expected):
    manifests("good.yaml", GOOD.format(name="survivor"))
    bad = manifests("bad.yaml", "")
    bad.write_bytes(content)

    run = run_now(file_scraper(bad.parent))

    assert run.status == "partial"
    [error] = errors_for(run, "bad.yaml#0")
    assert expected in error["message"]
    assert error["scraper"] == "file[0]"
    assert ConfigItem.objects.filter(name="survivor").exists()


def test_one_bad_document_in_a_stream_does_not_hide_its_neighbours(manifests):
    folder = manifests("multi.yaml", GOOD.format(name="first") + "---\nkey: [broken\n---\n"
                       + GOOD.format(name="third")).parent

    run = run_now(file_scraper(folder))

    assert {e["item"] for e in run.error_list} == {"multi.yaml#1"}
    assert set(ConfigItem.objects.filter(type="Kubernetes::ConfigMap").values_list(
        "name", flat=True)) == {"first", "third"}


def test_bad_input_never_loses_what_is_already_stored(manifests):
    path = manifests("cm.yaml", GOOD.format(name="kept"))
    config = file_scraper(path.parent)
    run_now(config)
    path.write_bytes(b"\xff\xfe not yaml at all")

    run = run_now(config)

    assert run.status == "partial" and run.deleted == 0
    assert ConfigItem.objects.get(name="kept").deleted_at is None


def test_oversized_document_is_stored_truncated_and_flagged_without_diff(manifests, settings):
    settings.FLIGHTDECK_MAX_DOCUMENT_BYTES = 2_000
    big = "x" * 5_000
    path = manifests("big.yaml", GOOD.format(name="huge").replace("k: v", f"k: {big}"))
    config = file_scraper(path.parent)

    run = run_now(config)

    item = ConfigItem.objects.get(name="huge")
    assert item.config_truncated and item.config["truncated"] is True
    assert any("over the 2000-byte limit" in line for line in
               run.log_lines.values_list("line", flat=True))
    path.write_text(path.read_text().replace(big, big + "y"))
    run = run_now(config)
    assert run.updated == 1 and run.changes == 0


def test_bad_cel_mapping_names_the_document_and_ingests_the_others(manifests):
    folder = manifests("things.yaml", "id: a\nname: alpha\n---\nid: b\n").parent
    config = file_scraper(folder, entry={"type": "Thing::Widget", "id": "config.id",
                                         "name": "config.name"})

    run = run_now(config)

    assert [e["item"] for e in run.error_list] == ["things.yaml#1"]
    assert "mapping expression failed" in run.error_list[0]["message"]
    assert ConfigItem.objects.filter(type="Thing::Widget", name="alpha").exists()
