"""Client or vendor "contains" search over encrypted names: blind indexes of their fragments.

Names stay encrypted in the ledger. Each distinct name a tenant's events carry is cut, once normalised
(case and spacing ignored, as the exact blind index does), into its overlapping fragments of 3 characters
(and of 2, for two-letter searches); each fragment is stored as a keyed hash (connector.core.crypto's
blind_index, bound to the tenant) next to the name's exact blind index. A search for "acme" looks for the
names holding every fragment of "acme" ("acm", "cme"), then the deliveries carrying those names through
the existing (tenant, counterparty_index) index. Rows grow with distinct names, not with events.

The trade-off, compared with the exact blind index alone: anyone holding the database (not the keys) can
see which names share fragments and how many fragments a name has (its length), and, with many names, can
guess common fragments from how often they occur (" ltd", "inc"): equality patterns leak, the text does
not. Hashes are bound to the tenant, so patterns cannot be compared across tenants. A name that holds every
fragment of a search without containing it in one piece (rare: "abcab" for "bcabc") is a false match.
"""

from django.db import IntegrityError, transaction
from django.db.models import Count, Min

from audit.models import CounterpartyGram, Delivery, InboundEvent
from connector.core.crypto import blind_index, normalise_for_index

SHORTEST = 2  # a one-character search is an exact one: one letter matches nearly every name
# (tenant id, name index) pairs this process has seen indexed: a client's next invoices skip the lookup.
# Grams are only ever deleted by `manage.py reindex`, which indexes every name in the ledger again.
_indexed: set[tuple[int, str]] = set()
INDEXED_MAX = 50_000  # pairs kept per process (~5 MB); the set starts again when full


def _fragments(text: str, size: int) -> set[str]:
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def _hash(tenant_id: int, fragment: str) -> str:
    # The colons keep a fragment's edge spaces (blind_index trims a value's outer whitespace).
    return blind_index(f"{tenant_id}:{fragment}:")


def name_grams(tenant_id: int, name: str) -> set[str]:
    """What a stored name is indexed under: its 2- and 3-character fragments."""
    text = normalise_for_index(name or "")
    return {_hash(tenant_id, f) for f in _fragments(text, 2) | _fragments(text, 3)}


def query_grams(tenant_id: int, query: str) -> list[str]:
    """What a search looks for: its 3-character fragments (2 for a two-character search); [] when shorter."""
    text = normalise_for_index(query or "")
    if len(text) < SHORTEST:
        return []
    return sorted({_hash(tenant_id, f) for f in _fragments(text, min(3, len(text)))})


def _remember(key: tuple[int, str]) -> None:
    if len(_indexed) >= INDEXED_MAX:
        _indexed.clear()
    _indexed.add(key)


def counterparty_index_record(*, tenant_id: int, name: str, name_index: str) -> None:
    """Index a name for "contains" search (once per tenant and name; later calls cost one lookup, none when
    this process indexed or saw the name before)."""
    key = (tenant_id, name_index)
    if not name_index or key in _indexed:
        return
    if not CounterpartyGram.objects.filter(tenant_id=tenant_id, name_index=name_index).exists():
        rows = [CounterpartyGram(tenant_id=tenant_id, name_index=name_index, gram=gram)
                for gram in name_grams(tenant_id, name)]
        try:
            with transaction.atomic():
                CounterpartyGram.objects.bulk_create(rows, ignore_conflicts=True)
        except IntegrityError:  # the tenant was deleted meanwhile: nothing left to index
            return
    # Remembered once the caller's transaction is committed: rolled back, the grams would not be there.
    transaction.on_commit(lambda: _remember(key))


def names_containing(*, tenant_id: int, grams: list[str]) -> list[str]:
    """The name indexes (counterparty_index values) holding every one of `grams`.

    A list, read first, not a subquery: PostgreSQL cannot estimate how many names a HAVING keeps, and
    guessing one it would join name by name and sort every matching delivery (seconds when a search such
    as "ltd" matches most names); with the values in hand it walks the newest deliveries instead."""
    return list(CounterpartyGram.objects.filter(tenant_id=tenant_id, gram__in=grams)
                .values("name_index").annotate(held=Count("gram")).filter(held=len(grams))
                .values_list("name_index", flat=True))


def backfill(*, batch: int = 500) -> int:
    """Index the names already in the ledger (from before this search existed); returns how many.

    One row is decrypted per distinct (tenant, name), not per delivery. Safe to run again: indexed names
    are skipped. Run by migration audit 0008, by `manage.py reindex` and by `manage.py counterparty_search_backfill`."""
    indexed = set(CounterpartyGram.objects.order_by().values_list("tenant_id", "name_index").distinct())
    count = 0
    for model, read in ((Delivery, lambda row: row.counterparty),
                        (InboundEvent, lambda row: (row.financial_event or {}).get("counterparty") or "")):
        firsts = (model.objects.exclude(counterparty_index="").order_by()
                  .values("tenant_id", "counterparty_index").annotate(first=Min("id")))
        missing = [r["first"] for r in firsts if (r["tenant_id"], r["counterparty_index"]) not in indexed]
        field = "counterparty" if model is Delivery else "financial_event"
        for start in range(0, len(missing), batch):
            for row in model.objects.filter(pk__in=missing[start:start + batch]).only(
                    "tenant_id", "counterparty_index", field):
                if (row.tenant_id, row.counterparty_index) in indexed:
                    continue
                counterparty_index_record(tenant_id=row.tenant_id, name=read(row), name_index=row.counterparty_index)
                indexed.add((row.tenant_id, row.counterparty_index))
                count += 1
    return count
