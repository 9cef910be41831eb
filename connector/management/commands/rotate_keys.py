"""Re-encrypt every encrypted column under the first key of ENCRYPTION_KEYS. Safe to re-run."""

import sys

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from audit.activity import activity_record_system
from connector.core.crypto import ENCRYPTED_FIELD_TYPES, reencrypt

BATCH_SIZE = 500  # rows a transaction; small enough that no lock is held for long


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the first key of ENCRYPTION_KEYS, in batches."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, batch_size: int, **options):
        total = 0
        for model in apps.get_models():
            columns = [f for f in model._meta.concrete_fields if isinstance(f, ENCRYPTED_FIELD_TYPES)]
            if columns:
                total += self._rotate_model(model, columns, batch_size)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} values under the first key."))
        activity_record_system(action="keys.rotated", details={"values": total})

    def _rotate_model(self, model, columns, batch_size: int) -> int:
        table = connection.ops.quote_name(model._meta.db_table)
        pk = connection.ops.quote_name(model._meta.pk.column)
        names = [connection.ops.quote_name(f.column) for f in columns]
        label = f"{model._meta.label} ({', '.join(f.name for f in columns)})"
        done, count, last_pk = 0, model._base_manager.count(), None
        # Raw SQL: the fields decrypt on load, and here we want the tokens themselves.
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                where = f"WHERE {pk} > %s " if last_pk is not None else ""
                cursor.execute(
                    f"SELECT {pk}, {', '.join(names)} FROM {table} {where}ORDER BY {pk} LIMIT %s FOR UPDATE"  # noqa: S608
                    if connection.vendor == "postgresql"
                    else f"SELECT {pk}, {', '.join(names)} FROM {table} {where}ORDER BY {pk} LIMIT %s",  # noqa: S608
                    ([last_pk] if last_pk is not None else []) + [batch_size],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                for row in rows:
                    values = [reencrypt(v) if v else v for v in row[1:]]
                    assignments = ", ".join(f"{n} = %s" for n in names)
                    cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*values, row[0]])  # noqa: S608
                last_pk = rows[-1][0]
                done += len(rows)
            self._progress(label, done, count)
        self._progress(label, done, count, end=True)
        return done * len(columns)

    def _progress(self, label: str, done: int, count: int, end: bool = False):
        width = 30
        filled = width if count == 0 else min(width, width * done // count)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{label}: [{bar}] {done}/{count}")
        if end:
            sys.stderr.write("\n")
        sys.stderr.flush()
