"""The audit log: a hash chain that survives reopening and threads, and breaks where tampered."""

import fcntl
import json
import os
import threading

import pytest
from prometheus_client import CollectorRegistry

from cli.main import main as cli_main
from rpc.audit import GENESIS, AuditLog, line_hash, open_audit_log, read_records, verify


def write(path, count, service="sandbox_runner", tenant="acme"):
    log = AuditLog(path, service)
    try:
        for number in range(count):
            assert log.record("check_ran", tenant, code_md5=f"md5-{number}", duration_ms=number)
    finally:
        log.close()


def lines(path):
    return path.read_bytes().splitlines()


def test_records_are_chained_json_lines(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 3)
    rows = [json.loads(line) for line in lines(path)]
    assert [row["code_md5"] for row in rows] == ["md5-0", "md5-1", "md5-2"]
    assert {row["service"] for row in rows} == {"sandbox_runner"}
    assert all(row["event"] == "check_ran" and row["tenant"] == "acme" for row in rows)
    assert rows[0]["prev"] == GENESIS
    assert rows[1]["prev"] == line_hash(lines(path)[0])
    assert rows[2]["prev"] == line_hash(lines(path)[1])
    assert rows[0]["time"].endswith("+00:00")
    assert verify(path) == (3, None)


def test_the_file_is_opened_for_appending_only(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, "trainer_svc")
    try:
        assert fcntl.fcntl(log._fd, fcntl.F_GETFL) & os.O_APPEND
    finally:
        log.close()


def test_reopening_continues_the_chain(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 2)
    write(path, 2, service="trainer_svc")
    rows = [json.loads(line) for line in lines(path)]
    assert rows[2]["prev"] == line_hash(lines(path)[1])
    assert verify(path) == (4, None)


def test_a_file_with_other_lines_is_chained_to_its_last_line(tmp_path):
    path = tmp_path / "audit.log"
    path.write_bytes(b'{"not": "ours"}\n')
    write(path, 1)
    assert json.loads(lines(path)[1])["prev"] == line_hash(b'{"not": "ours"}')


def test_a_line_cut_short_stays_a_bad_line_of_its_own(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 2)
    with path.open("ab") as handle:
        handle.write(b'{"time": "half a rec')
    write(path, 1)
    assert len(lines(path)) == 4
    assert json.loads(lines(path)[3])["prev"] == line_hash(b'{"time": "half a rec')
    assert verify(path) == (2, 3)


def test_an_edited_line_breaks_the_chain_at_the_next_line(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 5)
    rows = lines(path)
    rows[1] = rows[1].replace(b"md5-1", b"md5-X")
    path.write_bytes(b"\n".join(rows) + b"\n")
    assert verify(path) == (2, 3)


def test_a_deleted_line_breaks_the_chain(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 5)
    rows = lines(path)
    del rows[2]
    path.write_bytes(b"\n".join(rows) + b"\n")
    assert verify(path) == (2, 3)


def test_deleting_the_first_line_is_caught(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 3)
    path.write_bytes(b"\n".join(lines(path)[1:]) + b"\n")
    assert verify(path) == (0, 1)


def test_reordered_lines_break_the_chain(tmp_path):
    path = tmp_path / "audit.log"
    write(path, 5)
    rows = lines(path)
    rows[2], rows[3] = rows[3], rows[2]
    path.write_bytes(b"\n".join(rows) + b"\n")
    assert verify(path) == (2, 3)


def test_concurrent_writers_from_threads_keep_one_chain(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, "search_core")
    second = AuditLog(path, "search_core")  # a second handle, as a second process has

    def writer(instance, name):
        for number in range(50):
            instance.record("candidate_generated", name, candidate_id=f"{name}-{number}")

    threads = [
        threading.Thread(target=writer, args=(log if n % 2 else second, f"t{n}")) for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    second.close()
    assert verify(path) == (400, None)
    ids = {row["candidate_id"] for row in read_records(path)}
    assert len(ids) == 400


def test_a_failed_write_is_logged_and_counted_not_raised(tmp_path, caplog):
    registry = CollectorRegistry()
    log = open_audit_log(tmp_path / "audit.log", "sandbox_runner", registry)
    assert registry.get_sample_value("nasforge_audit_write_failures_total") == 0
    os.close(log._fd)  # the disk went away under the service
    log._fd = os.open(os.devnull, os.O_RDONLY)
    assert log.record("check_ran", "acme") is False
    assert registry.get_sample_value("nasforge_audit_write_failures_total") == 1
    assert "audit record check_ran of tenant acme not written" in caplog.text
    log.close()


def test_no_path_means_no_log_but_the_counter_exists():
    registry = CollectorRegistry()
    assert open_audit_log(None, "trainer_svc", registry) is None
    assert registry.get_sample_value("nasforge_audit_write_failures_total") == 0


def test_cli_verify_and_show(tmp_path, capsys):
    path = tmp_path / "audit.log"
    log = AuditLog(path, "sandbox_runner")
    log.record("check_ran", "acme", code_md5="a")
    log.record("check_ran", "globex", code_md5="b")
    log.record("search_submitted", "acme", search_id="s-1")
    log.close()

    assert cli_main(["audit", "verify", str(path)]) == 0
    assert "ok, 3 records" in capsys.readouterr().out
    assert cli_main(["audit", "show", str(path), "--tenant", "acme", "--event", "check_ran"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["code_md5"] for row in shown] == ["a"]

    rows = lines(path)
    path.write_bytes(b"\n".join([rows[0], rows[2]]) + b"\n")
    assert cli_main(["audit", "verify", str(path)]) == 1
    assert "BROKEN at line 2" in capsys.readouterr().out
    assert cli_main(["audit", "verify", str(tmp_path / "missing.log")]) == 2


@pytest.mark.parametrize("count", [0, 1])
def test_verify_of_short_files(tmp_path, count):
    path = tmp_path / "audit.log"
    path.touch()
    write(path, count)
    assert verify(path) == (count, None)
