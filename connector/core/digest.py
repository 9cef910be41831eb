"""DigestReport: what one digest message says, as plain figures. Made by the pipeline (from the ledger and
FreshBooks), laid out by the Slack message builder; exact to the cent (Decimal throughout)."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Total:
    """How many, and their sum in one currency."""

    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class OverdueLine:
    invoice_number: str
    counterparty: str
    outstanding: Decimal
    currency: str
    due_date: date
    days_overdue: int


@dataclass(frozen=True)
class DigestReport:
    title: str  # the digest's name
    period_start: datetime  # tenant-local, aware
    period_end: datetime
    time_zone: str
    payments: list[Total] = field(default_factory=list)  # payments received, per currency
    invoices: list[Total] = field(default_factory=list)  # invoices created
    bills: list[Total] = field(default_factory=list)
    expenses: list[Total] = field(default_factory=list)
    overdue_count: int = 0
    overdue_totals: list[Total] = field(default_factory=list)  # outstanding, per currency
    overdue_oldest: list[OverdueLine] = field(default_factory=list)  # at most five, oldest due first
    overdue_unavailable: str = ""  # why the overdue figures could not be read from FreshBooks, if so
    held_count: int = 0  # deliveries held that need a fix
    held_reasons: list[tuple[str, int]] = field(default_factory=list)  # (why, in words; count), most first
