"""A service that dies while the stack starts is named with the end of its log."""

from __future__ import annotations

import os
import sys

import pytest

from bot.launcher import Service, Stack, free_port


def test_a_service_that_exits_at_start_is_reported_with_its_last_log_lines(tmp_path):
    script = "import sys; print('\\n'.join(f'line {i}' for i in range(30))); sys.exit(3)"
    dying = Service("dying", [sys.executable, "-c", script],
                    f"http://127.0.0.1:{free_port()}/health")
    stack = Stack([dying], env=dict(os.environ), log_dir=tmp_path)
    with pytest.raises(RuntimeError) as raised:
        stack.start(timeout=30)
    message = str(raised.value)
    assert message.startswith("dying exited with code 3; its log ends:")
    assert "line 29" in message and "line 15" in message
    assert "line 14" not in message  # only the last 15 lines


def test_without_a_log_directory_the_exit_code_alone_is_reported():
    dying = Service("quiet", [sys.executable, "-c", "raise SystemExit(4)"],
                    f"http://127.0.0.1:{free_port()}/health")
    with pytest.raises(RuntimeError, match=r"^quiet exited with code 4$"):
        Stack([dying], env=dict(os.environ)).start(timeout=30)
