"""Email validation and normalisation in one place (R-EXC-3), and exclusion domains (R-SET-6)."""

import pytest

from engine.crm.emails import InvalidDomain, InvalidEmail, domain_is_excluded, normalise_domain, normalise_email


def test_email_is_stripped_and_lowercased() -> None:
    assert normalise_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize(
    "raw", ["", "   ", "ann", "ann@", "@example.com", "ann@@example.com", "ann@localhost", "a b@example.com"]
)
def test_invalid_email_raises_invalid_email_naming_the_field(raw: str) -> None:
    with pytest.raises(InvalidEmail) as raised:
        normalise_email(raw, field="secondary_emails.2")
    assert raised.value.code == "INVALID_EMAIL"
    assert raised.value.http_status == 422
    assert raised.value.details == {"field": "secondary_emails.2", "value": raw}


def test_excluded_domain_matches_subdomains_but_not_lookalikes() -> None:
    domains = {"corp.com"}
    assert domain_is_excluded("a@corp.com", domains)
    assert domain_is_excluded("a@mail.corp.com", domains)
    assert not domain_is_excluded("a@notcorp.com", domains)
    assert not domain_is_excluded("a@corp.com.evil.org", domains)


@pytest.mark.parametrize(
    ("raw", "expected"), [("Corp.COM", "corp.com"), ("@corp.com", "corp.com"), (" corp.com. ", "corp.com")]
)
def test_domain_is_normalised(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", ["", "corp", "a@corp.com", "corp com", "corp.com/x"])
def test_invalid_domain_is_refused(raw: str) -> None:
    with pytest.raises(InvalidDomain):
        normalise_domain(raw)
