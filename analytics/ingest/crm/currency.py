"""Amounts in one reporting currency: an export that mixes currencies is converted at the profile's rates, and each
deal keeps its own currency and amount in its extra data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from analytics.ingest.crm.profiles import MappingProfile
from analytics.ingest.issues import RowIssue
from analytics.messages import say

if TYPE_CHECKING:  # the conversion module calls this one
    from analytics.ingest.crm.convert import Conversion


def convert_currency(conversion: Conversion, profile: MappingProfile) -> None:
    """One reporting currency: the profile's, or the only one present; other amounts converted by its rates."""
    deals = conversion.deals
    present = conversion.currencies
    reporting = profile.currency or (next(iter(present)) if len(present) == 1 else None)
    if not present or (len(present) == 1 and reporting in present):
        if reporting:
            deals["currency"] = deals["currency"].replace("", reporting)
        return
    if reporting is None:
        listed = ", ".join(f"{c} ({n} deals)" for c, n in sorted(present.items()))
        conversion.mapping_errors.append(RowIssue(
            conversion.files[0], None, conversion.columns.get("currency"), None,
            say("several_currencies", listed=listed)))
        return
    rates = {**profile.rates, reporting: 1.0}
    missing = {c: n for c, n in present.items() if c not in rates}
    for code, n in sorted(missing.items()):
        conversion.mapping_errors.append(RowIssue(
            conversion.files[0], None, conversion.columns.get("currency"), code,
            say("no_rate", code=code, n=n, reporting=reporting)))
    if missing:
        return
    original = deals["amount"].copy()
    rate = deals["currency"].map(lambda c: rates.get(c, 1.0) if c else 1.0)
    converted = deals["currency"].ne("") & deals["currency"].ne(reporting)
    deals["amount_original"] = np.where(converted, original, np.nan)
    deals["currency_original"] = np.where(converted, deals["currency"], "")
    deals["amount"] = original * rate
    deals["currency"] = reporting
