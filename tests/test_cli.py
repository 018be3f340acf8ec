"""The `ozchat serve` and `ozchat events` commands as separate processes, as a user runs them."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect

from processes import OZCHAT


@pytest.fixture
def hub_address(processes) -> str:
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0")
    port = hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    return f"127.0.0.1:{port}"


def test_two_event_clients_see_each_other_and_chat(processes, hub_address):
    mary = processes("events", "--host", hub_address, "--nick", "Mary")
    mary.wait_for(r"ACCESS_GRANTED")
    john = processes("events", "--host", hub_address, "--nick", "John", stdin=True)
    john.wait_for(r"ACCESS_GRANTED")
    john.wait_for(r"^Mary is ONLINE$")
    mary.wait_for(r"^John is ONLINE$")
    john.send("hi Mary")
    mary.wait_for(r"^<John> hi Mary$")
    assert john.interrupt() == 0
    mary.wait_for(r"^John is OFFLINE$")


def test_events_json_lines(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher", "--json")
    watcher.wait_for(r'"state": "ACCESS_GRANTED"')
    john = processes("events", "--host", hub_address, "--nick", "John", "--prop", "mood=happy")
    john.wait_for(r"ACCESS_GRANTED")
    line = watcher.wait_for(r'^\{"event": "client".*').group(0)
    event = json.loads(line)
    assert event["status"] == "ONLINE"
    assert event["properties"] == {"mood": "happy", "nickname": "John"}
    assert len(event["phoneNumber"]) == 5


def test_events_json_connection_names_my_own_phone_number(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher", "--json", "--line", "Lobby")
    granted = json.loads(watcher.wait_for(r'^\{"event": "connection", "state": "ACCESS_GRANTED".*').group(0))
    assert granted["line"] == "Lobby"
    other = processes("events", "--host", hub_address, "--nick", "Other", "--json", "--line", "Lobby")
    seen = json.loads(other.wait_for(r'^\{"event": "client".*"nickname": "Watcher".*').group(0))
    assert granted["phoneNumber"] == seen["phoneNumber"]


def test_events_text_marks_replayed_history(processes, hub_address):
    john = processes("events", "--host", hub_address, "--nick", "John", stdin=True)
    john.wait_for(r"ACCESS_GRANTED")
    john.send("said before")
    john.wait_for(r"^<John> said before$")
    mary = processes("events", "--host", hub_address, "--nick", "Mary")
    mary.wait_for(r"^\[history\] <John> said before$")
    mary.wait_for(r"ACCESS_GRANTED")
    john.send("said live")
    mary.wait_for(r"^<John> said live$")
    assert not any("[history]" in line for line in john.lines)


def test_events_output_is_terminal_safe(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher")
    watcher.wait_for(r"ACCESS_GRANTED")
    evil = processes("events", "--host", hub_address, "--nick", "Evil", stdin=True)
    evil.wait_for(r"ACCESS_GRANTED")
    evil.send("\x1b]52;c;SGVsbG8=\x07 \x9b2J done")
    line = watcher.wait_for(r"^<Evil> .*done$").group(0)
    assert "\x1b" not in line and "\x9b" not in line and "\x07" not in line
    assert "␛]52;c;SGVsbG8=␇" in line


def _free_port() -> int:
    """A loopback port no one listens on now (the hub is started there later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_events_keeps_trying_a_hub_not_up_yet_and_then_shows_its_events(processes):
    port = _free_port()
    early = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Early", "--no-autostart")
    early.wait_for(
        rf"^-- CONNECTION_FAILED \(cannot reach ws://127\.0\.0\.1:{port}/: .*\(attempt 1; trying again in [\d.]+ s\)\)$"
    )
    processes("serve", "--host", "127.0.0.1", "--port", str(port)).wait_for(r"listening on")
    early.wait_for(r"^-- ACCESS_GRANTED as ", timeout=30)
    john = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "John", stdin=True)
    john.wait_for(r"ACCESS_GRANTED")
    john.send("you made it")
    early.wait_for(r"^John is ONLINE$")
    early.wait_for(r"^<John> you made it$")
    assert early.interrupt() == 0


def test_events_json_tells_each_attempt_as_a_connection_event(processes):
    waiting = processes("events", "--host", f"127.0.0.1:{_free_port()}", "--nick", "Nobody", "--no-autostart", "--json")
    attempt = json.loads(waiting.wait_for(r'^\{"event": "connection", "state": "CONNECTION_FAILED".*').group(0))
    assert attempt["retrying"] is True
    assert re.search(r"\(attempt 1; trying again in [\d.]+ s\)$", attempt["reason"])
    assert waiting.interrupt() == 0
    assert not any(line.startswith("-- ") for line in waiting.lines)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_events_still_trying_to_reach_a_hub_stops_cleanly_when_told(processes, stop):
    waiting = processes("events", "--host", f"127.0.0.1:{_free_port()}", "--nick", "Nobody", "--no-autostart")
    waiting.wait_for(r"^-- CONNECTION_FAILED \(cannot reach .*\(attempt 1; trying again in ")
    waiting.proc.send_signal(stop)
    assert waiting.proc.wait(10) == 0
    waiting.wait_for(r"^-- CONNECTION_CLOSED")
    assert not any("Traceback" in line for line in waiting.lines)


def test_events_interrupted_during_a_connection_attempt_stops_at_once(processes):
    with socket.socket() as silent:  # takes the connection and never answers: the attempt hangs until stopped
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        waiting = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Patient", "--no-autostart")
        silent.settimeout(30)
        accepted, _ = silent.accept()
        with accepted:
            request = b""
            while b"\r\n\r\n" not in request:
                request += accepted.recv(4096)
            assert request.startswith(b"GET / HTTP/1.1")  # the attempt is mid-handshake
            waiting.proc.send_signal(signal.SIGINT)
            assert waiting.proc.wait(60) == 0
    waiting.wait_for(r"^-- CONNECTION_CLOSED \(closed\)$")
    assert not any("CONNECTION_FAILED" in line or "Traceback" in line for line in waiting.lines)


@pytest.mark.parametrize("server", ["plain hub", "web server"])
def test_events_reports_a_server_it_can_never_join_and_exits(processes, hub_address, tmp_path, server):
    if server == "plain hub":
        address, said = f"wss://{hub_address}/", rf"the hub there does not speak TLS: connect to ws://{hub_address}/"
    else:
        web = processes("--bind", "127.0.0.1", "0", command=[sys.executable, "-m", "http.server"], cwd=tmp_path)
        port = web.wait_for(r"^Serving HTTP on 127\.0\.0\.1 port (\d+) ").group(1)
        address = f"127.0.0.1:{port}"
        said = r"did not receive a valid HTTP response \(unsupported protocol; .*HTTP/1\.0 200 OK\)"
    refused = processes("events", "--host", address, "--nick", "Nobody", "--no-autostart")
    refused.wait_for(rf"^-- CONNECTION_FAILED \(cannot reach .*{said}\)$")
    assert refused.proc.wait(30) == 1  # trying again cannot mend it: said once, not retried
    refused.wait_for(r"^ozchat events: cannot reach ")
    assert not any("attempt" in line or "Traceback" in line for line in refused.lines)


def test_bare_command_has_help():
    out = subprocess.run([*OZCHAT, "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--host", "--line", "--nick"):
        assert option in out


def test_readme_and_ci_use_the_same_test_command():
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    command = re.search(r"^\s*(pip install -e '\.\[test\]' && pytest.*)$", readme, re.M).group(1)
    assert command in ci


def _watcher_whose_hub_died(processes):
    """An `ozchat events` client whose hub was just killed; returns it and the hub's port."""
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0")
    port = hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    watcher = processes("events", "--host", f"127.0.0.1:{port}", "--nick", "Stayer", "--no-autostart")
    watcher.wait_for(r"ACCESS_GRANTED")
    hub.kill()
    watcher.wait_for(r"CONNECTION_CLOSED .*, reconnecting$")
    return watcher, port


def test_events_client_rides_out_a_hub_restart(processes):
    watcher, port = _watcher_whose_hub_died(processes)
    processes("serve", "--host", "127.0.0.1", "--port", port).wait_for(r"listening on")
    watcher.wait_for(r"ACCESS_GRANTED", timeout=20, nth=2)
    assert watcher.proc.poll() is None


def test_events_exits_when_a_reconnect_is_refused(processes):
    watcher, port = _watcher_whose_hub_died(processes)
    processes("serve", "--host", "127.0.0.1", "--port", port, "--token", "secret").wait_for(r"listening on")
    watcher.wait_for(r"ACCESS_DENIED \(bad_token: ", timeout=20)
    assert watcher.proc.wait(10) == 1


def _secret_file(path: Path, token: str, mode: int) -> Path:
    path.write_text(token + "\n")
    path.chmod(mode)
    return path


def test_tokens_from_a_file_and_the_environment_stay_off_the_command_line(processes, tmp_path):
    hub_file = _secret_file(tmp_path / "hub-token", "s3cret", 0o600)
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0", "--token-file", str(hub_file))
    address = "127.0.0.1:" + hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    assert not any("warning" in line for line in hub.lines)
    from_env = processes("events", "--host", address, "--nick", "Env", env={"OZCHAT_TOKEN": "s3cret"})
    from_env.wait_for(r"ACCESS_GRANTED")
    loose = _secret_file(tmp_path / "loose-token", "s3cret", 0o644)
    from_file = processes("events", "--host", address, "--nick", "File", "--token-file", str(loose))
    from_file.wait_for(
        r"^ozchat: warning: other users may read the token file .*loose-token \(mode 644\); chmod 600 it$"
    )
    from_file.wait_for(r"ACCESS_GRANTED")
    # The file wins over the environment, as the help says.
    both = processes(
        "events", "--host", address, "--nick", "Both", "--token-file", str(hub_file), env={"OZCHAT_TOKEN": "wrong"}
    )
    both.wait_for(r"ACCESS_GRANTED")
    wrong = processes("events", "--host", address, "--nick", "Wrong", "--no-autostart", env={"OZCHAT_TOKEN": "wrong"})
    wrong.wait_for(r"ACCESS_DENIED \(bad_token: ")
    for process in (hub, from_env, from_file, both):
        assert "s3cret" not in " ".join(process.proc.args)


def test_hub_token_from_the_environment(processes):
    hub = processes("serve", "--host", "127.0.0.1", "--port", "0", env={"OZCHAT_HUB_TOKEN": "hubsecret"})
    address = "127.0.0.1:" + hub.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/").group(1)
    processes("events", "--host", address, "--nick", "None", "--no-autostart").wait_for(r"ACCESS_DENIED \(bad_token: ")
    from_environment = processes("events", "--host", address, "--nick", "Yes", env={"OZCHAT_TOKEN": "hubsecret"})
    from_environment.wait_for(r"ACCESS_GRANTED")


@pytest.mark.parametrize("command", ["serve", "events"])
def test_token_file_mistakes_are_refused_clearly(tmp_path, command):
    empty = _secret_file(tmp_path / "empty", "", 0o600)
    for options, message in [
        (
            ["--token-file", str(tmp_path / "missing")],
            r"cannot read the token file .*missing: No such file or directory",
        ),
        (["--token-file", str(empty)], r"the token file .*empty holds no token on its first line"),
        (["--token", "a", "--token-file", str(empty)], r"argument --token-file: not allowed with argument --token"),
    ]:
        done = subprocess.run([*OZCHAT, command, *options], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert re.search(message, done.stderr), done.stderr


def test_token_precedence_for_the_chat(tmp_path, monkeypatch):
    from ozchat.cli import build_parser
    from ozchat.cli.options import resolve_token
    from ozchat.settings import ChatSettings

    parser = build_parser(ChatSettings(token="from-settings"))
    monkeypatch.delenv("OZCHAT_TOKEN", raising=False)
    args = parser.parse_args([])
    assert resolve_token(args, "OZCHAT_TOKEN", args.settings_token) == "from-settings"
    monkeypatch.setenv("OZCHAT_TOKEN", "from-environment")
    assert resolve_token(args, "OZCHAT_TOKEN", args.settings_token) == "from-environment"
    token_file = _secret_file(tmp_path / "token", "from-file", 0o600)
    args = parser.parse_args(["--token-file", str(token_file)])
    assert resolve_token(args, "OZCHAT_TOKEN", args.settings_token) == "from-file"
    args = parser.parse_args(["--token", "from-flag"])
    assert resolve_token(args, "OZCHAT_TOKEN", args.settings_token) == "from-flag"


@pytest.mark.parametrize(
    ("options", "url"),
    [
        (["--host", "::1", "--port", "7780"], "ws://[::1]:7780/"),
        (["--host", "::1"], "ws://[::1]:7779/"),
        (["--host", "[::1]", "--port", "7780"], "ws://[::1]:7780/"),
        (["--host", "127.0.0.1", "--port", "7780"], "ws://127.0.0.1:7780/"),
    ],
)
def test_host_and_port_options_take_an_ipv6_literal(options, url):
    from ozchat.cli import build_parser
    from ozchat.cli.options import server_address
    from ozchat.protocol import server_url

    assert server_url(server_address(build_parser().parse_args(options))) == url


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1) to listen on")
def test_events_client_joins_a_hub_on_ipv6_loopback_by_host_and_port(processes):
    hub = processes("serve", "--host", "::1", "--port", "0")
    port = hub.wait_for(r"listening on ws://\[::1\]:(\d+)/").group(1)
    mary = processes("events", "--host", "::1", "--port", port, "--nick", "Mary", "--no-autostart")
    mary.wait_for(r"ACCESS_GRANTED")
    john = processes("events", "--host", "::1", "--port", port, "--nick", "John", "--no-autostart")
    john.wait_for(r"^Mary is ONLINE$")


def test_events_json_lines_tell_of_typing(processes, hub_address):
    watcher = processes("events", "--host", hub_address, "--nick", "Watcher", "--json")
    watcher.wait_for(r'"state": "ACCESS_GRANTED"')
    with ws_connect(f"ws://{hub_address}/") as ws:
        ws.send(json.dumps({"type": "hello", "line": "Webphone1", "properties": {"nickname": "Mary"}}))
        mary = json.loads(ws.recv())["phoneNumber"]
        ws.send(json.dumps({"type": "typing"}))
        typing = json.loads(watcher.wait_for(r'^\{"event": "typing".*').group(0))
        assert typing == {"event": "typing", "type": "typing", "from": mary}


@pytest.mark.parametrize("command", [[], ["events"]])
def test_a_line_name_the_hub_would_refuse_is_a_usage_error(command):
    done = subprocess.run([*OZCHAT, *command, "--line", "Sales", "--line", "Sa les"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert "argument --line: 'Sa les' is not a line name (a line name has no spaces" in done.stderr, done.stderr
