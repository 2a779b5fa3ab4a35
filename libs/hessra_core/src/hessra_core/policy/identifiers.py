"""Identifier canonical forms and DNS wildcard matching, shared by policy and X.509 code.

Rules (the README's "Identifier types" section says the same):

* ``san_uri``: compared exactly, after removing one leading ``uri:`` from either side, so
  the policy may write ``uri:urn:service:api-gateway`` or ``urn:service:api-gateway`` for a
  certificate whose URI SAN is ``urn:service:api-gateway``.
* ``san_dns``: case-insensitive, one trailing dot ignored. A ``*`` may appear once, in the
  leftmost label only, and stands for one or more characters inside that label: it never
  crosses a dot and never matches nothing. ``worker-*.internal.com`` matches
  ``worker-3.internal.com`` but not ``worker-.internal.com`` nor
  ``worker-3.evil.internal.com``. At least two labels must follow the wildcard label.
  Only a host name is ever compared (``host_name``): ASCII letters, digits, ``_`` and
  ``-`` labels, so ``123456789:x.partner.test`` fits no wildcard, from a certificate SAN
  or a token subject alike; internationalised names are written in punycode.
* ``san_email``: the domain part is case-insensitive, the local part is exact.
* ``san_ip``: IPv4 or IPv6, compared as addresses; IPv6 is written compressed, and an
  IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is the same as its IPv4 form.
* ``serial``: a positive integer, written in decimal (or hex with a ``0x`` prefix in the
  policy); certificates' serials are compared as numbers and shown in decimal.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from hessra_core.policy.model import WILDCARD, IdentifierType

_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_DNS_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_WILDCARD_LABEL = re.compile(r"^[a-z0-9_-]*\*[a-z0-9_-]*$")
_HEX_SERIAL = re.compile(r"^0[xX][0-9A-Fa-f]+$")
# Used with fullmatch: ``$`` alone would also accept a trailing newline.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
# RFC 5280 caps serial numbers at 20 octets.
_MAX_SERIAL = 2**160


class IdentifierFormatError(ValueError):
    """A policy identifier value is malformed; ``hint`` says how to write it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def canonical_uri(value: str) -> str:
    return value[4:] if value[:4].lower() == "uri:" else value


def canonical_dns(value: str) -> str:
    value = value.lower()
    return value[:-1] if value.endswith(".") else value


def host_name(value: str) -> str | None:
    """``value`` as a canonical host name, or None when it is not one.

    What a DNS identifier (exact or wildcard) may be compared with, from a certificate SAN
    or a token subject alike: ASCII only (``str.lower`` folds a few non-ASCII letters into
    ASCII ones, such as the Kelvin sign into ``k``; IDNA names are written in punycode),
    lower case, one trailing dot dropped, non-empty letter/digit/``_``/``-`` labels of at
    most 63 characters, not starting or ending with ``-``, 253 characters in all.
    """
    if not value.isascii():
        return None
    name = canonical_dns(value)
    return name if _HOSTNAME.fullmatch(name) else None


def canonical_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


def canonical_ip(value: str) -> str:
    """Raises ValueError when ``value`` is not an IP address."""
    address = ipaddress.ip_address(value.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def canonical_serial(value: str | int) -> str:
    """Raises ValueError for anything but a positive decimal (or 0x-hex) integer."""
    if isinstance(value, int):
        number = value
    elif value.isascii() and value.isdigit():
        number = int(value)
    elif _HEX_SERIAL.fullmatch(value):
        number = int(value, 16)
    else:
        raise ValueError(value)
    if not 0 < number < _MAX_SERIAL:
        raise ValueError(value)
    return str(number)


def canonicalise(kind: IdentifierType, value: str) -> str:
    """The form compared with certificates; raises IdentifierFormatError when malformed."""
    if value != value.strip() or not value:
        raise IdentifierFormatError(f"{kind.value} value `{value}` is empty or has spaces")
    if WILDCARD in value and kind is not IdentifierType.SAN_DNS:
        raise IdentifierFormatError(
            f"wildcards are only supported for san_dns identifiers, not {kind.value}",
            "write the exact value the certificate carries",
        )
    if kind is IdentifierType.SAN_URI:
        uri = canonical_uri(value)
        if not _URI_SCHEME.fullmatch(uri):
            raise IdentifierFormatError(
                f"invalid san_uri `{value}`", "write a URI such as `uri:urn:service:api`"
            )
        return uri
    if kind is IdentifierType.SAN_DNS:
        return _check_dns(value)
    if kind is IdentifierType.SAN_EMAIL:
        local, at, domain = value.rpartition("@")
        # An rfc822Name SAN is ASCII, and str.lower would fold a non-ASCII domain letter
        # (the Kelvin sign) into an ASCII one another certificate could carry.
        if not at or not local or not domain or "@" in local or " " in value:
            raise IdentifierFormatError(f"invalid san_email `{value}`", "write `name@domain`")
        if not value.isascii():
            raise IdentifierFormatError(
                f"invalid san_email `{value}`", "write an internationalised domain in punycode"
            )
        return canonical_email(value)
    if kind is IdentifierType.SAN_IP:
        if "%" in value:  # a certificate's IP SAN has no IPv6 zone; it would never match
            raise IdentifierFormatError(
                f"invalid san_ip `{value}`", "write the address without its `%zone`"
            )
        try:
            return canonical_ip(value)
        except ValueError:
            raise IdentifierFormatError(
                f"invalid san_ip `{value}`", "write one IPv4 or IPv6 address, not a range"
            ) from None
    try:
        return canonical_serial(value)
    except ValueError:
        raise IdentifierFormatError(
            f"invalid serial `{value}`",
            "write the certificate serial in decimal, or in hex with a 0x prefix",
        ) from None


def _check_dns(value: str) -> str:
    bad = f"invalid san_dns `{value}`"
    if not value.isascii():
        raise IdentifierFormatError(bad, "write an internationalised name in punycode (xn--...)")
    name = canonical_dns(value)
    labels = name.split(".")
    if len(name) > 253 or any(not label for label in labels):
        raise IdentifierFormatError(bad, "write a host name such as `api.internal.com`")
    if name.count(WILDCARD) > 1 or any(WILDCARD in label for label in labels[1:]):
        raise IdentifierFormatError(
            f"wildcard `{value}` must have one `*`, in its leftmost label",
            "use a pattern such as `worker-*.internal.com`",
        )
    if WILDCARD in labels[0]:
        if not _WILDCARD_LABEL.fullmatch(labels[0]) or len(labels) < 3:
            raise IdentifierFormatError(
                f"wildcard `{value}` is too broad or malformed",
                "a wildcard label needs at least two labels after it, as in `*.internal.com`",
            )
        if labels[-1].isdigit():
            # A host name never ends in an all-numeric label; such a pattern would match
            # the text of IPv4 addresses, which are another client's token subjects.
            raise IdentifierFormatError(
                f"wildcard `{value}` ends in a number, so it would match IP addresses",
                "a wildcard must end in a domain name, as in `*.internal.com`",
            )
        labels = labels[1:]
    for label in labels:
        if not _DNS_LABEL.fullmatch(label):
            raise IdentifierFormatError(bad, f"label `{label}` is not a valid DNS label")
    return name


def split_wildcard(pattern: str) -> tuple[str, str, str]:
    """``worker-*.internal.com`` -> (rest ``internal.com``, prefix ``worker-``, suffix ``""``)."""
    first, _, rest = pattern.partition(".")
    prefix, _, suffix = first.partition(WILDCARD)
    return rest, prefix, suffix


def label_matches(prefix: str, suffix: str, label: str) -> bool:
    """Whether a first label fits ``prefix*suffix`` with ``*`` standing for 1+ characters."""
    return (
        len(label) > len(prefix) + len(suffix)
        and label.startswith(prefix)
        and label.endswith(suffix)
    )


def wildcards_overlap(a: str, b: str) -> bool:
    """Whether some DNS name matches both patterns.

    With the same labels after the wildcard label, ``p1*s1`` and ``p2*s2`` share a match
    exactly when one prefix starts the other and one suffix ends the other: pick the longer
    prefix and the longer suffix around a long enough middle.
    """
    rest_a, pa, sa = split_wildcard(a)
    rest_b, pb, sb = split_wildcard(b)
    if rest_a != rest_b:
        return False
    prefixes = pa.startswith(pb) or pb.startswith(pa)
    suffixes = sa.endswith(sb) or sb.endswith(sa)
    return prefixes and suffixes


def example_overlap(a: str, b: str) -> str:
    """A name both overlapping patterns match, for error messages."""
    rest, pa, sa = split_wildcard(a)
    _, pb, sb = split_wildcard(b)
    prefix = pa if len(pa) >= len(pb) else pb
    suffix = sa if len(sa) >= len(sb) else sb
    return f"{prefix}x{suffix}.{rest}"


@dataclass(frozen=True)
class PresentedIdentities:
    """Every identifier one certificate (or caller) presents, canonical form."""

    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    serial: str | None = None

    @classmethod
    def of(
        cls,
        *,
        uris: Iterable[str] = (),
        dns: Iterable[str] = (),
        emails: Iterable[str] = (),
        ips: Iterable[str] = (),
        serial: int | str | None = None,
    ) -> PresentedIdentities:
        """Canonicalise raw values; values that cannot identify anyone are dropped."""
        hosts = [host_name(d) for d in dns]
        addresses = []
        for ip in ips:
            try:
                addresses.append(canonical_ip(ip))
            except ValueError:
                continue
        canonical_serial_value = None
        if serial is not None:
            try:
                canonical_serial_value = canonical_serial(serial)
            except ValueError:
                canonical_serial_value = None
        return cls(
            uris=tuple(dict.fromkeys(canonical_uri(u) for u in uris if u)),
            dns=tuple(dict.fromkeys(h for h in hosts if h is not None)),
            emails=tuple(dict.fromkeys(canonical_email(e) for e in emails if "@" in e)),
            ips=tuple(dict.fromkeys(addresses)),
            serial=canonical_serial_value,
        )

    def exact_candidates(self) -> Iterator[tuple[IdentifierType, str]]:
        for uri in self.uris:
            yield IdentifierType.SAN_URI, uri
        for name in self.dns:
            yield IdentifierType.SAN_DNS, name
        for email in self.emails:
            yield IdentifierType.SAN_EMAIL, email
        for ip in self.ips:
            yield IdentifierType.SAN_IP, ip
        if self.serial is not None:
            yield IdentifierType.SERIAL, self.serial

    def __bool__(self) -> bool:
        return bool(self.uris or self.dns or self.emails or self.ips or self.serial)


__all__ = [
    "IdentifierFormatError",
    "PresentedIdentities",
    "canonical_dns",
    "canonical_email",
    "canonical_ip",
    "canonical_serial",
    "canonical_uri",
    "canonicalise",
    "example_overlap",
    "host_name",
    "label_matches",
    "split_wildcard",
    "wildcards_overlap",
]
