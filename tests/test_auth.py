from streamlit.testing.v1 import AppTest

from analytics.auth import (
    ANALYST,
    VIEWER,
    can_import,
    hash_password,
    role_for_email,
    role_for_password,
    verify_password,
)

from .conftest import ROOT


def test_passwords_are_stored_salted_and_hashed():
    a, b = hash_password("s3cret"), hash_password("s3cret")
    assert a != b and "s3cret" not in a and a.startswith("scrypt$")
    assert verify_password("s3cret", a) and not verify_password("S3cret", a) and not verify_password("x", "junk")


def test_roles(monkeypatch):
    monkeypatch.setenv("KEYFUNNEL_ANALYST_PASSWORD_HASH", hash_password("analyst-pw"))
    monkeypatch.setenv("KEYFUNNEL_VIEWER_PASSWORD_HASH", hash_password("viewer-pw"))
    monkeypatch.setenv("KEYFUNNEL_ANALYST_EMAILS", "li.wei@example.com, ann@example.com")
    assert role_for_password("analyst-pw") == ANALYST and role_for_password("viewer-pw") == VIEWER
    assert role_for_password("guess") is None
    assert role_for_email("Ann@example.com") == ANALYST and role_for_email("dir@example.com") == VIEWER
    assert can_import(ANALYST) and not can_import(VIEWER) and not can_import(None)


def _login(monkeypatch, tmp_path, password):
    monkeypatch.setenv("KEYFUNNEL_DB", str(tmp_path / "kf.duckdb"))
    monkeypatch.setenv("KEYFUNNEL_ANALYST_PASSWORD_HASH", hash_password("analyst-pw"))
    monkeypatch.setenv("KEYFUNNEL_VIEWER_PASSWORD_HASH", hash_password("viewer-pw"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert at.text_input(key="login_password") is not None  # nothing but the login form
    assert not at.get("plotly_chart") and not at.metric
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    return at


def test_a_viewer_cannot_import(monkeypatch, tmp_path):
    at = _login(monkeypatch, tmp_path, "viewer-pw")
    assert not at.exception and at.session_state["role"] == VIEWER
    at.switch_page("pages/import.py").run()
    assert "Only analysts may import or undo." in [i.value for i in at.info]
    assert not at.get("file_uploader") and not [b for b in at.button if b.key in ("run_import", "undo")]


def test_a_viewer_reads_the_calls_but_cannot_record_one(monkeypatch, tmp_path):
    at = _login(monkeypatch, tmp_path, "viewer-pw")
    at.switch_page("pages/calls.py").run()
    assert not at.exception and "Analysts record calls; you can read them." in [c.value for c in at.caption]
    assert not [b for b in at.button if b.proto.is_form_submitter] and not at.number_input


def test_an_analyst_can(monkeypatch, tmp_path):
    at = _login(monkeypatch, tmp_path, "analyst-pw")
    at.switch_page("pages/import.py").run()
    assert at.get("file_uploader") and at.button(key="run_import")


def test_a_wrong_password_is_refused(monkeypatch, tmp_path):
    at = _login(monkeypatch, tmp_path, "guess")
    assert "That password is not right." in [e.value for e in at.error] and "role" not in at.session_state
