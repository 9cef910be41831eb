"""Activity search benchmark: 1,000,000 deliveries on PostgreSQL, the common searches timed.

    .venv/bin/python bench/audit_search.py [--deliveries 1000000] [--tenants 20] [--runs 40] [--refill]

Uses its own database (BENCH_DATABASE_URL, default mlc_<checkout>_audit_search on BENCH_PG_URL's server),
created and migrated if needed; filled once with COPY (kept for the next run unless --refill or the size
changed). Encrypted columns hold one pre-encrypted token (search never reads plaintext); blind indexes are
real HMACs of a pool of client/vendor names and of unique document numbers. Each search goes through the
real selector (audit.selectors.delivery_search) and fetches what the Activity page shows through its
paginator (audit.search_pages: a count capped at 10,000, then the first page of 50 rows, ids first,
decrypting their names); median_rows is that capped count. Prints ONE JSON line: p50/p95 in ms per search.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import database_url  # noqa: E402

BENCH_URL = os.environ.get("BENCH_DATABASE_URL") or database_url("audit_search")
os.environ["DATABASE_URL"] = BENCH_URL
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "bench-secret-key")
os.environ.setdefault("ENCRYPTION_KEYS", "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0=")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

PAGE = 50  # rows per page, as the Activity page
NAMES_PER_TENANT = 2000  # distinct clients/vendors per tenant
CHANNELS_PER_TENANT = 8
DAYS = 90  # history spread over the default retention
IGNORED_SHARE = 0.1  # extra inbound events that made no delivery, per delivery
BIG_TENANT_SHARE = 0.25  # the first tenant holds a quarter of all deliveries (a skewed, realistic mix)
STATUS_WEIGHTS = {"posted": 93, "failed": 2, "held": 2, "retrying": 2, "pending": 1}


def ensure_database() -> None:
    import psycopg

    admin_url, _, name = BENCH_URL.rpartition("/")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    import django

    ensure_database()
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def tenant_sizes(total: int, tenants: int) -> list[int]:
    big = int(total * BIG_TENANT_SHARE)
    rest = total - big
    sizes = [big] + [rest // (tenants - 1)] * (tenants - 1)
    sizes[-1] += total - sum(sizes)
    return sizes


def fill(total: int, tenant_count: int, rng: random.Random) -> None:
    from django.db import connection

    from audit.models import Delivery, InboundEvent
    from connector.core.crypto import blind_index, encrypt
    from connector.core.events import SUPPORTED_EVENTS
    from tenants.models import Tenant

    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE audit_deliveryattempt, audit_delivery, audit_inboundevent, audit_bulkreplay, "
                    "audit_counterpartygram, audit_activitylog, tenants_apitoken, tenants_membership, tenants_tenant RESTART IDENTITY "
                    "CASCADE")
    tenants = []
    for i in range(tenant_count):
        t = Tenant(name=f"Bench {i}", slug=f"bench-{i}")
        t.set_webhook_token()
        t.save()
        tenants.append(t)

    token = encrypt("x" * 40)  # one ciphertext reused: search never decrypts to filter
    names = {t.pk: bench_names(t.pk) for t in tenants}
    name_index = {t.pk: [blind_index(n) for n in names[t.pk]] for t in tenants}
    events = list(SUPPORTED_EVENTS.items())
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    now = datetime.now(UTC)

    # Load without secondary indexes and FK triggers, then build the indexes once: minutes, not hours.
    with connection.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                    "('audit_delivery', 'audit_inboundevent') AND indexname NOT LIKE '%%_pkey'")
        index_defs = cur.fetchall()
        cur.execute("SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid::regclass::text IN ('audit_delivery', 'audit_inboundevent') "
                    "AND contype = 'u'")
        unique_defs = cur.fetchall()
        for conname, table, _ in unique_defs:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{conname}"')
        for name, _ in index_defs:
            cur.execute(f'DROP INDEX IF EXISTS "{name}"')

    inbound_cols = ["id", "tenant_id", "created_at", "updated_at", "name", "object_id", "account_id", "business_id",
                    "raw_body", "signature_valid", "received_at", "status", "status_reason", "matched_rules",
                    "attempts", "amount", "counterparty_index", "document_number_index", "financial_event", "source"]
    delivery_cols = ["tenant_id", "created_at", "updated_at", "inbound_event_id", "event_name", "object_id", "kind",
                     "action", "amount", "currency", "counterparty", "counterparty_index", "document_number",
                     "document_number_index", "slack_team_id", "channel_id", "channel_name", "rule_ids", "status",
                     "held_reason", "message_text", "attempt_count", "last_error_code", "slack_channel", "slack_ts",
                     "posted_at"]
    import psycopg

    inbound_id = 0
    doc_numbers = {}
    # Two connections, one COPY each (a connection runs one COPY at a time); FK triggers are off in both.
    with psycopg.connect(BENCH_URL) as c1, psycopg.connect(BENCH_URL) as c2:
        for c in (c1, c2):
            c.execute("SET session_replication_role = replica")
        with c1.cursor().copy(f"COPY audit_inboundevent ({', '.join(inbound_cols)}) FROM STDIN") as inbound_copy, \
                c2.cursor().copy(f"COPY audit_delivery ({', '.join(delivery_cols)}) FROM STDIN") as delivery_copy:
            for tenant, size in zip(tenants, tenant_sizes(total, tenant_count), strict=True):
                channels = [(f"C{tenant.pk:03d}{c:05d}", f"channel-{c}") for c in range(CHANNELS_PER_TENANT)]
                team = f"T{tenant.pk:06d}"
                doc_numbers[tenant.pk] = []
                for n in range(size):
                    inbound_id += 1
                    when = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
                    name, (kind, action) = rng.choice(events)
                    amount = Decimal(int(rng.lognormvariate(6.5, 1.3) * 100)) / 100
                    who = rng.randrange(NAMES_PER_TENANT)
                    number = f"INV-{tenant.pk}-{n:07d}"
                    number_index = blind_index(number)
                    if n % 5000 == 0:
                        doc_numbers[tenant.pk].append(number)
                    status = rng.choices(statuses, weights)[0]
                    channel_id, channel_name = rng.choice(channels)
                    inbound_copy.write_row([inbound_id, tenant.pk, when, when, name, str(n), "ACCT", "1", token, True,
                                            when, "processed", "", "[]", 1, amount, name_index[tenant.pk][who],
                                            number_index, token, "webhook"])
                    delivery_copy.write_row([
                        tenant.pk, when, when, inbound_id, name, str(n), str(kind), str(action), amount, "USD", token,
                        name_index[tenant.pk][who], token, number_index, team, channel_id, channel_name, "[1]", status,
                        "channel_not_found" if status == "held" else "", token, 1, "", channel_id,
                        f"{when.timestamp():.6f}" if status == "posted" else "", when if status == "posted" else None])
                    if rng.random() < IGNORED_SHARE:
                        inbound_id += 1
                        inbound_copy.write_row([inbound_id, tenant.pk, when, when, name, f"i{n}", "ACCT", "1", token,
                                                True, when, "ignored", "No rule matched this event", "[]", 1, amount,
                                                name_index[tenant.pk][who], "", None, "webhook"])
    loaded = time.monotonic()
    with connection.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in index_defs:
            cur.execute(definition)
        for conname, table, definition in unique_defs:
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{conname}" {definition}')
        cur.execute("SELECT setval(pg_get_serial_sequence('audit_inboundevent', 'id'), %s)", [inbound_id])
    connection.close()
    with psycopg.connect(BENCH_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_delivery")
        conn.execute("VACUUM ANALYZE audit_inboundevent")
    fill_name_fragments(names)
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "bench_audit_samples.json").write_text(json.dumps(
        {"total": total, "tenants": tenant_count, "doc_numbers": {str(k): v for k, v in doc_numbers.items()}}))
    print(f"filled {total} deliveries and {inbound_id} inbound events for {tenant_count} tenants: "
          f"load {loaded - started:.0f} s, indexes + analyze {time.monotonic() - loaded:.0f} s",
          file=sys.stderr)
    assert Delivery.objects.count() == total and InboundEvent.objects.count() == inbound_id


def bench_names(tenant_id: int) -> list[str]:
    return [f"Client {tenant_id}-{n} Ltd" for n in range(NAMES_PER_TENANT)]


def fill_name_fragments(names: dict[int, list[str]]) -> None:
    """The "contains" search's fragment index of every name, as the pipeline records it (one row per name
    and fragment; audit/counterparty_search.py)."""
    import psycopg

    from audit.counterparty_search import name_grams
    from connector.core.crypto import blind_index

    started, rows = time.monotonic(), 0
    with psycopg.connect(BENCH_URL) as conn:
        conn.execute("TRUNCATE audit_counterpartygram")
        with conn.cursor().copy("COPY audit_counterpartygram (tenant_id, name_index, gram) FROM STDIN") as copy:
            for tenant_id, tenant_names in names.items():
                for name in tenant_names:
                    index = blind_index(name)
                    for gram in name_grams(tenant_id, name):
                        copy.write_row([tenant_id, index, gram])
                        rows += 1
    with psycopg.connect(BENCH_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_counterpartygram")
    print(f"indexed {sum(map(len, names.values()))} names ({rows} fragments) in {time.monotonic() - started:.0f} s",
          file=sys.stderr)


def run_searches(runs: int, rng: random.Random) -> dict:
    from audit.models import Delivery
    from audit.search_pages import SearchPaginator
    from audit.selectors import delivery_channels, delivery_search, inbound_search
    from tenants.models import Tenant

    samples = json.loads((ROOT / "var" / "bench_audit_samples.json").read_text())
    tenants = list(Tenant.objects.order_by("id"))
    now = datetime.now(UTC)

    def pick_tenant(i: int):
        return tenants[0] if i % 2 == 0 else rng.choice(tenants[1:])  # the big tenant half the time

    def searches(tenant) -> dict[str, dict]:
        start = now - timedelta(days=rng.uniform(7, DAYS - 7))
        low = Decimal(rng.choice([100, 500, 1000, 2000]))
        return {
            "recent": {},
            "status_held": {"status": ["held"]},
            "counterparty_exact": {"counterparty": f"Client {tenant.pk}-{rng.randrange(NAMES_PER_TENANT)} Ltd"},
            # "contains", case-insensitive: a fragment a few names share (e.g. "7-12" in 7-12, 7-120 ... 7-1299),
            # and one every name of the tenant holds (the worst case: all its deliveries match).
            "counterparty_contains": {"counterparty": f"{tenant.pk}-{rng.randrange(10, 200)}"},
            "counterparty_contains_all": {"counterparty": "CLIENT"},
            "document_exact": {"document_number": rng.choice(samples["doc_numbers"][str(tenant.pk)])},
            "date_range_kind": {"since": start, "until": start + timedelta(days=7),
                                "kind": rng.choice(["invoice", "payment", "bill", "expense"])},
            "amount_range": {"amount_min": low, "amount_max": low * Decimal("1.2")},
            "sorted_biggest_first": {"sort": "-amount"},
            "sorted_by_status": {"sort": "status"},
        }

    timings: dict[str, list[float]] = {}
    found: dict[str, list[int]] = {}
    for i in range(runs + 3):  # the first three warm the caches and are not counted
        tenant = pick_tenant(i)
        for name, filters in searches(tenant).items():
            t0 = time.perf_counter()
            paginator = SearchPaginator(  # as the Activity page: a capped count, ids first, then 50 rows
                delivery_search(tenant=tenant, filters=filters), PAGE,
                rows=Delivery.objects.for_tenant(tenant).defer("message_text", "message_blocks"))
            count = paginator.count
            page = list(paginator.page(1))
            for d in page:  # what the page shows, decrypted
                _ = (d.counterparty, d.document_number)
            elapsed = (time.perf_counter() - t0) * 1000
            if i >= 3:
                timings.setdefault(name, []).append(elapsed)
                found.setdefault(name, []).append(count)
        # The page's other reads: the ignored-events section and the channel list of the filter form.
        t0 = time.perf_counter()
        qs = inbound_search(tenant=tenant, filters={"status": ["ignored"]}).only("id", "received_at", "name")
        paginator = SearchPaginator(qs, 20)
        count, _ = paginator.count, list(paginator.page(1))
        ignored_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        channels = delivery_channels(tenant=tenant)
        channels_ms = (time.perf_counter() - t0) * 1000
        if i >= 3:
            timings.setdefault("ignored_section", []).append(ignored_ms)
            found.setdefault("ignored_section", []).append(count)
            timings.setdefault("channel_choices", []).append(channels_ms)
            found.setdefault("channel_choices", []).append(len(channels))
    result = {}
    for name, values in timings.items():
        values.sort()
        result[name] = {"p50_ms": round(statistics.median(values), 1),
                        "p95_ms": round(values[min(len(values) - 1, int(len(values) * 0.95))], 1),
                        "median_rows": int(statistics.median(found[name]))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--refill", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    setup_django()
    from audit.models import Delivery

    samples = ROOT / "var" / "bench_audit_samples.json"
    current = json.loads(samples.read_text()) if samples.exists() else {}
    if args.refill or current.get("total") != args.deliveries or current.get("tenants") != args.tenants \
            or Delivery.objects.count() != args.deliveries:
        fill(args.deliveries, args.tenants, rng)
    from audit.models import CounterpartyGram
    from tenants.models import Tenant

    if not CounterpartyGram.objects.exists():  # filled before the contains search existed
        fill_name_fragments({pk: bench_names(pk) for pk in Tenant.objects.values_list("pk", flat=True)})
    results = run_searches(args.runs, rng)
    print(json.dumps({"benchmark": "audit_search", "deliveries": args.deliveries, "tenants": args.tenants,
                      "runs": args.runs, "page": PAGE, "searches": results,
                      "goal_ms": 200, "all_under_goal": all(r["p95_ms"] < 200 for r in results.values())}))


if __name__ == "__main__":
    main()
