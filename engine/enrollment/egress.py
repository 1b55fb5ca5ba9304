"""Where webhook steps may connect (#12.3): the public internet, and what the operator allows.

A definition chooses its webhook URLs, so without a policy a webhook reaches whatever the worker
can: the database, the Temporal frontend, the API's own routes, the Zoom emulator's admin API, a
cloud's metadata service at 169.254.169.254. Webhooks therefore refuse every address that is
not public — loopback, private (RFC 1918, ULA), link-local, shared (CGNAT 100.64.0.0/10),
multicast, unspecified, reserved, and those addresses embedded in IPv6 (IPv4-mapped,
-compatible, 6to4, NAT64) — unless ``ROLLCALL_WEBHOOK_ALLOW`` lists it.

The check runs when a connection is made, on every address the host name resolves to, and the
connection goes to the address that was checked (the URL's host still names the server for TLS
and in ``Host``): a name that resolves to a public address when checked and to 127.0.0.1 when
connecting (DNS rebinding) cannot pass. Decimal, octal and hex spellings of an address
(``2130706433``, ``0x7f000001``, ``0177.0.0.1``) are read as the resolver reads them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import httpcore
import httpx

from engine.config import Settings
from engine.enrollment.context import Secrets
from engine.errors import ConfigurationError, RollcallError

WEBHOOK_ALLOW_SETTING = "ROLLCALL_WEBHOOK_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class EgressDenied(RollcallError):
    """A webhook's destination is not public and not allowed; names the host, never the URL."""

    code = "EGRESS_DENIED"

    def __init__(self, host: str, address: str, kind: str) -> None:
        super().__init__(
            f"{host} is not an allowed webhook destination ({address} is {kind}); "
            f"allow it with {WEBHOOK_ALLOW_SETTING}",
            details={"host": host, "address": address},
        )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def restricted_kind(address: IPAddress) -> str | None:
    """What makes ``address`` unfit for a webhook ("a loopback address", …); None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind = restricted_kind(embedded)
            return f"{kind} inside an IPv6 address" if kind else None
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((kind for restricted, kind in checks if restricted), None)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, read as the system resolver reads it (``2130706433`` and
    ``0177.0.0.1`` are 127.0.0.1); None for a host name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@dataclass(frozen=True)
class EgressPolicy:
    """The allowlist: networks (any port), addresses or host names with a port, host names (any port)."""

    networks: tuple[IPNetwork, ...] = ()
    endpoints: frozenset[tuple[str, int]] = frozenset()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_setting(cls, entries: Iterable[str]) -> EgressPolicy:
        """Read ``ROLLCALL_WEBHOOK_ALLOW`` entries: ``127.0.0.1:8766``, ``[::1]:8080``,
        ``10.0.0.0/8``, ``192.168.1.20``, ``hooks.internal.example`` or ``hooks.internal.example:8443``.
        ConfigurationError (naming the setting and the entry) for anything else."""
        networks: list[IPNetwork] = []
        endpoints: set[tuple[str, int]] = set()
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                parsed = _parse_entry(entry)
            except ValueError:
                raise ConfigurationError(
                    f"{WEBHOOK_ALLOW_SETTING}: {entry!r} is not host:port, an address, a CIDR network or a host name"
                ) from None
            if isinstance(parsed, ipaddress.IPv4Network | ipaddress.IPv6Network):
                networks.append(parsed)
            elif isinstance(parsed, tuple):
                endpoints.add(parsed)
            else:
                hosts.add(parsed)
        return cls(tuple(networks), frozenset(endpoints), frozenset(hosts))

    def check(self, host: str, port: int, address: IPAddress) -> None:
        """EgressDenied unless a connection to ``address`` (resolved from ``host``) on ``port`` may go."""
        kind = restricted_kind(address)
        if kind is None or self._allows(_host_name(host), port, _plain(address)):
            return
        raise EgressDenied(host, str(address), kind)

    def _allows(self, host: str, port: int, address: IPAddress) -> bool:
        return (
            any(address in network for network in self.networks)
            or (str(address), port) in self.endpoints
            or (host, port) in self.endpoints
            or host in self.hosts
        )


def _host_name(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is (the allowlist names IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_entry(entry: str) -> IPNetwork | tuple[str, int] | str:
    if "/" in entry:
        return ipaddress.ip_network(entry, strict=False)
    if entry.startswith("["):  # [IPv6] or [IPv6]:port
        inside, closing, rest = entry[1:].partition("]")
        bracketed = ipaddress.IPv6Address(inside)
        if not closing or (rest and not rest.startswith(":")):
            raise ValueError(entry)
        return (str(_plain(bracketed)), _port(rest[1:])) if rest else ipaddress.ip_network(bracketed)
    address = literal_address(entry)
    if address is not None:
        return ipaddress.ip_network(address)
    host, separator, port = entry.rpartition(":")
    if separator:
        address = literal_address(host)
        return (str(_plain(address)) if address is not None else _valid_host_name(host), _port(port))
    return _valid_host_name(entry)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(text)
    return int(text)


def _valid_host_name(text: str) -> str:
    name = _host_name(text)
    labels = name.split(".")
    if not name or not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise ValueError(text)
    return name


# --- the connection-time check ------------------------------------------------------------------------


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the egress check: resolve, check every address, connect to a
    checked one. TLS still uses the URL's host name (httpcore passes it as the server name)."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        for address in addresses:
            self._policy.check(host, port, address)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # _resolve never returns no address
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied(path, path, "a local socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, seconds: float | None) -> list[IPAddress]:
    try:
        with anyio.fail_after(seconds):
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}")
    return addresses


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on the guarded backend; no proxy from the environment (it would connect
    to the proxy, not to the checked address)."""

    def __init__(self, policy: EgressPolicy) -> None:
        super().__init__(trust_env=False)
        # httpx does not take a network backend; its pool is built the same way with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedNetworkBackend(policy),
        )


def check_webhook_settings(settings: Settings) -> None:
    """ConfigurationError (one line naming the setting) for a secrets file or a webhook allowlist
    that cannot be used: checked before the worker (or ``rollcall up``) starts anything."""
    Secrets(settings.secrets_file).check()
    EgressPolicy.from_setting(settings.webhook_allow)


def guarded_client(policy: EgressPolicy) -> httpx.AsyncClient:
    """The webhook client: egress-checked, no redirects followed, no proxy from the environment."""
    return httpx.AsyncClient(transport=GuardedTransport(policy), follow_redirects=False, trust_env=False)
