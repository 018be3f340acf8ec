"""TLS: a hub with a certificate serves wss:// and https; clients verify it, and say clearly why not."""

from __future__ import annotations

import io
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
import trustme
from PIL import Image

from ozchat import OzWebClient
from ozchat.avatars import AvatarService
from ozchat.exceptions import ConnectionFailed
from ozchat.hub import Hub
from ozchat.hub.avatars import UploadStore
from ozchat.tui.avatar_choice import avatar_base_url

from processes import OZCHAT


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pem_files(ca, tmp_path) -> dict[str, Path]:
    """The CA's certificate and the hub's certificate and key for 127.0.0.1 and localhost, as files."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "hub-cert.pem", "key": tmp_path / "hub-key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(files["cert"]), append=True)
    return files


@pytest.fixture
async def tls_hub(ca, tmp_path):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with Hub("127.0.0.1", 0, uploads=UploadStore(tmp_path / "uploads"), ssl_context=context) as running:
        yield running


def _trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_tls_hub_serves_wss_healthz_and_avatars_over_https(tls_hub, ca, pem_files, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert tls_hub.url == f"wss://127.0.0.1:{tls_hub.port}/"
    async with httpx.AsyncClient(verify=_trusting(ca), trust_env=False) as http:
        health = await http.get(f"https://127.0.0.1:{tls_hub.port}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    john = OzWebClient(ping_interval=None, ssl_context=_trusting(ca))
    mary = OzWebClient(ping_interval=None, ssl_context=_trusting(ca))
    await john.connect(tls_hub.url, "Webphone1", {"nickname": "John"})
    await mary.connect(f"wss://localhost:{tls_hub.port}/", "Webphone1", {"nickname": "Mary"})
    try:
        heard = []
        mary.on_message_received(heard.append)
        sent = await john.send_message("over TLS")
        uploaded = await john.upload_avatar(_png())
    finally:
        await john.disconnect()
        await mary.disconnect()
    assert [m.seq for m in heard] == [sent.seq]
    # The avatar fetcher trusts the hub's CA when told to, and only then.
    async with AvatarService(base_url=avatar_base_url(tls_hub.url), cafile=pem_files["ca"]) as avatars:
        assert (await avatars.load("cat", 8)).ok
        assert (await avatars.load(uploaded, 8)).ok  # from https://127.0.0.1:PORT/avatars/NAME
    async with AvatarService(base_url=avatar_base_url(tls_hub.url)) as strangers:
        refused = await strangers.load("fox", 8)
        assert not refused.ok and "certificate" in refused.error.message.lower()


async def test_client_says_when_the_hubs_certificate_cannot_be_verified(tls_hub):
    client = OzWebClient(ping_interval=None, reconnect=False)
    unverified = r"the hub's certificate could not be verified \(.+\); if a private CA signed it"
    with pytest.raises(ConnectionFailed, match=unverified):
        await client.connect(tls_hub.url, "Webphone1", {"nickname": "Doubter"})


async def test_plain_client_meeting_a_tls_hub_is_told_to_use_wss(tls_hub):
    client = OzWebClient(ping_interval=None, reconnect=False)
    with pytest.raises(ConnectionFailed, match=rf"the hub there speaks TLS: connect to wss://127\.0\.0\.1:{tls_hub.port}/$"):
        await client.connect(f"127.0.0.1:{tls_hub.port}", "Webphone1", {"nickname": "Plain"})


async def test_tls_client_meeting_a_plain_hub_is_told_to_use_ws(hub, ca):
    client = OzWebClient(ping_interval=None, reconnect=False, ssl_context=_trusting(ca))
    with pytest.raises(ConnectionFailed, match=rf"the hub there does not speak TLS: connect to ws://127\.0\.0\.1:{hub.port}/$"):
        await client.connect(f"wss://127.0.0.1:{hub.port}/", "Webphone1", {"nickname": "Secure"})


def test_serve_with_a_certificate_and_events_with_the_ca(processes, pem_files):
    hub = processes(
        "serve", "--host", "127.0.0.1", "--port", "0",
        "--certfile", str(pem_files["cert"]), "--keyfile", str(pem_files["key"]),
    )
    port = hub.wait_for(r"listening on wss://127\.0\.0\.1:(\d+)/").group(1)
    trusting = processes(
        "events", "--host", f"wss://localhost:{port}/", "--nick", "Trusting", "--cafile", str(pem_files["ca"])
    )
    trusting.wait_for(r"ACCESS_GRANTED")
    doubting = processes("events", "--host", f"wss://localhost:{port}/", "--nick", "Doubting")
    # Trying again cannot mend a certificate or a transport: said once, not retried, exit status 1.
    doubting.wait_for(r"^-- CONNECTION_FAILED \(cannot reach .*certificate could not be verified .*--cafile\)\)$")
    assert doubting.proc.wait(30) == 1
    plain = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Plain", "--no-autostart")
    plain.wait_for(rf"^-- CONNECTION_FAILED .*the hub there speaks TLS: connect to wss://127\.0\.0\.1:{port}/\)$")
    assert plain.proc.wait(30) == 1
    for gave_up in (doubting, plain):
        gave_up.wait_for(r"^ozchat events: ")
        assert not any("attempt" in line or "Traceback" in line for line in gave_up.lines)


def test_serve_refuses_a_certificate_it_cannot_use(pem_files, tmp_path):
    done = subprocess.run(
        [
            *OZCHAT, "serve", "--port", "0",
            "--certfile", str(pem_files["ca"]), "--keyfile", str(tmp_path / "missing.pem"),
        ],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    missing = tmp_path / "missing.pem"
    assert f"ozchat serve: cannot use the certificate {pem_files['ca']} with the key {missing}: " in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_key_without_a_certificate(pem_files):
    done = subprocess.run(
        [*OZCHAT, "serve", "--port", "0", "--keyfile", str(pem_files["key"])],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "ozchat serve: --keyfile needs --certfile" in done.stderr
