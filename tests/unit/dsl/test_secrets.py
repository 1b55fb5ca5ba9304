"""#12.2 secrets a definition may see, at render time: a webhook's templates read only the secrets
the step names; what a step stores is redacted; a secrets file that cannot be used is one line
naming the setting, never its content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.dsl import TemplateRenderError, render, validate_text
from engine.dsl.models import WebhookStep
from engine.dsl.templates import secret_names
from engine.enrollment.context import SECRET_ENV_PREFIX, Secrets, SecretsFileError, read_secrets_file

FILE_SECRETS = "TOKEN: file-token-value\nOTHER: other-secret-value\nURL: https://hooks.example.com/a b\n"


@pytest.fixture
def secrets(tmp_path: Path) -> Secrets:
    path = tmp_path / "secrets.yaml"
    path.write_text(FILE_SECRETS)
    return Secrets(path, hidden=["api-key-value"])


def context(secrets: Secrets, *names: str) -> dict[str, Any]:
    return {"contact": {"id": 1}, "secrets": secrets.for_step(names)}


def test_a_template_reads_the_secrets_its_step_names(secrets: Secrets) -> None:
    assert render("Bearer {{ secrets.TOKEN }}", context(secrets, "TOKEN")) == "Bearer file-token-value"
    assert render("{{ secrets['TOKEN']|upper }}", context(secrets, "TOKEN")) == "FILE-TOKEN-VALUE"


@pytest.mark.parametrize(
    "template",
    [
        "{{ secrets.OTHER }}",  # configured, but not named by the step
        "{{ secrets.items()|list }}",
        "{{ secrets.values()|list }}",
        "{{ secrets.get('OTHER') }}",
        "{{ secrets|list }}",
        "{% for name in secrets %}{{ name }}{% endfor %}",
        "{{ secrets.__class__.__init__.__globals__ }}",
        "{{ secrets._source }}",
        "{{ secrets|attr('_source') }}",
    ],
)
def test_nothing_else_of_the_secrets_is_readable(secrets: Secrets, template: str) -> None:
    """Validation refuses these already; should a revision stored before it use them, the object
    a template sees exposes the named secrets one by one and nothing else."""
    with pytest.raises(TemplateRenderError) as refused:
        render(template, context(secrets, "TOKEN"))
    assert "other-secret-value" not in refused.value.message
    assert "file-token-value" not in refused.value.message


def test_printing_the_secrets_object_shows_no_value(secrets: Secrets) -> None:
    assert "file-token-value" not in render("{{ '%s' % secrets }}", context(secrets, "TOKEN"))


def test_a_named_secret_that_is_not_configured_says_where_to_configure_it(secrets: Secrets) -> None:
    with pytest.raises(TemplateRenderError) as missing:
        render("{{ secrets.ABSENT }}", context(secrets, "ABSENT"))
    assert (
        "secret 'ABSENT' is not configured (ROLLCALL_SECRET_ABSENT or ROLLCALL_SECRETS_FILE)" in missing.value.message
    )


def test_the_environment_takes_precedence(secrets: Secrets, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV_PREFIX + "TOKEN", "env-token-value")
    assert render("{{ secrets.TOKEN }}", context(secrets, "TOKEN")) == "env-token-value"


def test_a_webhook_step_names_the_secrets_of_its_url_headers_and_body() -> None:
    result = validate_text(
        """
key: hooks
name: Hooks
secrets: [URL, TOKEN, OTHER]
enrollment: {triggers: [{type: api}]}
steps:
  - id: hook
    type: webhook
    url: "{{ secrets.URL }}/x"
    headers: {Authorization: "Bearer {{ secrets['TOKEN'] }}"}
    body: {nested: [{deep: "{{ secrets.OTHER|lower }}"}], plain: text}
"""
    )
    step = result.definition_or_raise().steps[0]
    assert isinstance(step, WebhookStep)
    assert secret_names(step.templates()) == {"URL", "TOKEN", "OTHER"}


def test_redact_replaces_every_secret_and_api_key_in_text_and_json(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV_PREFIX + "FROM_ENV", "env-only-value")
    stored = secrets.redact(
        {
            "message": "HTTP 404: /x/file-token-value?k=api-key-value",
            "response": {"echo": ["other-secret-value", {"env-only-value": 1}]},
            "encoded": "https%3A%2F%2Fhooks.example.com%2Fa%20b and https%3A//hooks.example.com/a%20b",
            "status_code": 404,
        }
    )
    assert stored == {
        "message": "HTTP 404: /x/***?k=***",
        "response": {"echo": ["***", {"***": 1}]},
        "encoded": "*** and ***",
        "status_code": 404,
    }


def test_redact_still_works_when_the_file_broke_after_start(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("TOKEN: t0ken-value\n")
    secrets = Secrets(path, hidden=["api-key-value"])
    path.write_bytes(b"\xff\xfe")
    assert secrets.redact("api-key-value") == "***"


# --- ROLLCALL_SECRETS_FILE that cannot be used ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("<directory>", "is a directory, not a file"),
        (b"TOKEN: caf\xe9-secret-value\n", "is not UTF-8 text (byte 10)"),
        ("TOKEN: [unclosed-secret-value\n", "is not valid YAML (line 2, column 1)"),
        ("- just-a-secret-value\n", "must be a YAML mapping of NAME: value"),
        ("leaked-secret-value-as-a-name: x\n", "entry 1 is not NAME: value"),
        ("TOKEN:\n  nested: secret-value\n", "entry 1 (TOKEN) has no text value"),
    ],
)
def test_a_bad_secrets_file_is_one_line_naming_the_setting_and_not_its_content(
    tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    path = tmp_path / "secrets.yaml"
    if content == "<directory>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SecretsFileError) as bad:
        Secrets(path).check()
    message = bad.value.message
    assert message.startswith(f"ROLLCALL_SECRETS_FILE: {path}") and expected in message
    assert "\n" not in message and "secret-value" not in message
    assert bad.value.code == "SECRETS_FILE_ERROR"


def test_a_good_file_and_an_empty_one_are_read(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("TOKEN: abc\nPORT: 8080\n")
    assert read_secrets_file(path) == {"TOKEN": "abc", "PORT": "8080"}
    path.write_text("")
    assert read_secrets_file(path) == {}
