"""The one place where an email address is validated and normalised.

Every email that reaches the store (contacts, secondary emails, tombstones, account users,
exclusion lists) goes through ``normalise_email`` so that a plain unique constraint is a
case-insensitive one, and so that R-EXC-3 ("invalid email addresses are not created") means the
same thing for the API, the CLI and the sync.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from engine.errors import RollcallError

MAX_EMAIL_LENGTH = 320


class InvalidEmail(RollcallError):
    code = "INVALID_EMAIL"
    http_status = 422


def normalise_email(raw: str, *, field: str = "email") -> str:
    """Strip, lowercase and check the syntax (no DNS lookup); raise InvalidEmail naming ``field``.

    The whole address is lowercased, local part included: mail systems treat it case-insensitively
    in practice, and two contacts differing only by case would be the same person.
    """
    candidate = raw.strip().lower()
    if not candidate or len(candidate) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"{field}: {raw!r} is not a valid email address", details={"field": field, "value": raw})
    try:
        validated = validate_email(candidate, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InvalidEmail(
            f"{field}: {raw!r} is not a valid email address ({exc})", details={"field": field, "value": raw}
        ) from None
    return validated.normalized.lower()


def try_normalise_email(raw: str | None) -> str | None:
    """The normalised email, or None when ``raw`` is missing or invalid (the sync counts those, R-EXC-3/6)."""
    if raw is None:
        return None
    try:
        return normalise_email(raw)
    except InvalidEmail:
        return None


def email_domain(email: str) -> str:
    """The domain of a normalised email."""
    return email.rsplit("@", 1)[1]


def normalise_domain(raw: str) -> str:
    """A domain as the exclusion lists store it (R-SET-4/5/6): lowercase, no ``@``, no surrounding dots."""
    domain = raw.strip().lower().lstrip("@").strip(".")
    if not domain or "." not in domain or any(ch.isspace() or ch in "@/," for ch in domain):
        raise InvalidDomain(f"{raw!r} is not a domain name", details={"value": raw})
    return domain


class InvalidDomain(RollcallError):
    code = "INVALID_DOMAIN"
    http_status = 422


def domain_is_excluded(email: str, domains: frozenset[str] | set[str]) -> bool:
    """True when ``email``'s domain is one of ``domains`` or a subdomain of one (mail.corp.com ∈ corp.com)."""
    domain = email_domain(email)
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts) - 1))
