"""The outbound URL policy: URLs from user settings cannot reach inside the network."""

from __future__ import annotations

import re
import socket

import pytest

from notifiers import urls
from notifiers.base import PermanentError, TransientError


def check(url: str, allow_private: bool = False, **kwargs) -> None:
    urls.check(url, what="webhook", allow_private=allow_private, **kwargs)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "a loopback address"),
        ("http://localhost/hook", "a loopback address"),
        ("http://2130706433/hook", "a loopback address"),  # 127.0.0.1 as one number
        ("http://[::1]/hook", "a loopback address"),
        ("http://[::ffff:10.0.0.1]/hook", "a private address"),
        ("http://10.1.2.3/hook", "a private address"),
        ("http://192.168.0.10/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://100.64.0.1/hook", "a shared (carrier-grade NAT) address"),
        ("http://0.0.0.0/hook", "an unspecified address"),
        ("http://224.0.0.1/hook", "a multicast address"),
    ],
)
def test_a_url_whose_host_is_not_public_is_refused(url, kind):
    with pytest.raises(PermanentError, match=re.escape(f", {kind}; targets inside the network")):
        check(url)


def test_a_public_address_passes():
    check("https://93.184.216.34/hooks/axon")


def test_allow_private_lets_an_internal_url_pass():
    check("http://10.1.2.3:8080/hook", allow_private=True)


def test_a_name_is_judged_by_every_address_it_resolves_to():
    def resolve(host, port, **kwargs):
        public = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))
        private = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))
        return [public, private]

    with pytest.raises(PermanentError, match="'hooks.example.com' resolves to 10.0.0.7"):
        check("https://hooks.example.com/axon", resolve=resolve)


def test_a_name_that_does_not_resolve_is_transient():
    def resolve(host, port, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(TransientError, match="cannot resolve host 'hooks.example.com'"):
        check("https://hooks.example.com/axon", resolve=resolve)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "hooks.example.com"])
def test_only_http_and_https_are_sent_to(url):
    with pytest.raises(PermanentError, match="only http and https"):
        check(url, allow_private=True)


def test_the_refusal_names_the_host_and_never_the_path():
    with pytest.raises(PermanentError) as caught:
        check("http://127.0.0.1/services/T0/B0/s3cretPathToken?key=s3cretQuery")

    assert "s3cret" not in str(caught.value)
