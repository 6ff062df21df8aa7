"""The search language on real PostgreSQL rows: documented examples, indexes, bound params."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import ConfigChange, ConfigItem, ConfigRelationship, ScrapeConfig
from catalog.search import SearchError, facets, filter_changes, filter_items

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Catalog:
    items: dict[str, ConfigItem]

    def names(self, text: str, **kwargs: Any) -> set[str]:
        result = filter_items(ConfigItem.objects.all(), text, user=None, now=NOW, **kwargs)
        return {item.name for item in result.queryset}

    def ordered(self, text: str) -> list[str]:
        result = filter_items(ConfigItem.objects.all(), text, user=None, now=NOW)
        rows = result.queryset[result.offset :]
        if result.limit is not None:
            rows = rows[: result.limit]
        return [item.name for item in rows]

    def id(self, name: str) -> str:
        return str(self.items[name].id)


def item(name: str, type_: str, **fields: Any) -> ConfigItem:
    fields.setdefault("updated_at", NOW - timedelta(days=10))
    return ConfigItem.objects.create(id=uuid.uuid4(), name=name, type=type_, **fields)


@pytest.fixture
def catalog(db: None) -> Catalog:
    scraper = ScrapeConfig.objects.create(namespace="platform", name="kube", spec={})
    rows = [
        item(
            "nginx-web",
            "Kubernetes::Deployment",
            namespace="payments",
            health="healthy",
            status="Running",
            labels={"app": "checkout", "owner": "team-a"},
            tags={"cluster": "prod-eu-1", "environment": "production"},
            config={
                "spec": {"replicas": 5},
                "metadata": {"creationTimestamp": "2025-05-31T20:00:00Z"},
            },
            updated_at=NOW - timedelta(hours=1),
            scraper=scraper,
            external_ids=["kubernetes/prod-eu-1/Deployment/payments/nginx-web"],
            properties=[{"name": "image", "text": "nginx:1.27"}, {"name": "cpu", "value": 4}],
        ),
        item(
            "nginx-canary-1",
            "Kubernetes::Pod",
            namespace="payments",
            health="unhealthy",
            status="CrashLoopBackOff",
            labels={"app": "checkout"},
            tags={"cluster": "prod-us-1", "environment": "staging"},
            updated_at=NOW - timedelta(days=2),
        ),
        item(
            "test-api",
            "Kubernetes::Pod",
            namespace="payments",
            health="warning",
            status="Running",
            labels={"app": "checkout"},
            tags={"cluster": "dev-1"},
            updated_at=NOW - timedelta(hours=3),
        ),
        item(
            "api",
            "Kubernetes::Deployment",
            namespace="shop",
            health="healthy",
            status="Running",
            tags={"cluster": "prod-eu-1"},
            config={"spec": {"replicas": 2}},
            ready=True,
        ),
        item(
            "checkout-db",
            "Kubernetes::Deployment",
            namespace="payments",
            health="healthy",
            labels={"app": "checkout", "owner": "team-b"},
            config={"spec": {"replicas": 3}},
        ),
        item(
            "odd-replicas",
            "Kubernetes::Deployment",
            namespace="shop",
            health="unknown",
            config={"spec": {"replicas": "many"}},
        ),
        item(
            "batch-job",
            "Kubernetes::Job",
            namespace="payments",
            health="healthy",
            status="Complete",
        ),
        item(
            "worker-0",
            "Kubernetes::Pod",
            namespace="jobs",
            health="unknown",
            status="CrashLoopBackOff",
        ),
        item("i-0abc", "AWS::EC2::Instance", health="healthy", config_class="VirtualMachine"),
        item("podinfo", "Kubernetes::Service", namespace="shop", health="healthy"),
        item("old-ns", "Kubernetes::Namespace", deleted_at=NOW - timedelta(days=2)),
        item("ancient-ns", "Kubernetes::Namespace", deleted_at=NOW - timedelta(days=30)),
        item("live-ns", "Kubernetes::Namespace"),
    ]
    items = {row.name: row for row in rows}
    rs = item(
        "nginx-web-rs",
        "Kubernetes::ReplicaSet",
        namespace="payments",
        health="unhealthy",
        parent=items["nginx-web"],
    )
    pod = item(
        "nginx-web-rs-x1", "Kubernetes::Pod", namespace="payments", health="unhealthy", parent=rs
    )
    svc = item("nginx-svc", "Kubernetes::Service", namespace="payments", health="unhealthy")
    gone = item("gone-svc", "Kubernetes::Service", namespace="payments", health="unhealthy")
    ingress = item("nginx-ingress", "Kubernetes::Ingress", namespace="payments", health="unhealthy")
    items.update({row.name: row for row in (rs, pod, svc, gone, ingress)})
    ConfigRelationship.objects.create(
        config=items["nginx-web"], related=svc, relation="DeploymentService"
    )
    ConfigRelationship.objects.create(
        config=items["nginx-web"], related=gone, relation="DeploymentService", deleted_at=NOW
    )
    ConfigRelationship.objects.create(
        config=ingress, related=items["nginx-web"], relation="IngressDeployment"
    )
    # A cycle, so the walk must stop by depth and its visited set.
    ConfigRelationship.objects.create(
        config=svc, related=items["nginx-web"], relation="ServiceDeployment"
    )
    return Catalog(items)


# -- documented examples ------------------------------------------------------------------


def test_bare_word_is_a_name_prefix(catalog: Catalog) -> None:
    assert catalog.names("nginx") == {
        "nginx-web",
        "nginx-canary-1",
        "nginx-web-rs",
        "nginx-web-rs-x1",
        "nginx-svc",
        "nginx-ingress",
    }


def test_bare_word_is_case_insensitive(catalog: Catalog) -> None:
    assert catalog.names("NGINX-WEB") == {"nginx-web", "nginx-web-rs", "nginx-web-rs-x1"}


def test_full_type_and_health(catalog: Catalog) -> None:
    assert catalog.names("type=Kubernetes::Pod health=unhealthy") == {
        "nginx-canary-1",
        "nginx-web-rs-x1",
    }


def test_short_types_and_health_lists(catalog: Catalog) -> None:
    assert catalog.names("type=pod,deployment health=unhealthy,warning") == {
        "nginx-canary-1",
        "test-api",
        "nginx-web-rs-x1",
    }


def test_or_binds_across_fields(catalog: Catalog) -> None:
    assert catalog.names("health=unhealthy | status=CrashLoopBackOff") == {
        "nginx-canary-1",
        "worker-0",
        "nginx-web-rs",
        "nginx-web-rs-x1",
        "nginx-svc",
        "gone-svc",
        "nginx-ingress",
    }


def test_parentheses_group_an_or(catalog: Catalog) -> None:
    assert catalog.names("(type=pod | type=job) namespace=payments") == {
        "nginx-canary-1",
        "test-api",
        "batch-job",
        "nginx-web-rs-x1",
    }


def test_infix_wildcard(catalog: Catalog) -> None:
    assert catalog.names("*-canary*") == {"nginx-canary-1"}


def test_negated_bare_word_and_label(catalog: Catalog) -> None:
    assert catalog.names("-test labels.app=checkout") == {
        "nginx-web",
        "nginx-canary-1",
        "checkout-db",
    }


def test_missing_label(catalog: Catalog) -> None:
    assert catalog.names("!labels.owner type=Kubernetes::Deployment") == {"api", "odd-replicas"}


def test_tag_prefix_and_tag_inequality(catalog: Catalog) -> None:
    assert catalog.names("tags.cluster=prod-* tags.environment!=staging") == {
        "nginx-web",
        "api",
    }


def test_numeric_config_path(catalog: Catalog) -> None:
    assert catalog.names("config.spec.replicas>3 type=deployment") == {"nginx-web"}


def test_relative_date_and_order(catalog: Catalog) -> None:
    assert catalog.ordered("updated_at>now-24h health!=healthy @order=-updated_at") == [
        "test-api",
    ]
    assert catalog.ordered("updated_at>now-3d health!=healthy @order=-updated_at") == [
        "test-api",
        "nginx-canary-1",
    ]


def test_related_downstream_within_two_hops(catalog: Catalog) -> None:
    text = f"related={catalog.id('nginx-web')},direction=outgoing,depth=2 health=unhealthy"
    assert catalog.names(text) == {"nginx-web-rs", "nginx-web-rs-x1", "nginx-svc"}


def test_most_expensive_items_over_a_cost(catalog: Catalog) -> None:
    ConfigItem.objects.filter(name="nginx-web").update(cost_total_30d=900)
    ConfigItem.objects.filter(name="test-api").update(cost_total_30d=600)
    ConfigItem.objects.filter(name="nginx-svc").update(cost_total_30d=100)

    assert catalog.ordered("cost_total_30d>500 @order=-cost_total_30d limit=20") == [
        "nginx-web", "test-api"]


def test_deleted_items_appear_when_the_query_asks(catalog: Catalog) -> None:
    assert catalog.names("deleted_at>now-7d type=Kubernetes::Namespace") == {"old-ns"}


def test_change_example(catalog: Catalog) -> None:
    web, canary = catalog.items["nginx-web"], catalog.items["nginx-canary-1"]
    recent = ConfigChange.objects.create(
        config=web, change_type="ImageUpdated", fingerprint="a", created_at=NOW - timedelta(hours=1)
    )
    ConfigChange.objects.create(
        config=web, change_type="ImageUpdated", fingerprint="b", created_at=NOW - timedelta(hours=3)
    )
    ConfigChange.objects.create(
        config=canary,
        change_type="ImageUpdated",
        fingerprint="c",
        created_at=NOW - timedelta(hours=1),
    )
    ConfigChange.objects.create(
        config=web, change_type="diff", fingerprint="d", created_at=NOW - timedelta(minutes=5)
    )
    text = "change_type=ImageUpdated config.tags.cluster=prod-eu-1 created_at>now-2h"
    result = filter_changes(ConfigChange.objects.all(), text, user=None, now=NOW)
    assert list(result.queryset) == [recent]


# -- more of the language -------------------------------------------------------------------


def test_deleted_items_are_hidden_by_default(catalog: Catalog) -> None:
    assert catalog.names("type=namespace") == {"live-ns"}


def test_include_deleted_flag_shows_them(catalog: Catalog) -> None:
    assert catalog.names("type=namespace", include_deleted=True) == {
        "live-ns",
        "old-ns",
        "ancient-ns",
    }


def test_alias_deleted_counts_as_asking(catalog: Catalog) -> None:
    assert catalog.names("deleted<now-7d") == {"ancient-ns"}


def test_type_short_form_does_not_match_other_segments(catalog: Catalog) -> None:
    assert catalog.names("type=instance") == {"i-0abc"}
    assert catalog.names("type=ec2") == set()


def test_type_prefix_wildcard(catalog: Catalog) -> None:
    assert catalog.names("type=AWS::*") == {"i-0abc"}


def test_enum_values_are_case_insensitive(catalog: Catalog) -> None:
    assert catalog.names("health=UNHEALTHY type=pod") == {"nginx-canary-1", "nginx-web-rs-x1"}


def test_unknown_enum_value_lists_the_values(catalog: Catalog) -> None:
    with pytest.raises(SearchError) as error:
        catalog.names("health=sick")
    assert error.value.position == 7
    assert "healthy, unhealthy, warning, unknown" in str(error.value)


def test_suffix_wildcard(catalog: Catalog) -> None:
    assert catalog.names("*-rs") == {"nginx-web-rs"}


def test_name_equality_is_exact_but_case_insensitive(catalog: Catalog) -> None:
    assert catalog.names("name=API") == {"api"}


def test_quoted_word_is_literal(catalog: Catalog) -> None:
    assert catalog.names('name="nginx*"') == set()


def test_label_wildcard_and_existence(catalog: Catalog) -> None:
    assert catalog.names("labels.owner=TEAM-*") == {"nginx-web", "checkout-db"}
    assert catalog.names("labels.owner") == {"nginx-web", "checkout-db"}


def test_label_value_any(catalog: Catalog) -> None:
    assert catalog.names("labels.owner=*") == {"nginx-web", "checkout-db"}


def test_negated_label_equality_keeps_items_without_the_label(catalog: Catalog) -> None:
    assert "api" in catalog.names("labels.app!=checkout")
    assert "nginx-web" not in catalog.names("labels.app!=checkout")


def test_negated_config_comparison_keeps_items_without_the_key(catalog: Catalog) -> None:
    names = catalog.names("!config.spec.replicas>3 type=deployment")
    assert names == {"api", "checkout-db", "odd-replicas"}


def test_config_equality_as_text_and_number(catalog: Catalog) -> None:
    assert catalog.names("config.spec.replicas=3") == {"checkout-db"}
    assert catalog.names("config.spec.replicas=many") == {"odd-replicas"}


def test_config_numeric_comparison_skips_non_numbers(catalog: Catalog) -> None:
    assert catalog.names("config.spec.replicas>=0") == {"nginx-web", "api", "checkout-db"}


def test_config_timestamps_compare_as_dates(catalog: Catalog) -> None:
    assert catalog.names("config.metadata.creationTimestamp>now-1d") == {"nginx-web"}
    assert catalog.names("config.metadata.creationTimestamp<2025-06-01") == {"nginx-web"}
    assert catalog.names("config.metadata.creationTimestamp>2025-05-31") == set()
    assert catalog.names("config.metadata.creationTimestamp<=2025-05-31") == {"nginx-web"}


def test_date_like_text_that_is_no_date_compares_as_text(catalog: Catalog) -> None:
    assert catalog.names("config.metadata.creationTimestamp>2025-05-31-rc1") == {"nginx-web"}


def test_not_equal_list_excludes_every_value(catalog: Catalog) -> None:
    assert catalog.names("type!=pod,deployment,replicaset,service,namespace,ingress") == {
        "batch-job",
        "i-0abc",
    }


def test_properties(catalog: Catalog) -> None:
    assert catalog.names("properties.image=nginx:*") == {"nginx-web"}
    assert catalog.names("properties.cpu>2") == {"nginx-web"}
    assert catalog.names("properties.cpu") == {"nginx-web"}


def test_external_id_exact_and_wildcard(catalog: Catalog) -> None:
    alias = "kubernetes/prod-eu-1/Deployment/payments/nginx-web"
    assert catalog.names(f"external_id={alias}") == {"nginx-web"}
    assert catalog.names("external_id=kubernetes/prod-eu-1/*") == {"nginx-web"}
    assert catalog.names("external_id=*/NGINX-WEB") == {"nginx-web"}


def test_scraper_by_name_and_namespace_name(catalog: Catalog) -> None:
    assert catalog.names("scraper=kube") == {"nginx-web"}
    assert catalog.names("scraper=platform/kube") == {"nginx-web"}


def test_agent_by_name(catalog: Catalog) -> None:
    live = set(ConfigItem.objects.filter(deleted_at__isnull=True).values_list("name", flat=True))
    assert catalog.names("agent=local") == live
    assert catalog.names("agent=elsewhere") == set()


def test_ready_bool(catalog: Catalog) -> None:
    assert catalog.names("ready=true") == {"api"}


def test_class_field(catalog: Catalog) -> None:
    assert catalog.names("class=virtualmachine") == {"i-0abc"}


def test_id_field(catalog: Catalog) -> None:
    assert catalog.names(f"id={catalog.id('api')}") == {"api"}


def test_bad_date_says_where(catalog: Catalog) -> None:
    with pytest.raises(SearchError) as error:
        catalog.names("updated_at>yesterday")
    assert error.value.position == 11


def test_iso_date_means_the_whole_day(catalog: Catalog) -> None:
    day = (NOW - timedelta(days=2)).date().isoformat()
    assert catalog.names(f"updated_at={day}") == {"nginx-canary-1"}
    assert catalog.names(f"deleted_at={day}") == {"old-ns"}


def test_rfc3339_instant(catalog: Catalog) -> None:
    assert catalog.names("updated_at>=2025-06-01T10:30:00Z") == {"nginx-web"}


def test_related_kinds_and_directions(catalog: Catalog) -> None:
    web = catalog.id("nginx-web")
    assert catalog.names(f"related={web},direction=outgoing,depth=1") == {
        "nginx-web-rs",
        "nginx-svc",
    }
    assert catalog.names(f"related={web},direction=outgoing,kind=hard") == {
        "nginx-web-rs",
        "nginx-web-rs-x1",
    }
    assert catalog.names(f"related={web},direction=incoming,depth=1,kind=soft") == {
        "nginx-ingress",
        "nginx-svc",
    }
    assert catalog.names(f"related={catalog.id('nginx-web-rs-x1')},direction=incoming") == {
        "nginx-web-rs",
        "nginx-web",
        "nginx-ingress",
        "nginx-svc",
    }


def test_related_ignores_deleted_relationships(catalog: Catalog) -> None:
    assert "gone-svc" not in catalog.names(f"related={catalog.id('nginx-web')}")


def test_related_on_changes_reaches_the_items(catalog: Catalog) -> None:
    ConfigChange.objects.create(
        config=catalog.items["nginx-svc"], change_type="diff", fingerprint="x"
    )
    ConfigChange.objects.create(config=catalog.items["api"], change_type="diff", fingerprint="y")
    result = filter_changes(
        ConfigChange.objects.all(), f"config.related={catalog.id('nginx-web')}", user=None, now=NOW
    )
    assert [change.config.name for change in result.queryset] == ["nginx-svc"]


def test_bare_word_on_changes_is_the_item_name(catalog: Catalog) -> None:
    ConfigChange.objects.create(
        config=catalog.items["api"],
        change_type="diff",
        fingerprint="y",
        details={"kind": "Scale/v1", "replicas": 4},
    )
    result = filter_changes(ConfigChange.objects.all(), "ap details.replicas>3", user=None, now=NOW)
    assert result.queryset.count() == 1


def test_change_severity_orders(catalog: Catalog) -> None:
    for severity in ("info", "medium", "critical"):
        ConfigChange.objects.create(
            config=catalog.items["api"], change_type="x", fingerprint=severity, severity=severity
        )
    result = filter_changes(ConfigChange.objects.all(), "severity>=medium", user=None, now=NOW)
    assert {change.severity for change in result.queryset} == {"medium", "critical"}


def test_order_limit_offset(catalog: Catalog) -> None:
    result = filter_items(
        ConfigItem.objects.all(), "type=pod @order=name limit=2 offset=1", user=None, now=NOW
    )
    assert (result.limit, result.offset, result.order) == (2, 1, ("name",))
    assert catalog.ordered("type=pod @order=name limit=2 offset=1") == [
        "nginx-web-rs-x1",
        "test-api",
    ]


def test_order_by_label(catalog: Catalog) -> None:
    assert catalog.ordered("labels.owner @order=-labels.owner") == ["checkout-db", "nginx-web"]


def test_default_order_is_most_recently_updated(catalog: Catalog) -> None:
    assert catalog.ordered("test | nginx-c") == ["test-api", "nginx-canary-1"]


def test_visibility_of_the_given_queryset_is_kept(catalog: Catalog) -> None:
    visible = ConfigItem.objects.filter(namespace="shop")
    result = filter_items(visible, "health=healthy", user=None, now=NOW)
    assert {row.name for row in result.queryset} == {"api", "podinfo"}


# -- indexes and bound parameters -----------------------------------------------------------


def _sql(text: str) -> tuple[str, tuple]:
    result = filter_items(ConfigItem.objects.all(), text, user=None, now=NOW)
    return result.queryset.query.sql_with_params()


def test_infix_search_is_a_like_over_lower_name(catalog: Catalog) -> None:
    with CaptureQueriesContext(connection) as captured:
        list(filter_items(ConfigItem.objects.all(), "*canary*", user=None, now=NOW).queryset)
    sql = captured.captured_queries[-1]["sql"]
    assert 'LOWER("catalog_configitem"."name")::text LIKE' in sql
    assert "'%canary%'" in sql


def test_prefix_search_is_a_like_prefix_over_lower_name(catalog: Catalog) -> None:
    sql, params = _sql("NGinx")
    assert 'LOWER("catalog_configitem"."name")::text LIKE %s' in sql
    assert "nginx%" in params


def _plan(text: str) -> str:
    """The plan with sequential scans priced out: shows whether an index *can* answer."""
    result = filter_items(ConfigItem.objects.all(), text, user=None, now=NOW, include_deleted=True)
    sql, params = result.queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_trigram_index_can_serve_infix_search(catalog: Catalog) -> None:
    assert "item_name_trgm" in _plan("*canary*")


def test_the_prefix_index_can_serve_bare_words(catalog: Catalog) -> None:
    assert "item_name_prefix" in _plan("nginx")


def test_the_labels_gin_index_can_serve_label_equality(catalog: Catalog) -> None:
    assert "item_labels" in _plan("labels.app=checkout")


SENTINEL = "zq'x;--"


@pytest.mark.parametrize(
    "text",
    [
        f'"{SENTINEL}"',
        f'name="{SENTINEL}"',
        f'namespace="{SENTINEL}*"',
        f'labels."{SENTINEL}"="{SENTINEL}"',
        f'labels.app="*{SENTINEL}"',
        f'tags."{SENTINEL}"',
        f'config."{SENTINEL}".b>"{SENTINEL}"',
        f'config."{SENTINEL}"=5',
        f'properties."{SENTINEL}"="{SENTINEL}*"',
        f'external_id="{SENTINEL}*"',
        f'scraper="{SENTINEL}"',
        f'@order=-labels."{SENTINEL}"',
    ],
)
def test_user_values_never_reach_the_sql_text(catalog: Catalog, text: str) -> None:
    sql, params = _sql(text)
    assert "zq" not in sql
    assert any("zq" in str(param) for param in params)
    list(filter_items(ConfigItem.objects.all(), text, user=None, now=NOW).queryset)


def test_related_binds_the_ids_it_reached_as_one_array(catalog: Catalog) -> None:
    web = catalog.id("nginx-web")
    sql, params = _sql(f"related={web},depth=3")
    reached = next(p for p in params if isinstance(p, list))
    assert web not in sql and catalog.id("nginx-svc") not in sql
    assert catalog.id("nginx-svc") in reached and web not in reached


def test_related_from_an_unknown_id_is_an_error_at_its_position(catalog: Catalog) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(SearchError, match=f"no item {missing}, or it is not shared with you"):
        catalog.names(f"health=healthy related={missing}")


# -- facets --------------------------------------------------------------------------------


def test_facets_count_types_most_common_first(catalog: Catalog) -> None:
    qs = filter_items(ConfigItem.objects.all(), "namespace=payments", user=None, now=NOW).queryset
    assert facets(qs, "type", limit=2, user=None) == [
        ("Kubernetes::Pod", 3),
        ("Kubernetes::Deployment", 2),
    ]


def test_facets_over_tags_skip_items_without_the_tag(catalog: Catalog) -> None:
    qs = filter_items(ConfigItem.objects.all(), "", user=None, now=NOW).queryset
    assert facets(qs, "tags.cluster", user=None) == [
        ("prod-eu-1", 2), ("dev-1", 1), ("prod-us-1", 1)]


def test_facets_over_health(catalog: Catalog) -> None:
    qs = filter_items(ConfigItem.objects.all(), "type=deployment", user=None, now=NOW).queryset
    assert facets(qs, "health", user=None) == [("healthy", 3), ("unknown", 1)]


def test_facets_on_changes_by_item_type(catalog: Catalog) -> None:
    ConfigChange.objects.create(config=catalog.items["api"], change_type="diff", fingerprint="1")
    assert facets(ConfigChange.objects.all(), "config.type", user=None) == [
        ("Kubernetes::Deployment", 1)]


def test_facets_reject_unknown_fields(catalog: Catalog) -> None:
    with pytest.raises(SearchError, match="unknown field 'helth'"):
        facets(ConfigItem.objects.all(), "helth", user=None)


# -- fuzzing against the database ----------------------------------------------------------

ALPHABET = st.sampled_from(
    [
        *"ab*.\"'()|!-=<>, 19:@_",
        "name",
        "type",
        "labels",
        "tags",
        "config",
        "properties",
        "related",
        "health",
        "now-1d",
        "updated_at",
        "deleted",
        "@order",
        "limit",
        "offset",
        "pod",
        "external_id",
        "ready",
        "scraper",
        "agent",
        "id",
        "2024-01-01",
        "1e9",
        "-5",
    ]
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(ALPHABET, max_size=14).map("".join))
def test_any_text_runs_or_raises_search_error(catalog: Catalog, text: str) -> None:
    try:
        with transaction.atomic():
            result = filter_items(ConfigItem.objects.all(), text, user=None, now=NOW)
            list(result.queryset[:5])
    except SearchError:
        pass
    except DatabaseError as error:  # pragma: no cover - the failure we are looking for
        raise AssertionError(f"{text!r} reached the database and failed: {error}") from error
