"""Eddystone-URL compression: URL scheme prefixes and expansion codes.

Per github.com/google/eddystone/tree/master/eddystone-url: one scheme byte, then URL
bytes where 0x00-0x0d stand for ``.com/`` ... ``.gov`` and 0x0e-0x20, 0x7f-0xff are
reserved. The encoder follows android-beacon-library's ``UrlBeaconUrlCompressor``:
scheme and host are lower-cased, an expansion code replaces only the top-level domain
at the end of the host (with the slash after it when there is one), and the path keeps
its case.
"""

from __future__ import annotations

SCHEMES = ("http://www.", "https://www.", "http://", "https://")
EXPANSIONS = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)
_TLDS = EXPANSIONS[7:]
_FIRST_PRINTABLE, _LAST_PRINTABLE = 0x21, 0x7E


def decode_url(data: bytes) -> str:
    """Scheme byte + encoded URL bytes -> the URL.

    Raises:
        ValueError: unknown scheme byte, a reserved byte, or no scheme byte at all.
    """
    if not data:
        raise ValueError("no URL scheme byte")
    if data[0] >= len(SCHEMES):
        raise ValueError(f"unknown URL scheme byte 0x{data[0]:02x}")
    parts = [SCHEMES[data[0]]]
    for byte in data[1:]:
        if byte < len(EXPANSIONS):
            parts.append(EXPANSIONS[byte])
        elif _FIRST_PRINTABLE <= byte <= _LAST_PRINTABLE:
            parts.append(chr(byte))
        else:
            raise ValueError(f"reserved byte 0x{byte:02x} in an Eddystone URL")
    return "".join(parts)


def encode_url(url: str) -> bytes:
    """A URL -> scheme byte + encoded URL bytes. No length limit is applied here.

    Raises:
        ValueError: the scheme is not http(s), or the URL has characters outside
            printable ASCII (0x21-0x7e).
    """
    lowered = url.lower()
    # longest prefix first: "http://www." before "http://"
    for code in (1, 0, 3, 2):
        if lowered.startswith(SCHEMES[code]):
            rest = url[len(SCHEMES[code]) :]
            break
    else:
        raise ValueError(f"not an http:// or https:// URL: {url!r}")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    host, path = rest[:cut].lower(), rest[cut:]
    _check_printable(url, host + path)
    expansion = b""
    for tld_code, tld in enumerate(_TLDS):
        if host.endswith(tld) and len(host) > len(tld):
            host = host[: -len(tld)]
            if path.startswith("/"):  # the ".com/" family takes the slash with it
                expansion, path = bytes([tld_code]), path[1:]
            else:
                expansion = bytes([tld_code + len(_TLDS)])
            break
    return bytes([code]) + host.encode("ascii") + expansion + path.encode("ascii")


def _check_printable(url: str, text: str) -> None:
    for char in text:
        if not _FIRST_PRINTABLE <= ord(char) <= _LAST_PRINTABLE:
            raise ValueError(f"{char!r} cannot be sent in an Eddystone URL: {url!r}")
