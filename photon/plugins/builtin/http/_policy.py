"""Which addresses the `http` tool may connect to: the agent's settings for it, and the verdict
on one address.

Only public addresses, unless the agent's `[tools.http]` table says otherwise: a task must not
reach the agent's own loopback services, its private network or a cloud metadata endpoint just
by naming them. Pure (no network code): the plugin checks the settings, the fetch asks about
every address it is about to connect to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_PRIVATE: Final = "allow_private"
ALLOW_NETWORKS: Final = "allow_networks"

_PRIVATE: Final = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED: Final = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
# IPv6 ranges that carry an IPv4 address a gateway may lead to; the IPv4 one is checked too.
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL: Final = ipaddress.ip_network("64:ff9b:1::/48")  # local use, no fixed embedding
_COMPATIBLE: Final = ipaddress.ip_network("::/96")  # the deprecated ::a.b.c.d form
_SITE_LOCAL: Final = ipaddress.ip_network("fec0::/10")


class SettingError(ValueError):
    """A `[tools.http]` setting has the wrong type or value; the message names it."""


class AddressRefused(Exception):
    """A connection to `address` (which `host` resolved to) is not allowed."""

    def __init__(
        self, *, host: str, address: IPAddress, reason: str, refused: IPAddress | None = None
    ) -> None:
        super().__init__(f"{host}: {address} is {reason}")
        self.host = host
        self.address = address
        self.reason = reason
        # The address the verdict is about: `address`, or an IPv4 address carried in it.
        self.refused = refused or address

    def explain(self) -> str:
        """One line: what was refused, and the setting that would allow it."""
        subject = (
            str(self.address)
            if self.host == str(self.address)
            else (f"{self.host} ({self.address})")
        )
        single = "32" if self.refused.version == 4 else "128"
        return (
            f"{subject} is {self.reason}, and this agent connects only to public addresses:"
            f' allow it with {ALLOW_NETWORKS} = ["{self.refused}/{single}"] (or'
            f" {ALLOW_PRIVATE} = true) under [tools.http] in agent.toml"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressPolicy:
    """`allow_private`: every address may be connected to. `allow_networks`: these may be, on
    top of the public ones."""

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AddressPolicy:
        """Raises SettingError naming the setting."""
        allow_private = settings.get(ALLOW_PRIVATE, False)
        if not isinstance(allow_private, bool):
            raise SettingError(f"[tools.http] {ALLOW_PRIVATE} must be true or false")
        raw = settings.get(ALLOW_NETWORKS, [])
        if not isinstance(raw, list | tuple) or not all(isinstance(n, str) for n in raw):
            raise SettingError(
                f'[tools.http] {ALLOW_NETWORKS} must be a list of networks, e.g. ["10.1.0.0/16"]'
            )
        networks = []
        for i, text in enumerate(raw):
            try:
                networks.append(ipaddress.ip_network(text.strip()))
            except ValueError as exc:
                raise SettingError(
                    f"[tools.http] {ALLOW_NETWORKS}[{i}] ({text!r}) is not an IP network: {exc}"
                ) from None
        return cls(allow_private=allow_private, allow_networks=tuple(networks))

    def check(self, host: str, address: IPAddress) -> None:
        """Raises AddressRefused when `address` (from `host`) may not be connected to."""
        if self.allow_private:
            return
        forms = _forms(address)
        for form in forms:
            if any(form in network for network in self.allow_networks):
                continue
            if (reason := _not_public(form)) is not None:
                if form is not forms[0]:
                    reason = f"an address carrying {form}, {reason}"
                raise AddressRefused(host=host, address=forms[0], reason=reason, refused=form)


def parse_address(text: str) -> IPAddress:
    """The address in a getaddrinfo() result, without an IPv6 scope (`fe80::1%eth0`)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def _forms(address: IPAddress) -> tuple[IPAddress, ...]:
    """The addresses a connection to `address` ends up at, first the one judged as a whole.

    An IPv4-mapped address is its IPv4 address, and so is a NAT64 one (an IPv6-only host
    reaches every IPv4 server that way, public ones too). 6to4 and IPv4-compatible addresses
    carry an IPv4 address a gateway may lead to: it is checked as well."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (low32,)
    carried: list[IPAddress] = []
    if address.sixtofour is not None:
        carried.append(address.sixtofour)
    if address in _COMPATIBLE and int(address) > 1:  # not :: or ::1
        carried.append(low32)
    return (address, *carried)


def _not_public(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is, or None for a public one."""
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in _PRIVATE):  # False across IP versions
        return "a private address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address in _SITE_LOCAL or address in _NAT64_LOCAL:
        return "a site-local address"
    if address.is_reserved or address.is_private or not address.is_global:
        return "a reserved or special-purpose address"
    return None
