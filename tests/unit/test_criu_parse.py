"""Parsing of CRIU's output: `criu --version`, `criu check` and the tail of a failed log."""

from __future__ import annotations

from hutch.criu.binary import parse_version
from hutch.criu.readiness import parse_check
from hutch.criu.run import error_line, last_errors


def test_version_of_4_1_1_and_of_a_git_build() -> None:
    assert parse_version("Version: 4.1.1\n") == (4, 1, 1)
    assert parse_version("Version: 3.17\nGitID: v3.17-1-gabc\n") == (3, 17, 0)
    assert parse_version("criu: command not found") is None


def test_check_keeps_one_line_per_complaint_without_the_log_prefix() -> None:
    out = (
        "Warn  (criu/cr-check.c:824): Dirty tracking is OFF. Memory snapshot will not work.\n"
        "(00.000512) Error (criu/cr-check.c:1200): Unexpected rt vDSO area bounds\n"
        "Error (criu/cr-check.c:1200): Unexpected rt vDSO area bounds\n"
        "Looks good but some kernel features are missing\n"
        "which, depending on your process tree, may cause\n"
    )
    assert parse_check(out) == [
        "warn: Dirty tracking is OFF. Memory snapshot will not work.",
        "error: Unexpected rt vDSO area bounds",
    ]
    assert parse_check("Looks good.\n") == []


# the tail of a real failed dump (criu 4.1.1): the console's pty master is outside
DUMP_LOG = (
    (
        "(00.035223) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self:"
        " Operation not permitted\n"
    )
    + """\
(00.101000) Dumping pstree
(00.303353) Error (criu/tty.c:410): tty: Found slave peer index 0 without correspond master peer
(00.320211) Error (criu/cr-dump.c:2111): Dumping FAILED.
"""
)


def test_last_errors_skip_benign_lines_and_the_generic_failure() -> None:
    assert last_errors(DUMP_LOG) == ["tty: Found slave peer index 0 without correspond master peer"]
    assert last_errors("(0.1) Error (criu/cr-dump.c:2111): Dumping FAILED.\n") == [
        "Dumping FAILED."
    ]
    # restore's errors from `ip` run in the namespace come without criu's prefix
    assert last_errors("Error: ipv4: Address already assigned.\nError: bad route\n") == [
        "bad route"
    ]


def test_error_line_is_one_line_and_names_the_log() -> None:
    line = error_line("dump", DUMP_LOG, "/x/dump.log")
    assert "\n" not in line
    assert line == (
        "criu dump failed: tty: Found slave peer index 0 without correspond master peer"
        " (log: /x/dump.log)"
    )
    assert error_line("restore", "", "/x/r.log") == (
        "criu restore failed: no error in its log (log: /x/r.log)"
    )


def test_a_session_led_from_outside_is_explained():
    log = "(00.01) Error (criu/pstree.c:123): A session leader of 42 is outside of its pid ns\n"
    line = error_line("dump", log, "/x/dump.log")
    assert line.startswith("criu dump failed: process 42 inside still belongs to the session")
    assert "setsid" in line and line.endswith("(log: /x/dump.log)")
