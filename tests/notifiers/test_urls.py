"""The outbound URL policy: URLs from specs and targets cannot reach inside the network."""

from __future__ import annotations

import http.server
import re
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from notifiers import urls
from notifiers.base import PermanentError, TransientError
from notifiers.discord import DiscordNotifier
from notifiers.mattermost import MattermostNotifier
from notifiers.slack import SlackNotifier
from notifiers.webhook import WebhookNotifier
from schemas.status import RunStatus

PUBLIC = "93.184.216.34"


def check(url: str, allow_private: bool = False, **kwargs) -> urls.Destination:
    return urls.check(url, what="webhook", allow_private=allow_private, **kwargs)


def unreachable_resolver(host, port, **kwargs):
    raise AssertionError(f"{host!r} was resolved: the URL should have been refused before")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8080/hook", "a loopback address"),
        ("http://localhost/hook", "a loopback address"),
        ("http://2130706433/hook", "a loopback address"),  # 127.0.0.1 as one number
        ("http://0x7f000001/hook", "a loopback address"),  # ... in hexadecimal
        ("http://0177.0.0.1/hook", "a loopback address"),  # ... with an octal first part
        ("http://0x7f.1/hook", "a loopback address"),  # ... in two parts
        ("http://127.1/hook", "a loopback address"),
        ("http://[::1]/hook", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),  # IPv4-mapped IPv6
        ("http://[::ffff:7f00:1]/hook", "a loopback address"),
        ("http://[2002:7f00:1::1]/hook", "a loopback address"),  # 6to4 of 127.0.0.1
        ("http://[::ffff:10.0.0.1]/hook", "a private address"),
        ("http://10.1.2.3/hook", "a private address"),
        ("http://192.168.0.10/hook", "a private address"),
        ("http://[fc00::1]/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://[fe80::1]/hook", "a link-local address"),
        ("http://100.64.0.1/hook", "a shared (carrier-grade NAT) address"),
        ("http://0.0.0.0/hook", "an unspecified address"),
        ("http://0/hook", "an unspecified address"),
        ("http://[::]/hook", "an unspecified address"),
        ("http://224.0.0.1/hook", "a multicast address"),
        ("http://[ff02::1]/hook", "a multicast address"),
        ("http://240.0.0.1/hook", "a private address"),  # reserved, and Python calls it private
        ("http://[64:ff9b::7f00:1]/hook", "a reserved address"),  # NAT64 of 127.0.0.1
    ],
)
def test_a_url_whose_host_is_not_public_is_refused(url, kind):
    with pytest.raises(PermanentError, match=re.escape(f", {kind}; targets inside the network")):
        check(url)


@pytest.mark.parametrize(
    "url",
    [
        # requests connects to 127.0.0.1:18099; urllib.parse sees the host 1.1.1.1.
        "http://127.0.0.1:18099\\@1.1.1.1/x",
        "http://1.1.1.1\\@127.0.0.1/x",
        "http://1.1.1.1 &@127.0.0.1# @3.3.3.3/",  # white space in the authority
        "http://a@b@1.1.1.1/",  # more than one user part
        "http://127.0.0.%31/",  # urllib3 decodes the escape, urllib.parse does not
        "http://ex%61mple.com/",
        "http://[fe80::1%25eth0]/",  # an IPv6 zone
        "http://ex\u00e4mple.com/",  # IDNA: urllib3 sends punycode, urllib.parse does not
        "http://hooks.example.com\t/x",
        "http://hooks.example.com/x\r\nX-Injected: 1",
        "http://hooks.example.com\x00.evil/",
        "http://[::1/",
        "http://hooks.example.com:99999/",
    ],
)
def test_a_url_the_http_client_could_read_otherwise_is_refused_even_with_allow_private(url):
    with pytest.raises(PermanentError) as caught:
        check(url, allow_private=True, resolve=unreachable_resolver)

    assert re.search("ambiguous|backslash|not valid", str(caught.value))


def test_a_public_address_passes_and_is_the_one_connected_to():
    destination = check(f"https://{PUBLIC}/hooks/axon")

    assert destination == urls.Destination("https", PUBLIC, 443, (PUBLIC,))


def test_a_user_part_that_both_parsers_read_alike_is_judged_by_its_host():
    with pytest.raises(PermanentError, match="'127.0.0.1' resolves to 127.0.0.1"):
        check(f"http://{PUBLIC}@127.0.0.1/hook")


def test_allow_private_lets_an_internal_url_pass():
    assert check("http://10.1.2.3:8080/hook", allow_private=True).addresses == ()


def test_a_name_is_judged_by_every_address_it_resolves_to():
    def resolve(host, port, **kwargs):
        public = (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port))
        private = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))
        return [public, private]

    with pytest.raises(PermanentError, match="'hooks.example.com' resolves to 10.0.0.7"):
        check("https://hooks.example.com/axon", resolve=resolve)


def test_a_name_that_does_not_resolve_is_transient():
    def resolve(host, port, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(TransientError, match="cannot resolve host 'hooks.example.com'"):
        check("https://hooks.example.com/axon", resolve=resolve)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "hooks.example.com", "//hooks.example/"]
)
def test_only_http_and_https_are_sent_to(url):
    with pytest.raises(PermanentError, match="only http and https"):
        check(url, allow_private=True)


def test_the_refusal_names_the_host_and_never_the_path():
    with pytest.raises(PermanentError) as caught:
        check("http://127.0.0.1/services/T0/B0/s3cretPathToken?key=s3cretQuery")

    assert "s3cret" not in str(caught.value)


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = f"reached {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_a_pinned_session_connects_to_the_judged_address_not_to_a_fresh_lookup(loopback_server):
    # As if `hooks.rebind.invalid` had resolved to this address when judged: a rebinding
    # resolver that answers otherwise now is never asked (the name does not resolve at all).
    destination = urls.Destination("http", "hooks.rebind.invalid", loopback_server, ("127.0.0.1",))

    with requests.Session() as session:
        destination.pin(session)
        answer = session.get(f"http://hooks.rebind.invalid:{loopback_server}/", timeout=5)
        with pytest.raises(requests.ConnectionError, match="not the host the URL policy judged"):
            session.get(f"http://localhost:{loopback_server}/", timeout=5)

    assert answer.text == f"reached hooks.rebind.invalid:{loopback_server}"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that takes connections and never answers; nothing accepts them, so
    any connection made waits in its backlog for the test to see."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as sock:
        yield sock


def connections_made(sock: socket.socket) -> int:
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.parametrize(
    ("notifier", "key"),
    [
        (WebhookNotifier(timeout=1), "url"),
        (SlackNotifier(timeout=1), "webhook_url"),
        (DiscordNotifier(timeout=1), "webhook_url"),
        (MattermostNotifier(timeout=1), "webhook_url"),
    ],
    ids=["webhook", "slack", "discord", "mattermost"],
)
def test_a_backslash_url_in_a_target_never_reaches_the_loopback_port_it_hides(
    notifier, key, listener, report
):
    port = listener.getsockname()[1]
    target = {key: f"http://127.0.0.1:{port}\\@1.1.1.1/x"}

    with pytest.raises(PermanentError, match="backslash"):
        notifier.send(report(status=RunStatus.SUCCEEDED), target, None)

    assert connections_made(listener) == 0
