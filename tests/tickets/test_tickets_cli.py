"""``python -m bot.tickets``: end to end in subprocesses, error paths in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tickets_support import make_request, merchant

from bot.db import REPO_ROOT, make_engine
from bot.tickets import STEPS, TicketService
from bot.tickets.__main__ import main


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "bot.tickets", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def seed(url: str) -> tuple[str, str]:
    service = TicketService(make_engine(url))
    try:
        a = service.open_ticket(make_request(merchant(1), sender_id="s1", phone="13800000001"))
        b = service.open_ticket(make_request(merchant(2), sender_id="s1", phone="13800000002"))
        return a.ticket.ticket_no, b.ticket.ticket_no
    finally:
        service.dispose()


def test_migrate_command(empty_db_url: str) -> None:
    first = cli(empty_db_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert "最新版本" in first.stdout
    assert cli(empty_db_url, "migrate").returncode == 0


def test_end_to_end(db_url: str) -> None:
    no, newer = seed(db_url)
    shown = cli(db_url, "show", no.lower())
    assert shown.returncode == 0, shown.stderr
    assert no in shown.stdout and "处理中" in shown.stdout
    assert all(step in shown.stdout for step in STEPS)

    listed = cli(db_url, "list", "--sender", "s1")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(newer) and lines[1].startswith(no)
    assert "共 2 张工单" in listed.stdout

    advanced = cli(db_url, "advance", no, "资料审核", "已完成", "--note", "材料齐全", "--actor=王")
    assert advanced.returncode == 0, advanced.stderr
    assert "资料审核 → 已完成" in advanced.stdout and "材料齐全" in advanced.stdout

    bad = cli(db_url, "advance", no, "审核", "已完成")
    assert bad.returncode == 1 and "未知步骤" in bad.stderr and "Traceback" not in bad.stderr

    cancelled = cli(db_url, "cancel", no, "--actor", "王")
    assert cancelled.returncode == 0, cancelled.stderr
    history = cli(db_url, "show", no, "--history")
    assert "状态: 已取消" in history.stdout
    assert "资料审核: 待处理 → 已完成 (王)  材料齐全" in history.stdout
    assert "工单: open → cancelled (王)" in history.stdout


def test_list_by_merchant_and_phone(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no, newer = seed(db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["list", "--merchant", merchant(1)]) == 0
    assert main(["list", "--phone", "138-0000-0002"]) == 0
    assert main(["list", "--phone", "13900000000"]) == 0
    out = capsys.readouterr().out
    assert no in out and newer in out and "共 0 张工单" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "UB-20000101-0001"), "找不到工单"),
        (("advance", "UB-20000101-0001", "资料审核", "已完成"), "找不到工单"),
        (("advance", "{no}", "审核", "已完成"), "未知步骤"),
        (("advance", "{no}", "资料审核", "完成了"), "未知状态"),
        (("advance", "{no}", "账户冻结", "已完成"), "请先完成"),
        (("cancel", "nonsense"), "找不到工单"),
    ],
)
def test_errors_exit_nonzero_with_message(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    no, _ = seed(db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main([a.format(no=no) for a in args]) == 1
    assert message in capsys.readouterr().err


def test_usage_error_and_unavailable_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["list"])  # one of --merchant/--phone/--sender is required
    assert usage.value.code == 2
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker / 'tickets.db'}")
    assert main(["show", "UB-20251128-0001"]) == 3
    assert "工单系统暂时不可用" in capsys.readouterr().err


def test_advance_can_ask_for_more_materials(db_url: str) -> None:
    no, _ = seed(db_url)
    asked = cli(db_url, "advance", no, "资料审核", "需补充材料", "--note", "请补营业执照副本")
    assert asked.returncode == 0, asked.stderr
    assert "资料审核 → 需补充材料" in asked.stdout
    assert "1. 资料审核  需补充材料" in asked.stdout and "备注: 请补营业执照副本" in asked.stdout
    service = TicketService(make_engine(db_url))
    try:
        step = service.get_ticket(no).steps[0]
        history = service.history(no)
    finally:
        service.dispose()
    assert (step.name, step.status, step.note) == ("资料审核", "需补充材料", "请补营业执照副本")
    assert (history[-1].step, history[-1].new_status) == ("资料审核", "需补充材料")
    assert history[-1].actor.startswith("cli")
