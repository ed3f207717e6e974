"""``riffcast-listen`` on its own (the client's console script), in-process: a newcomer's mistakes
end in one line that names the fix, and exit code 1, never a traceback (issue 23)."""

from __future__ import annotations

import sys

import pytest

from riffcast_client.cli import main

NOWHERE = "ws://127.0.0.1:9/stream"  # never reached: every case here stops before connecting


def one_error_line(capsys: pytest.CaptureFixture[str], status: int) -> str:
    """The single line on stderr, ``riffcast-listen: error: …``, after exit code 1."""
    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("riffcast-listen: error: "), lines[0]
    return lines[0]


def test_help_names_the_command_the_user_typed(capsys):
    with pytest.raises(SystemExit) as leaving:
        main(["--help"])
    assert leaving.value.code == 0
    assert capsys.readouterr().out.startswith("usage: riffcast-listen ")


def test_playing_without_sounddevice_names_the_play_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as after `pip install riffcast-client`: import fails
    line = one_error_line(capsys, main([NOWHERE, "--duration", "2"]))
    assert "pip install 'riffcast-client[play]'" in line and "--no-play" in line


@pytest.mark.parametrize(("arguments", "expected"), [
    (["--cacert", "missing.pem"], "--cacert missing.pem: no such file"),
    (["--insecure"], "--insecure is for a TLS station (wss:// or https://)"),
    (["--cacert", "a.pem", "--insecure"], "give --cacert or --insecure, not both"),
])
def test_tls_options_that_cannot_apply(capsys, tmp_path, monkeypatch, arguments, expected):
    monkeypatch.chdir(tmp_path)
    url = NOWHERE if arguments == ["--insecure"] else "wss://127.0.0.1:9/stream"
    assert expected in one_error_line(capsys, main([url, "--no-play", *arguments]))


def test_a_cacert_that_is_not_a_certificate(capsys, tmp_path):
    notes = tmp_path / "notes.pem"
    notes.write_text("not a certificate\n")
    line = one_error_line(capsys, main(["wss://127.0.0.1:9/stream", "--no-play", "--cacert", str(notes)]))
    assert f"--cacert {notes}: not a PEM certificate" in line
