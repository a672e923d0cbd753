"""vedette.http_fetch refuses what it must not fetch before any I/O (the CLI tests with real
hostile servers are in tests/integration/test_http_fetch_hostile.py)."""

from __future__ import annotations

import asyncio

import pytest

from vedette.errors import PkiError
from vedette.http_fetch import FetchError, http_fetch
from vedette.pki.aia import fetch_issuers


@pytest.mark.parametrize(
    "url",
    [
        "https://pki.example.test/ca.cer",
        "ldap:///CN=CA,CN=AIA,DC=example,DC=test?cACertificate",
        "file:///etc/passwd",
        "http:///no-host",
    ],
)
def test_only_http_urls_with_a_host_are_fetched(url: str):
    with pytest.raises(FetchError, match="only http:// URLs are fetched"):
        asyncio.run(http_fetch(url, max_body=1024))
    with pytest.raises(PkiError, match="cannot fetch the issuer: .*only http:// URLs"):
        fetch_issuers(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://a\x1bb\x07.test/", "not a host name vedette fetches from"),
        ("http://exämple.test/", "not a host name vedette fetches from"),
        ("http://a b/", "not a host name vedette fetches from"),
        ("http://a\x1b[2Jb.test/", "not a URL"),
    ],
)
def test_a_host_name_that_is_not_one_is_refused_before_resolving(url: str, says: str):
    with pytest.raises(FetchError, match=says):
        asyncio.run(http_fetch(url, max_body=1024, resolver=("127.0.0.1", 9)))


def test_a_bad_port_is_one_error():
    with pytest.raises(FetchError, match="bad port"):
        asyncio.run(http_fetch("http://127.0.0.1:99999/", max_body=1024))


def test_a_url_from_a_certificate_is_shown_inert():
    with pytest.raises(FetchError) as caught:
        asyncio.run(http_fetch("ldap://evil\x1b]0;pwned\x07.test/", max_body=1024))
    message = str(caught.value)
    assert "\x1b" not in message and "\x07" not in message
    assert "\\x1b]0;pwned\\x07" in message


def test_the_awaitable_form_refuses_alike():
    """scan --fetch runs inside an event loop: it awaits fetch_issuers_async."""
    from vedette.pki.aia import fetch_issuers_async

    with pytest.raises(PkiError, match="only http:// URLs are fetched"):
        asyncio.run(fetch_issuers_async("https://pki.example.test/ca.cer"))
