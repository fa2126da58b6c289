"""The app's one Streamlit helper module: the cached store, language, sidebar filters kept in the URL, downloads.

Pages import this and analytics; nothing in analytics imports Streamlit.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import streamlit as st
from pandas.api import types as pd_api

from analytics import formatting
from analytics.analyses.overview import FILTER_COLUMNS as FILTER_KEYS
from analytics.filters import DealFilter
from analytics.i18n.columns import MONEY_COLUMNS, SHARE_COLUMNS
from analytics.i18n.text import LANGUAGES, TEXT, t
from analytics.ingest.demo import clear_demo_data, is_demo
from analytics.present.export import safe_csv_bytes
from analytics.store.connection import Store, resolve_db_path

APP_PATH = Path(__file__).resolve().parent / "app.py"


PRECOMPUTE_ENV = "KEYFUNNEL_PRECOMPUTE"  # set by `keyfunnel serve`: compute the demo's slow results at its build


# The database as this process reads it: one read-only snapshot per database file, shared by every session, opened
# again once a writer (this app's Import page, a scheduled `keyfunnel import`) has replaced the file. Each script run
# pins the snapshot current at its start (begin_run): the data version is checked once per run, and a run never reads
# two versions. No run holds the file locked for a writer: writers write a draft and rename it in
# (analytics.store.turns). A snapshot no run uses any more is closed when the last reference to it goes.
_SNAPSHOTS: dict[str, Store] = {}
_SNAPSHOTS_LOCK = threading.Lock()
_OPENING_TEXT = ("Opening the database (the first start builds the demo data: about 10 s) · "
                 "正在打开数据库(首次启动会生成演示数据,约 10 秒)")


def _current(path: str) -> Store:
    from analytics.store.turns import is_current

    with _SNAPSHOTS_LOCK:
        held = _SNAPSHOTS.get(path)
        if held is not None and is_current(held):
            return held
        if held is None:
            with st.spinner(_OPENING_TEXT):
                fresh = _open(path, first=True)
        else:
            fresh = _open(path, first=False)
        _SNAPSHOTS[path] = fresh
    return fresh


def _open(path: str, first: bool) -> Store:
    from analytics.ingest.demo import ensure_demo_data, wants_demo_data
    from analytics.ingest.uploads import clear_uploads, uploads_dir
    from analytics.store.turns import reading, writing

    snapshot = reading(path)
    if first:
        clear_uploads(uploads_dir(path))  # left by an app that stopped mid-import: customer data, not kept
    if wants_demo_data(snapshot):
        with writing(path, what="the app (building the demo data)") as draft:
            ensure_demo_data(draft)
        snapshot = reading(path)
    if os.environ.get(PRECOMPUTE_ENV) == "1":
        # `keyfunnel serve` asks for it: the slow results (the win model, forecast, eight-quarter backtest) of each
        # new version of the data, whoever wrote it, are computed now, and a refresh a killed app left unfinished
        # is finished, so that the first visit of the Forecast page does not wait for its backtest. Not under
        # AppTest, whose every test builds its own demo database.
        _start_refresh(snapshot)
    return snapshot


def begin_run() -> Store:
    """Pin, for this script run, the snapshot current at its start (the router calls it first)."""
    from analytics.store.cache import refresh_state

    snapshot = st.session_state["_kf_store"] = _current(str(resolve_db_path()))
    # a refresh running in another process: this run shows what it has not reached yet as computed before
    st.session_state["_kf_refreshing"] = refresh_state(snapshot) == "running"
    return snapshot


def store() -> Store:
    """This run's snapshot of the database (read-only: writes go through `writing`)."""
    pinned = st.session_state.get("_kf_store")
    return pinned if pinned is not None and pinned.path == resolve_db_path() else begin_run()


@contextmanager
def writing(what: str):
    """This session's turn to write the database: a draft, published when the block ends without an error. While
    another writer (a CLI import, another session's) holds the turn, it waits up to a minute, saying who; past that,
    StoreBusy, which the router shows. After the write this run reads the new snapshot."""
    from analytics.messages import say
    from analytics.store.turns import writing as turn

    slot = st.empty()

    def waiting(holder, seconds: float) -> None:
        who = holder.describe() if holder is not None else "another keyfunnel"
        text = import_text(say("store_waiting", holder=who, seconds=int(seconds)))
        slot.info(text[:1].upper() + text[1:], icon=":material/hourglass_top:")

    try:
        with turn(resolve_db_path(), what=f"the app's {what}", on_wait=waiting) as draft:
            slot.empty()
            yield draft
    finally:
        slot.empty()
    begin_run()


def lang() -> str:
    return st.session_state.get("lang", st.query_params.get("lang", "en"))


def T(key: str, **fmt) -> str:
    return t(key, lang(), **fmt)


def column(name: str) -> str:
    from analytics.i18n.columns import column_label

    return column_label(name, lang())


def import_text(said) -> str | None:
    """An import problem, an import's progress or outcome (a Message), or an import or undo error (a
    KeyfunnelError), in the chosen language."""
    from analytics.i18n.issues import message_text

    return message_text(said, lang())


def clear_demo() -> None:
    """Undo the demo's batch (the user's own batches stay), then rerun, so that the banner goes."""
    from analytics.exceptions import KeyfunnelError

    try:
        with writing("demo removal") as draft:
            clear_demo_data(draft)
    except KeyfunnelError as exc:
        st.error(import_text(exc))
        return
    st.session_state["_kf_demo_cleared"] = True
    st.rerun()


@st.cache_data(show_spinner=False)
def _filter_options(_snapshot: Store, identity: tuple) -> dict[str, list[str]]:
    from analytics.analyses.overview import filter_options

    return filter_options(_snapshot)


def cached(compute, *args, **kwargs):
    """Run an analytics function on this run's snapshot, cached per version of the database file, function,
    arguments and the sidebar's as-of date (a view of the data as it stood then: Store.as_of). A slow result the
    background refresh has not reached yet is the one computed before the latest import, said so once a session
    and version."""
    snapshot = store()
    refreshing = as_of() is None and st.session_state.get("_kf_refreshing", False)
    value, earlier = _cached(snapshot, snapshot.identity, compute.__module__, compute.__name__, args,
                             tuple(sorted(kwargs.items())), as_of(), refreshing)
    if earlier is not None and st.session_state.get("_kf_earlier_said") != snapshot.identity:
        # once a session and version of the data, in a toast: a line in the page would push the Overview past one
        # screen
        st.session_state["_kf_earlier_said"] = snapshot.identity
        st.toast(T("results_earlier", at=earlier[:16].replace("T", " ")), icon=":material/history:")
    return value


def is_demo_database() -> bool:
    return is_demo(store())


def as_of() -> date | None:
    """The sidebar's as-of date, or None: the data as it is."""
    return st.session_state.get("_kf_as_of")


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(_snapshot, identity, module, name, args, kwargs, as_of_day=None, refreshing=False):
    """(the result, None), or (an earlier version's result, when it was computed) while `refreshing`: the key
    changes once the refresh has finished, and this version's own result is read then."""
    import importlib
    from contextlib import nullcontext
    from datetime import timedelta

    from analytics.store.cache import (
        earlier_while_refreshing,
        is_persistable,
        persisted,
    )

    compute = getattr(importlib.import_module(module), name)
    if as_of_day is not None:  # the data as it stood at the end of that day; never persisted as today's result
        with _snapshot.as_of(as_of_day + timedelta(days=1)) as then:
            return compute(then, *args, **dict(kwargs)), None
    with earlier_while_refreshing() if refreshing else nullcontext([]) as earlier:
        if is_persistable(compute):  # slow results (model fits, forecasts, backtests), kept for every session and
            value = persisted(_snapshot, compute, *args, **dict(kwargs))  # process
        else:
            value = compute(_snapshot, *args, **dict(kwargs))
    return value, max(earlier) if earlier else None


def refresh_in_background() -> None:
    """After an import: compute the slow default results in a thread, ahead of the first viewer."""
    _start_refresh(store())


def _start_refresh(on: Store) -> None:
    """The refresh of the snapshot's data version, unless it has finished or another live process runs it, in a
    process of its own (analytics.refresh's main: at a lower priority, and off this interpreter, whose sessions it
    would otherwise slow); a thread waits for it, so that it leaves no zombie behind."""
    import subprocess
    import sys

    from analytics.store.cache import claim_refresh, refresh_state

    if refresh_state(on) != "due":
        return
    child = subprocess.Popen([sys.executable, "-m", "analytics.refresh", str(on.path)], cwd=APP_PATH.parent,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    # claimed for it at once, so that no page computes what it is about to (a claim another process made
    # meanwhile stands, and the child, finding it, ends)
    claim_refresh(on, child.pid)
    threading.Thread(target=child.wait, name="keyfunnel-refresh", daemon=True).start()


def _from_query(key: str) -> list[str]:
    raw = st.query_params.get(key, "")
    return [v for v in raw.split(",") if v]


def _secrets():
    try:
        return dict(st.secrets)
    except Exception:  # no secrets file
        return {}


def authenticate() -> str | None:
    """The user's role, after a login when a shared deployment configures one (see analytics.auth); None stops
    the app at the login form."""
    from analytics import auth

    secrets = _secrets()
    oidc = "auth" in secrets
    hashes = auth.password_hashes(secrets)
    if not oidc and not hashes:
        return auth.ANALYST  # a local, single-user app
    if "role" in st.session_state:
        return st.session_state["role"]
    if oidc and getattr(st.user, "is_logged_in", False):
        st.session_state["role"] = auth.role_for_email(st.user.get("email"), secrets)
        return st.session_state["role"]
    st.title("keyfunnel")
    if oidc:
        st.button(T("login_sso"), on_click=st.login, key="login_sso")
    if hashes:
        with st.form("login"):
            password = st.text_input(T("password"), type="password", key="login_password")
            if st.form_submit_button(T("login")):
                role = auth.role_for_password(password, secrets)
                if role:
                    st.session_state["role"] = role
                    st.rerun()
                st.error(T("login_failed"))
    return None


def role() -> str:
    return st.session_state.get("role", "analyst")


def _ensure_routed() -> None:
    """With a pages/ folder beside app.py, Streamlit starts in its legacy multipage mode and runs a deep-linked
    page file (say /funnel) directly, so app.py's st.navigation never runs: no titles, no shared sidebar, no wide
    layout. Only then is the legacy flag still set. Switch it off, as st.navigation itself does, and run the router
    in this same script run (a rerun would drop the click or upload that caused this run); the router runs this
    page again, and the direct run stops here."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        import runpy

        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP_PATH), run_name="__main__")
        st.stop()


def filters() -> DealFilter:
    """The sidebar's filters for this run (app.py renders the sidebar before it runs the page)."""
    _ensure_routed()
    return st.session_state.get("_kf_filters", DealFilter())


def sidebar() -> DealFilter:
    """Language and filters, rendered by app.py so that they are shared by every page. Both live in the URL's
    query string, so that a link reproduces the view."""
    with st.sidebar:
        if "lang" not in st.session_state:
            st.session_state["lang"] = st.query_params.get("lang", "en") if st.query_params.get(
                "lang") in LANGUAGES else "en"
        st.radio(t("language", lang()), list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)
        st.query_params["lang"] = st.session_state["lang"]
        st.subheader(T("filters"))
        options = _filter_options(store(), store().identity)
        chosen = {}
        for key in FILTER_KEYS:
            widget = f"f_{key}"
            if widget not in st.session_state:
                st.session_state[widget] = [v for v in _from_query(key) if v in options[key]]
            chosen[key] = st.multiselect(T(key), options[key], key=widget, placeholder=T("choose"))
        for widget, param in (("f_created_from", "from"), ("f_created_to", "to")):
            if widget not in st.session_state:
                st.session_state[widget] = _date(st.query_params.get(param))
        created_from = st.date_input(T("created_between"), key="f_created_from", format="YYYY-MM-DD")
        created_to = st.date_input("…", key="f_created_to", format="YYYY-MM-DD", label_visibility="collapsed")
        if "f_as_of" not in st.session_state:
            st.session_state["f_as_of"] = _date(st.query_params.get("as_of"))
        chosen_as_of = st.date_input(T("as_of_control"), key="f_as_of", format="YYYY-MM-DD", help=T("as_of_help"))
        for key in FILTER_KEYS:
            if chosen[key]:
                st.query_params[key] = ",".join(chosen[key])
            else:
                st.query_params.pop(key, None)
        for key, value in (("from", created_from), ("to", created_to), ("as_of", chosen_as_of)):
            if value:
                st.query_params[key] = value.isoformat()
            else:
                st.query_params.pop(key, None)
        if is_demo(store()):
            slot = st.session_state["_kf_demo_slot"] = st.empty()  # emptied when an import clears the demo
            with slot.container():
                st.info(T("demo_banner"))
                pressed = st.button(T("clear_demo"), key="clear_demo")
            if pressed:
                clear_demo()
        elif st.session_state.pop("_kf_demo_cleared", False):  # said once, after the rerun that drops the banner
            st.success(T("demo_cleared"))
    st.session_state["_kf_as_of"] = chosen_as_of or None
    st.session_state["_kf_filters"] = DealFilter.from_choices(
        {**chosen, "created_from": created_from, "created_to": created_to})
    return st.session_state["_kf_filters"]


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def with_stage_labels(df):
    """A table's stage numbers as the app names stages ("6. Project evaluation"), in the chosen language."""
    from analytics.i18n.labels import with_stage_labels

    return with_stage_labels(df, lang())


def has_data(deals: int, filters: DealFilter) -> bool:
    """Render the empty state when there is nothing to show; True when the page can go on."""
    if deals:
        return True
    from analytics.analyses.overview import count_deals

    total = count_deals(store())
    st.info(T("no_data") if not total else T("no_match"))
    return False


# How a column is shown wherever it appears, by its name: money (analytics.i18n.MONEY_COLUMNS) in whole units with
# thousands separators, probabilities and shares (SHARE_COLUMNS) as percentages, dates without a time, day counts and
# ratios rounded.
DATE_COLUMNS = frozenset({"expected_close", "predicted_close", "called_at", "standing"})
WHOLE_COLUMNS = frozenset({"days_in_stage", "threshold_days", "days_to_close"})
SCORE_COLUMNS = frozenset({"auc", "brier", "brier_stage_rate", "brier_crm_default", "ece", "mase"})


def _column_config(name: str, dtype=None):
    from analytics.i18n.columns import column_label

    label = column_label(name, lang())
    if name in MONEY_COLUMNS:
        return st.column_config.NumberColumn(label, format="localized")
    if name in SHARE_COLUMNS or dtype == "share":  # shown ×100 (table()): one decimal, as formatting.percent
        return st.column_config.NumberColumn(label, format=f"%.{formatting.PERCENT_DIGITS}f%%")
    if name in DATE_COLUMNS:
        return st.column_config.DateColumn(label)
    if name in WHOLE_COLUMNS:
        return st.column_config.NumberColumn(label, format="%.0f")
    if name in SCORE_COLUMNS:
        return st.column_config.NumberColumn(label, format="%.3f")
    if dtype is not None and dtype != "share" and pd_api.is_integer_dtype(dtype):  # counts, with thousands separators
        return st.column_config.NumberColumn(label, format="localized")
    return st.column_config.Column(label)


def table(df, key: str, *, rows: int | None = None, pinned: tuple[str, ...] = (), also_shares: tuple[str, ...] = (),
          **kwargs) -> None:
    """st.dataframe with column headers in the chosen language (known columns; others as they are), each column
    shown as its kind is (MONEY_COLUMNS, SHARE_COLUMNS, …; counts with separators). Money is rounded to whole units
    for display. `rows`: show up to that many rows before scrolling (Streamlit's default shows about ten);
    `pinned`: columns kept in view while the table scrolls sideways; `also_shares`: columns shown as shares that
    SHARE_COLUMNS does not name (a funnel's conversion, say)."""
    if rows is not None:
        kwargs["height"] = 35 * (min(len(df), rows) + 1) + 3  # Streamlit's row height, the header, the border
    money = [c for c in df.columns if c in MONEY_COLUMNS]
    shares = [c for c in df.columns if c in SHARE_COLUMNS or c in also_shares]
    if money or shares:
        import pandas as pd

        # a column whose cells are all blank (no target set: every attainment None) is of object dtype: as numbers
        df = df.assign(**{c: pd.to_numeric(df[c]).round() for c in money},
                       **{c: pd.to_numeric(df[c]) * 100 for c in shares})
    config = {c: _column_config(c, "share" if c in shares else df[c].dtype) for c in df.columns}
    for c in pinned:
        config[c] = {**config[c], "pinned": True}
    config.update(kwargs.pop("column_config", {}))
    st.dataframe(df, hide_index=True, key=key, column_config=config, placeholder="–", **kwargs)  # not "None"


def money_input(container, label: str, key: str) -> float | None:
    """A money amount typed as people write it (30M, 30,000,000, 3000万), echoed back formatted; an entry that is
    not an amount is named in an error and ignored."""
    text = container.text_input(label, key=key, placeholder=T("money_placeholder"))
    try:
        value = formatting.parse_money(text)
    except ValueError:
        container.error(T("not_an_amount", value=text))
        return None
    if value is not None:
        container.caption(f"= {formatting.money(value)}")
    return value


def forecast_tiles(forecast, cols) -> None:
    """Won to date, P50 and P10–P90 of a QuarterForecast, in the first three of `cols`."""
    cols[0].metric(T("won_to_date"), fmt_short(forecast.won_to_date))
    cols[1].metric("P50", fmt_short(forecast.p50), help=f"{T('expected')}: {fmt_money(forecast.expected)}")
    # the unit once, in the label: "25.0M CNY – 33.1M CNY" did not fit a tile and was cut to "25.0M CNY – …"
    from analytics.analyses.overview import reporting_currency

    currency = cached(reporting_currency)
    unit = "" if not currency else (f"({name})" if (name := formatting.currency_name(currency, lang())) == "元"
                                    else f" ({name})")
    cols[2].metric(f"P10 – P90{unit}", f"{formatting.money_short(forecast.p10, lang())} – "
                                       f"{formatting.money_short(forecast.p90, lang())}")


def download_csv(df, file_name: str, key: str, label_key: str = "download_csv") -> None:
    st.download_button(T(label_key), safe_csv_bytes(df), file_name=file_name, mime="text/csv", key=key)


fmt_pct, fmt_ci, fmt_count, fmt_money = formatting.percent, formatting.interval, formatting.count, formatting.money


def say_what_cannot_be_estimated(estimability) -> None:
    """A warning when the data holds the current stage only, and a note on stages never observed."""
    if not estimability.estimable:
        st.warning(T("current_stage_only", stage=estimability.lost_stage))
    if estimability.unobserved_stages:
        st.caption(T("stages_not_observed", stages=", ".join(map(str, estimability.unobserved_stages))))


def model_verdict(report) -> tuple[str, str]:
    """The Win model page's first sentence (does the model beat the stage win rates on held-out deals), and the
    figures behind it for the page's statistics expander."""
    gains = [s.brier_gain for s in report.stages if s.brier_gain is not None]
    ci = report.pooled_brier_gain_ci
    fmt = {"n": report.pooled_n_test, "k": sum(1 for g in gains if g > 0), "m": len(gains),
           "gain": "–" if report.pooled_brier_gain is None else f"{report.pooled_brier_gain:.4f}",
           "lo": "–" if ci is None else f"{ci[0]:.4f}", "hi": "–" if ci is None else f"{ci[1]:.4f}"}
    return T(f"model_verdict_{report.verdict}", **fmt), (T("model_brier_gain", **fmt) if ci is not None else "")


def amount_coverage(known: int, total: int) -> str:
    """'Amount known for 240 of 269 deals (89%) …', or '' when every deal has one."""
    return T("amount_coverage", known=known, total=total, share=fmt_pct(known / total)) if known < total else ""


def fmt_short(x: float) -> str:
    """107.2M CNY in English, 1.07亿元 in Chinese: metric tiles are narrow (analytics.formatting)."""
    from analytics.analyses.overview import reporting_currency

    return formatting.money_short(x, lang(), cached(reporting_currency))


def stage_target_label(target) -> str:
    """How a mapping target (1–8, won, lost, or None: unmapped) reads in the Import page's stage mapping."""
    from analytics.i18n.labels import stage_label

    if target is None:
        return T("unmapped")
    return T(target) if target in ("won", "lost") else stage_label(target, lang())


def crm_mapping(tables, base, choice: str, decimal_comma: bool):
    """The Import page's mapping step for a CRM export: every field's column and every stage name, each mappable
    and unmappable, with the date order and currencies. The profile is built from the form's state before the one
    conversion of this run, so the stage names listed are those of the column chosen. Returns (profile,
    conversion)."""
    from dataclasses import replace

    from analytics.ingest.crm.convert import convert_export
    from analytics.ingest.crm.load import other_problems
    from analytics.ingest.crm.profiles import DATE_ORDERS, FORM_FIELDS, edited_profile

    state = st.session_state
    deals_table = tables[0]
    fields = list(dict.fromkeys((*FORM_FIELDS, *(f for f in base.columns if not f.startswith("history_")))))
    stage_keys = state.get(f"_stage_keys_{choice}", {})  # this profile's stage widgets, not another's
    profile = edited_profile(
        base, columns={f: state[f"col_{f}"] for f in fields if f"col_{f}" in state},
        stages={label: state[k] for k, label in stage_keys.items() if k in state},
        date_order=state.get("date_order", base.date_order),
        decimal_mark="," if decimal_comma else base.decimal_mark)
    if "reporting_currency" in state:
        rates = {k[5:]: v for k, v in state.items() if isinstance(k, str) and k.startswith("rate_") and v}
        profile = replace(profile, currency=state["reporting_currency"], rates=rates)
    conversion = convert_export(tables, profile)
    if conversion.preset == "generic":
        st.info(T("generic_detected"))
    else:
        st.info(T("crm_detected", preset=conversion.preset) + " — " + ", ".join(
            f"{name}: {T('file_kind_' + role)}" for name, role in conversion.roles.items()))
    missing = conversion.missing_columns(tables)
    headers = [None, *deals_table.header]
    with st.expander(T("column_mapping"), expanded=bool(missing) or conversion.preset == "generic"):
        grid = st.columns(3)
        for i, f in enumerate(fields):
            found = conversion.columns.get(f)
            label = T("map_column", field=column(f)) if f in missing else column(f)
            grid[i % 3].selectbox(label, headers, key=f"col_{f}",
                                  index=headers.index(found) if found in headers else 0,
                                  format_func=lambda h: "—" if h is None else h)
    st.subheader(T("stage_mapping"))
    targets = [None, *range(1, 9), "won", "lost"]
    target_labels = {target: stage_target_label(target) for target in targets}
    keys, grid = {}, st.columns(3)
    for i, census in enumerate(conversion.stages):
        # keyed by profile too: choosing another profile starts from its mapping, not the last one's widgets
        key = "map_" + hashlib.sha1(f"{choice}\0{census.label}".encode()).hexdigest()[:12]
        keys[key] = census.label
        grid[i % 3].selectbox(
            f"{census.label} · {T('rows_count', n=census.rows) if census.rows != 1 else T('one_row')}",
            targets, key=key, index=targets.index(census.target), format_func=target_labels.get)
    state[f"_stage_keys_{choice}"] = keys
    order_labels = {order: T(f"date_order_{order}") for order in DATE_ORDERS}
    st.selectbox(T("date_order"), DATE_ORDERS, key="date_order", index=DATE_ORDERS.index(profile.date_order),
                 format_func=order_labels.get)
    if len(conversion.currencies) > 1:
        codes = sorted(conversion.currencies)
        reporting = st.selectbox(T("reporting_currency"), codes, key="reporting_currency",
                                 index=codes.index(profile.currency) if profile.currency in codes else 0)
        for code in codes:
            if code != reporting:
                st.number_input(T("rate_for", code=code, reporting=reporting), min_value=0.0,
                                value=float(base.rates.get(code, 0.0)), format="%.6f", key=f"rate_{code}")
    for issue in other_problems(conversion):  # what the edited mapping leaves
        st.error(f"{issue.file}: {issue.column or ''} {issue.value or ''} — {import_text(issue.problem)}")
    if conversion.unmapped:
        st.warning(T("unmapped_left", n=len(conversion.unmapped)))
    for w in conversion.warnings[:5]:
        st.caption(f"{w.file}: {w.column or ''} — {import_text(w.problem)}")
    return profile, conversion


def run_import(start_import, clear_demo_first: bool = False) -> None:
    """Run `start_import(store, progress)` in this session's turn to write, under a progress bar (its steps in the
    chosen language), then show its result. `clear_demo_first`: once the import has landed, undo the demo's batch
    in the same write, so that the user's deals and generated ones never mix, and no reader sees them mixed."""
    from analytics.exceptions import KeyfunnelError

    bar = st.progress(0.0)
    kept_demo = cleared = None
    try:
        with writing("Import page") as draft:
            result = start_import(draft, lambda fraction, step: bar.progress(min(fraction, 1.0),
                                                                             text=import_text(step)))
            if clear_demo_first and result.status == "imported" and is_demo(draft):
                try:
                    clear_demo_data(draft)
                    cleared = True
                except KeyfunnelError as exc:  # the import changed demo deals: both stay, and the user is told why
                    kept_demo = exc
    finally:
        _end_uploads()  # the import has ended: its files leave the disk (the batch keeps names and SHA-256)
    bar.empty()
    show_import_result(result)
    if kept_demo is not None:
        st.error(import_text(kept_demo))
    elif cleared:
        st.session_state.pop("_kf_demo_slot", st.empty()).empty()  # the sidebar's banner goes in this run too
        st.info(T("demo_cleared"))


FULL_REASONS = 50  # problems spelled out in full under the table; the CSV download has every one


def show_import_result(result) -> None:
    """An import's outcome, its validation report and warnings (with downloads); a new import's slow results are
    computed in the background."""
    import pandas as pd

    if result.status == "imported":
        refresh_in_background()
    message = import_text(result.outcome)
    # a rejection's message says so itself ("rejected: 2 problems in 1 row; the database is unchanged")
    headline = message[:1].upper() + message[1:] if result.status == "rejected" else \
        f"{T('status_' + result.status)} — {message}"
    # a batch that left rows out is a warning, not a success: the share kept says how much is missing
    shown = st.warning if result.status == "imported" and result.errors else \
        {"imported": st.success, "unchanged": st.info, "rejected": st.error}[result.status]
    shown(headline)
    header = _field_headers()
    for title, issues, key in ((T("validation_report"), result.errors, "errors"),
                               (T("warnings"), result.warnings, "warnings")):
        if issues:
            report = pd.DataFrame([{"file": i.file, "row": i.row, "column": header.get(i.column, i.column),
                                    "value": i.value, "reason": import_text(i.problem)} for i in issues])
            st.subheader(f"{title} ({len(issues)})")
            table(report, f"{key}_table")
            # a table cell cuts a long reason off: each one in full, wrapped, for the first FULL_REASONS
            with st.expander(T("full_reasons", n=min(len(report), FULL_REASONS))):
                st.code("\n".join(" · ".join(str(v) for v in (r["file"], r["row"], r["column"], r["value"])
                                             if v is not None and v == v) + f": {r['reason']}"
                                   for r in report.head(FULL_REASONS).to_dict("records")),
                        language=None, wrap_lines=True)
            download_csv(report, f"{key}.csv", key=f"dl_{key}", label_key="download_report")


def batch_history() -> None:
    """The Import page's list of batches, with undo for the ones still imported."""
    import pandas as pd

    from analytics.exceptions import KeyfunnelError
    from analytics.ingest.batches import list_batches, undo_batch

    st.subheader(T("batches"))
    batches = list_batches(store())
    if not batches:
        return
    # formats of canonical files are named in the app's language; a CRM batch's is its preset (salesforce, …).
    # What a batch did comes first; the files' SHA-256, for auditing, last.
    def when(moment):
        return moment.strftime("%Y-%m-%d %H:%M") if moment else None

    def rows_read(b) -> str:  # each file's own count ("5,229 · 4,825"), not their sum
        counts = b.file_rows if b.file_rows and len(b.file_rows) == len(b.files) else [b.rows_read]
        return " · ".join(formatting.count(n) for n in counts)

    frame = pd.DataFrame([{**b.to_json(), "rows_read": rows_read(b), "status": T(f"status_{b.status}"),
                           "format": T(f"format_{b.format}") if f"format_{b.format}" in TEXT else b.format,
                           "started_at": when(b.started_at), "finished_at": when(b.finished_at),
                           "undone_at": when(b.undone_at)} for b in batches])
    table(frame[[c for c in frame.columns if c not in ("file_sha256", "file_rows")] + ["file_sha256"]], "batches_table")
    if "_kf_undone" in st.session_state:  # said after the rerun that shows the batch undone
        st.success(st.session_state.pop("_kf_undone"))
    active = {b.batch_id: b for b in batches if b.status == "imported"}
    if active:
        def label(batch_id: int) -> str:
            b = active[batch_id]
            return T("undo_option", batch=batch_id, files=", ".join(b.files), when=when(b.finished_at),
                     added=formatting.count(b.deals_inserted), updated=formatting.count(b.deals_updated),
                     events=formatting.count(b.stage_events_added))

        chosen = st.selectbox(T("undo"), list(active), index=len(active) - 1, key="undo_batch", format_func=label)
        sure = st.checkbox(T("undo_confirm", batch=chosen), key="undo_confirm")
        if st.button(T("undo"), key="undo", disabled=not sure):  # one click no longer removes a batch
            try:
                with writing("Import page (undo)") as draft:
                    done = undo_batch(draft, chosen)
            except KeyfunnelError as exc:
                st.error(import_text(exc))
            else:
                st.session_state["_kf_undone"] = T(
                    "undo_done", batch=done.batch_id, added=done.deals_inserted, updated=done.deals_updated,
                    events=done.stage_events_added)
                st.session_state.pop("undo_confirm", None)
                st.rerun()


def _field_headers() -> dict[str, str]:
    """In Chinese, a canonical column is named as the Chinese import template heads it (amount → 金额)."""
    if lang() != "zh":
        return {}
    from analytics.ingest.headers import (
        DEAL_HEADERS_ZH,
        HISTORY_HEADERS_ZH,
        WIDE_STAGE_HEADERS_ZH,
    )

    return {field: header for header, field in {**DEAL_HEADERS_ZH, **HISTORY_HEADERS_ZH,
                                                **WIDE_STAGE_HEADERS_ZH}.items()}


def upload_path(name: str, data: bytes) -> Path:
    """An uploaded file on disk in the private uploads folder beside the database, once per content: every rerun
    of the Import page (each mapping change is one) reuses it. Removed when its import ends (run_import)."""
    from analytics.ingest.uploads import save_upload, uploads_dir

    path = save_upload(uploads_dir(resolve_db_path()), name, data)
    st.session_state.setdefault("_kf_uploaded", set()).add(str(path))
    return path


def file_uploader(label: str, key: str):
    """st.file_uploader for any file, in the chosen language.

    Every type is accepted: Streamlit's own refusal of a type ("application/pdf files are not allowed") is English
    only, while keyfunnel's reading names what a file is (a PDF, an image, a workbook) in either language.
    Streamlit's uploader has no text of its own to set, so in Chinese its button and limits line are redrawn in CSS
    (the English text hidden, the Chinese drawn after it)."""
    files = st.file_uploader(label, accept_multiple_files=True, key=key)
    if lang() != "en":
        button = '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p'
        limits = '[data-testid="stFileUploaderDropzoneInstructions"] span'
        st.html(f"""<style>
{button}, {limits} {{font-size: 0}}
{button}::after {{content: "{T('uploader_button')}"; font-size: 0.875rem}}
{limits}::after {{content: "{T('uploader_limits')}"; font-size: 0.875rem}}
</style>""")
    return files


def page_not_found_text() -> None:
    """Streamlit's "Page not found" dialog (an address no page has) in the chosen language.

    Streamlit writes it in English and offers no way to set it, so outside English a small script redraws its two
    lines when the dialog appears. It is the one script keyfunnel runs in the page; it only replaces text, and in
    English it does nothing."""
    text = None if lang() == "en" else {"title": T("page_not_found"), "message": T("page_not_found_message")}
    st.sidebar.html(f"""<script>
(() => {{
  window.kfPageNotFound = {json.dumps(text)};  // null in English: the dialog keeps Streamlit's own words
  if (window.kfPageNotFoundObserved) return;
  window.kfPageNotFoundObserved = true;
  const pattern = /^You have requested page \\/(.*), but no corresponding file was found in the app's pages\\/ directory\\. Running the app's main page\\.$|^The page that you have requested does not seem to exist\\. Running the app's main page\\.$/;
  const redraw = () => window.kfPageNotFound && document.querySelectorAll("[role=dialog] *").forEach((node) => {{
    if (node.children.length) return;
    const text = node.textContent.trim();
    if (text === "Page not found") node.textContent = window.kfPageNotFound.title;
    if (pattern.test(text)) node.textContent = window.kfPageNotFound.message;
  }});
  redraw();
  new MutationObserver(redraw).observe(document.body, {{childList: true, subtree: true}});
}})();
</script>""", unsafe_allow_javascript=True)


def uploader_key() -> str:
    """The uploader's key: a new one after each import, so that the files just imported leave the widget (and are
    not written to disk again by the next rerun)."""
    return f"uploads_{st.session_state.get('_kf_upload_round', 0)}"


def _end_uploads() -> None:
    from analytics.ingest.uploads import remove_upload

    for path in st.session_state.pop("_kf_uploaded", set()):
        remove_upload(Path(path))
    st.session_state["_kf_upload_round"] = st.session_state.get("_kf_upload_round", 0) + 1
