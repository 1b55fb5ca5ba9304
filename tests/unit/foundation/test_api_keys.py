"""Issue #12.1: API keys with names and roles, kept as digests; the route table's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from engine.api.access import PUBLIC, ROUTE_ROLES, RouteTableError, check_route_table
from engine.api.app import create_app
from engine.api.auth import ApiKeysConfigError, Caller, Role, configured_keys, load_keyring
from engine.config import Settings
from engine.zoom.settings import ZoomSettings

CANARY = "s3cret-canary-value"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, database_url="sqlite://", definitions_dir=None, **values)


def test_keys_have_names_and_roles_from_every_source(tmp_path: Path) -> None:
    """name:role:key entries; a bare key is an operator ``api-key-N``; an admin-list key is ``admin-key-N``;
    the keys file takes strings and mappings."""
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text("- ci:viewer:ci-key\n- {name: deploy, role: editor, key: 'deploy:key:with:colons'}\n")
    settings = _settings(
        api_keys=["ops:operator:ops-key", "legacy-key"], admin_api_keys=["root"], api_keys_file=keys_file
    )
    found = [(key.name, key.role, key.where, key.secret.get_secret_value()) for key in configured_keys(settings)]
    assert found == [
        ("ops", Role.OPERATOR, "ROLLCALL_API_KEYS entry 1", "ops-key"),
        ("api-key-2", Role.OPERATOR, "ROLLCALL_API_KEYS entry 2", "legacy-key"),
        ("admin-key-1", Role.ADMIN, "ROLLCALL_ADMIN_API_KEYS entry 1", "root"),
        ("ci", Role.VIEWER, "ROLLCALL_API_KEYS_FILE entry 1", "ci-key"),
        ("deploy", Role.EDITOR, "ROLLCALL_API_KEYS_FILE entry 2", "deploy:key:with:colons"),
    ]


def test_the_keyring_keeps_digests_and_identifies_keys_by_their_bytes() -> None:
    keyring = load_keyring(_settings(api_keys=[f"ci:viewer:{CANARY}", "ops:operator:other"]))
    key = keyring.identify(CANARY.encode())
    assert key is not None and (key.name, key.role) == ("ci", Role.VIEWER)
    assert keyring.identify(b"other") is not None
    assert keyring.identify(b"wrong") is None
    assert keyring.identify(CANARY.encode() + b" ") is None
    assert all(CANARY not in repr(vars(entry)) for entry in keyring)
    assert CANARY not in repr(Caller(key_name="ci", role=Role.VIEWER))


def test_roles_include_the_roles_below_them() -> None:
    assert [role.value for role in Role if role.includes(Role.OPERATOR)] == ["operator", "editor", "admin"]
    assert not Role.EDITOR.includes(Role.ADMIN)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [f"ci:superuser:{CANARY}"],
            "ROLLCALL_API_KEYS entry 1: unknown role (one of admin, editor, operator, viewer)",
        ),
        (["ci:viewer:"], "ROLLCALL_API_KEYS entry 1: the key is empty"),
        (["ci:viewer:  "], "ROLLCALL_API_KEYS entry 1: the key is empty"),
        (["ok-key", f"ci:{CANARY}"], "ROLLCALL_API_KEYS entry 2 is not name:role:key"),
        ([f"bad name:viewer:{CANARY}"], "ROLLCALL_API_KEYS entry 1: the name must be"),
        (
            [f"a:viewer:{CANARY}", "a:admin:x"],
            "ROLLCALL_API_KEYS entry 2 has the same name as ROLLCALL_API_KEYS entry 1",
        ),
        (
            [f"a:viewer:{CANARY}", f"b:admin:{CANARY}"],
            "ROLLCALL_API_KEYS entry 2 has the same key as ROLLCALL_API_KEYS entry 1",
        ),
    ],
)
def test_a_malformed_entry_is_one_line_naming_the_setting_never_the_entry(entries: list[str], message: str) -> None:
    with pytest.raises(ApiKeysConfigError) as caught:
        configured_keys(_settings(api_keys=entries))
    assert caught.value.message.startswith(message)
    assert CANARY not in caught.value.message and "superuser" not in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        (b"\xff\xfe" + CANARY.encode(), "not UTF-8 text"),
        (f"- [unclosed: {CANARY}".encode(), "is not valid YAML/JSON (ParserError)"),
        (f"key: {CANARY}".encode(), "must hold a list of name:role:key entries"),
        (f"- {{name: ci, role: viewer, secret: {CANARY}}}".encode(), "entry 1 is neither a name:role:key string"),
    ],
)
def test_a_keys_file_that_cannot_work_is_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "keys.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ApiKeysConfigError) as caught:
        configured_keys(_settings(api_keys_file=path))
    assert caught.value.message.startswith("ROLLCALL_API_KEYS_FILE")
    assert message in caught.value.message
    assert CANARY not in caught.value.message


def test_a_directory_as_keys_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ApiKeysConfigError, match=r"ROLLCALL_API_KEYS_FILE: cannot read .*: Is a directory"):
        configured_keys(_settings(api_keys_file=tmp_path))


def test_the_matrix_is_least_privilege_as_issue_12_defines_it() -> None:
    """Viewers only read; editors add definitions; admins own settings, Zoom, business units, account
    users and keys; only health, readiness, the docs, Zoom's signed webhooks and the codec login
    (which checks the key it is given) are public; decoding payloads (#17.4) is a read."""
    public = {route for route, role in ROUTE_ROLES.items() if role is PUBLIC}
    assert public == {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/docs/assets/{asset}"),
        ("GET", "/redoc"),
        ("POST", "/v1/zoom/webhooks/{connection}"),
        ("GET", "/codec/login"),
        ("POST", "/codec/login"),
    }
    assert {role for (method, _), role in ROUTE_ROLES.items() if method == "GET"} == {PUBLIC, Role.VIEWER, Role.ADMIN}
    assert [route for route, role in ROUTE_ROLES.items() if role is Role.VIEWER and route[0] != "GET"] == [
        ("POST", "/codec/decode"),
        ("POST", "/v1/contacts/search"),
    ]
    assert ROUTE_ROLES[("POST", "/codec/encode")] is Role.OPERATOR  # encoding crafts inputs
    assert {route for route, role in ROUTE_ROLES.items() if role is Role.EDITOR} == {
        ("PUT", "/v1/workflows/{key}"),
        ("POST", "/v1/workflows/{key}/enable"),
        ("POST", "/v1/workflows/{key}/disable"),
    }
    admin = {path for (_, path), role in ROUTE_ROLES.items() if role is Role.ADMIN}
    assert all(
        path.startswith(("/v1/sync-settings", "/v1/zoom-connections", "/v1/business-units", "/v1/account-users"))
        or path == "/v1/api-keys"
        for path in admin
    )
    for write in [
        ("PUT", "/v1/sync-settings"),
        ("POST", "/v1/zoom-connections"),
        ("POST", "/v1/business-units"),
        ("POST", "/v1/account-users"),
        ("DELETE", "/v1/account-users/{account_user_id}"),
    ]:
        assert ROUTE_ROLES[write] is Role.ADMIN, write


def _app() -> FastAPI:
    return create_app(_settings(), zoom_settings=ZoomSettings(connections=[]))


def test_a_route_the_table_lacks_stops_the_app() -> None:
    app = _app()
    check_route_table(app)

    @app.delete("/v1/unlisted")
    def unlisted() -> None: ...

    with pytest.raises(RouteTableError, match=r"no entry for \['DELETE /v1/unlisted'\]"):
        check_route_table(app)
