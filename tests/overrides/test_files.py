"""Tests of override files on disk: special files, link loops, linked folders and unreadable paths."""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.errors import FileErrors, Problem
from reconciler.overrides import find_override_files, load_overrides
from reconciler.overrides.files import read_override_file
from tests.conftest import Cli, Ran

D1 = "d290f1ee-6c54-4b01-90e6-d701748f0851"
D2 = "3c0f6a7e-1b1d-4a8e-9a51-0f8f1f2c9d10"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VALID_CSV = f"data_id,peak_id,candidate_key\n{D1},p1,Ga_417.2\n"
NOBODY = 65534
HANG = 5.0  # seconds after which a read is taken to hang; the tests themselves take milliseconds

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes (FIFOs) on this platform")
needs_unix_socket = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")
needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or os.name != "posix", reason="needs fork() and POSIX file permissions"
)


def write(name: str, content: str = VALID_CSV) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def fifo(name: str) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def link(name: str, target: str) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


@contextlib.contextmanager
def fifos_released_after(seconds: float = HANG) -> Iterator[None]:
    """Fail, instead of hanging the suite, if anything blocks opening a FIFO under the working directory.

    After `seconds`, every FIFO there is opened for writing and closed: a reader blocked on one gets its
    end of file, so the code under test returns, and the test fails here.
    """
    released = threading.Event()

    def release() -> None:
        for folder, _, names in os.walk("."):
            for name in names:
                path = Path(folder, name)
                with contextlib.suppress(OSError):
                    if stat.S_ISFIFO(os.stat(path).st_mode):  # noqa: PTH116 - a test may patch Path.stat
                        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # ENXIO without a reader
                        released.set()

    timer = threading.Timer(seconds, release)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    assert not released.is_set(), f"a FIFO was opened for reading and blocked for {seconds} s"


def problems_of(*paths: str) -> list[str]:
    with fifos_released_after(), pytest.raises(FileErrors) as caught:
        load_overrides(paths)
    return [str(problem) for problem in caught.value.problems]


def found(*paths: str) -> tuple[list[str], list[str]]:
    """The files found (as posix paths) and the problems, as find_override_files gives them."""
    files, problems = find_override_files(paths)
    return [file.as_posix() for file in files], [str(problem) for problem in problems]


# --- Finding files ---


def test_directories_are_searched_recursively_in_sorted_order(here: Path) -> None:
    """A directory yields its override files at any depth, sorted; other files and hidden folders are not."""
    for name in ("o/b.yaml", "o/a.csv", "o/a/z.yml", "o/a/sub/y.yaml", "o/readme.txt", "o/.ci/ci.yml"):
        write(name, "")
    files, problems = find_override_files(["o"])
    assert [file.as_posix() for file in files] == ["o/a/sub/y.yaml", "o/a/z.yml", "o/a.csv", "o/b.yaml"]
    assert problems == []


def test_paths_keep_the_order_given_and_each_file_is_read_once(here: Path) -> None:
    """Paths are taken in the order given; a file named again, or also found in a folder, is read once."""
    write("o/a.yaml", f"version: 1\noverrides:\n  {D1}:\n    p1: Ga_417.2\n")
    write("z.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    loaded = load_overrides(["z.csv", "o", "o/a.yaml", "./z.csv"])
    assert loaded.sources == ("z.csv", "o/a.yaml")
    assert loaded.warnings == ()


def test_paths_that_are_not_override_files(here: Path) -> None:
    """A missing path, a directory without override files and a file of another kind are each a problem."""
    write("empty/notes.txt", "")
    write("notes.md", "")
    assert problems_of("nothing-here", "empty", "notes.md") == [
        "empty: no override files (*.yaml, *.yml, *.csv) in this directory",
        "notes.md: not an override file (expected *.yaml, *.yml, *.csv)",
        "nothing-here: no such file or directory",
    ]


def test_a_name_too_long_for_the_file_system_is_a_problem_not_a_traceback(here: Path) -> None:
    """A path whose name is over the system's limit is a problem naming the system's reason."""
    name = "x" * 300 + ".yaml"
    assert problems_of(name) == [f"{name}: cannot read: File name too long"]


def test_file_over_50_mb_is_refused_without_being_read(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over 50 MB is refused from its size alone: it is never opened."""
    with Path("big.yaml").open("wb") as big:
        big.truncate(60 * 1024 * 1024)  # sparse: no disk is written

    def no_open(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(os, "open", no_open)
    monkeypatch.setattr(Path, "open", no_open)
    assert problems_of("big.yaml") == [
        "big.yaml: file is 62,914,560 bytes; override files are limited to 50 MB"
    ]


# --- Special files ---


@needs_fifo
def test_fifo_in_a_searched_folder_is_an_error_not_a_hang(here: Path) -> None:
    """A FIFO named like an override file in a folder is an error naming it; nothing waits for a writer."""
    write("o/a.csv")
    fifo("o/b.yaml")
    assert problems_of("o") == ["o/b.yaml: is a FIFO (named pipe), not a regular file"]


@needs_fifo
def test_fifo_named_explicitly_is_an_error_whatever_its_name(here: Path) -> None:
    """A FIFO named on the command line is an error, with an override suffix or without one."""
    fifo("pipe.csv")
    fifo("pipe")
    assert problems_of("pipe.csv", "pipe") == [
        "pipe: is a FIFO (named pipe), not a regular file",
        "pipe.csv: is a FIFO (named pipe), not a regular file",
    ]


@needs_fifo
def test_fifo_with_another_suffix_in_a_folder_is_ignored(here: Path) -> None:
    """Only *.yaml, *.yml and *.csv matter in a folder: a FIFO named otherwise is left alone, as any file."""
    write("o/a.csv")
    fifo("o/log.pipe")
    fifo("o/.hidden.yaml")
    with fifos_released_after():
        assert load_overrides(["o"]).sources == ("o/a.csv",)


@needs_fifo
def test_link_to_a_fifo_names_the_link_and_its_target(here: Path) -> None:
    """A symbolic link with an override name that points to a FIFO is refused, naming where it points."""
    fifo("pipe")
    link("o/a.yaml", "../pipe")
    assert problems_of("o") == [
        "o/a.yaml: is a FIFO (named pipe), not a regular file (a symbolic link to '../pipe')"
    ]


@needs_fifo
def test_fifo_swapped_in_after_the_check_is_opened_without_waiting(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file replaced by a FIFO between its check and its opening is refused at once, not waited on."""
    pipe = fifo("a.csv")
    real_stat = Path.stat

    def looks_regular(path: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        status = real_stat(path, follow_symlinks=follow_symlinks)
        fields = list(status[:10])
        fields[0] = stat.S_IFREG | 0o644  # what the check saw, a moment before the swap
        return os.stat_result(fields)

    monkeypatch.setattr(Path, "stat", looks_regular)
    with fifos_released_after():
        problem = read_override_file(pipe)
    assert problem == Problem("a.csv", 0, "the file was replaced while it was being read; run again")


@needs_unix_socket
def test_unix_socket_among_override_files_is_an_error(here: Path) -> None:
    """A unix socket named like an override file, found in a folder or named, is an error naming it."""
    write("o/a.csv")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("o/s.yaml")  # relative: the absolute path could pass the 108-byte limit
        assert problems_of("o") == ["o/s.yaml: is a socket, not a regular file"]
        assert problems_of("o/s.yaml") == ["o/s.yaml: is a socket, not a regular file"]


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_device_named_explicitly_is_an_error(device: str) -> None:
    """A character device named on the command line is refused without being read."""
    if not Path(device).exists():
        pytest.skip(f"{device} does not exist here")
    assert problems_of(device) == [f"{device}: is a character device, not a regular file"]


def test_link_to_a_device_in_a_folder_is_an_error(here: Path) -> None:
    """A link named `*.csv` to /dev/zero in a folder is refused by kind, not read as 50 MB of zeros."""
    if not Path("/dev/zero").exists():
        pytest.skip("/dev/zero does not exist here")
    write("o/a.csv")
    link("o/zero.csv", "/dev/zero")
    assert problems_of("o") == [
        "o/zero.csv: is a character device, not a regular file (a symbolic link to '/dev/zero')"
    ]


# --- Links that lead nowhere ---


def test_symlink_loops_are_errors_naming_them(here: Path) -> None:
    """A link to itself and a cycle of two links are each an error naming the link, found or named."""
    write("o/a.csv")
    link("o/self.yaml", "self.yaml")
    link("o/b.csv", "c.csv")
    link("o/c.csv", "b.csv")
    loop = "is a symbolic link loop (it points to {!r}, and following the links never ends)"
    assert problems_of("o", "o/self.yaml") == [
        "o/b.csv: " + loop.format("c.csv"),
        "o/c.csv: " + loop.format("b.csv"),
        "o/self.yaml: " + loop.format("self.yaml"),
        "o/self.yaml: " + loop.format("self.yaml"),
    ]


def test_path_through_a_link_loop_is_an_error(here: Path) -> None:
    """A path whose folder part is a link loop cannot be reached, and says why."""
    link("loop", "loop")
    assert problems_of("loop/a.yaml") == [
        "loop/a.yaml: cannot be reached: a symbolic link on the way to it loops"
    ]


def test_broken_link_among_override_files_is_an_error(here: Path) -> None:
    """A link to nothing named like an override file is an error naming its target, found or named."""
    write("o/a.csv")
    link("o/gone.yaml", "../moved/gone.yaml")
    message = "is a broken symbolic link (it points to '../moved/gone.yaml', which does not exist)"
    assert problems_of("o", "o/gone.yaml") == [f"o/gone.yaml: {message}", f"o/gone.yaml: {message}"]


def test_broken_links_and_loops_with_other_names_are_ignored_in_a_folder(here: Path) -> None:
    """In a folder, a link to nothing or a loop not named like an override file is not ours to judge."""
    write("o/a.csv")
    link("o/result", "/nonexistent/build/output")
    link("o/spin", "spin")
    assert found("o") == (["o/a.csv"], [])


# --- Linked folders ---


def test_linked_subfolder_is_followed(here: Path) -> None:
    """A symbolic link to a folder elsewhere is searched like a folder; its files carry the link's path."""
    write("o/a.csv")
    write("shared/gan/b.yaml", f"version: 1\noverrides:\n  {D2}:\n    p1: In_451.1\n")
    link("o/shared", "../shared")
    loaded = load_overrides(["o"])
    assert loaded.sources == ("o/a.csv", "o/shared/gan/b.yaml")
    assert [override.source for override in loaded.overrides] == ["o/shared/gan/b.yaml:4", "o/a.csv:2"]


def test_linked_root_folder_is_followed(here: Path) -> None:
    """A folder named on the command line through a link is searched under the name given."""
    write("real/a.csv")
    link("o", "real")
    assert found("o") == (["o/a.csv"], [])


def test_link_back_to_an_ancestor_is_one_loop_error_and_not_walked(here: Path) -> None:
    """A link to a folder it is in is reported once, by name, and the files around it are found once."""
    write("o/a.csv")
    write("o/sub/b.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    link("o/sub/up", "..")
    assert found("o") == (
        ["o/a.csv", "o/sub/b.csv"],
        [
            "o/sub/up: is a symbolic link that points to '..', which leads back to 'o', "
            "a folder it is in (a loop); not followed"
        ],
    )


def test_cycle_of_folder_links_is_reported_once(here: Path) -> None:
    """Two folders linking to each other: one loop error, every file found exactly once, no hang."""
    write("o/a/x.csv")
    write("o/b/y.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    link("o/a/to_b", "../b")
    link("o/b/to_a", "../a")
    files, problems = found("o")
    assert files == ["o/a/to_b/y.csv", "o/a/x.csv"]  # sorted: `to_b` before `x.csv`; `o/b` is walked
    assert problems == [
        "o/a/to_b/to_a: is a symbolic link that points to '../a', which leads back to 'o/a', "
        "a folder it is in (a loop); not followed"
    ]


def test_folder_reached_by_two_links_is_walked_once(here: Path) -> None:
    """Two links to one folder (not a loop) find its files once, under the first name in sorted order."""
    write("shared/a.csv")
    link("o/first", "../shared")
    link("o/second", "../shared")
    assert found("o") == (["o/first/a.csv"], [])


def test_folder_named_again_or_inside_another_is_searched_once(here: Path) -> None:
    """Naming a folder twice, or a folder and one inside it, finds each file once and each loop once."""
    write("o/a.csv")
    write("o/sub/b.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    link("o/sub/up", "..")
    files, problems = found("o/a.csv", "o", "o/sub", "o")
    assert files == ["o/a.csv", "o/sub/b.csv"]
    assert problems == [
        "o/sub/up: is a symbolic link that points to '..', which leads back to 'o', "
        "a folder it is in (a loop); not followed"
    ]


def test_folder_reached_again_below_a_link_is_named_as_a_loop(here: Path) -> None:
    """Searching from inside a loop, the real folder met again through the link is the loop named."""
    write("o/a.csv")
    write("o/sub/b.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    link("o/sub/up", "..")
    assert found("o/sub") == (
        ["o/sub/b.csv", "o/sub/up/a.csv"],
        [
            "o/sub/up/sub: is 'o/sub', a folder it is in, reached again through a symbolic link (a loop); "
            "not followed"
        ],
    )


def test_files_without_inode_numbers_are_not_taken_for_one(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system that reports inode 0 for every file, distinct files are still all read."""
    write("o/a.csv")
    write("o/b.csv", f"data_id,peak_id,candidate_key\n{D2},p1,X_1\n")
    real_stat = Path.stat

    def stat_without_inode(path: Path, *, follow_symlinks: bool = True) -> os.stat_result:
        status = real_stat(path, follow_symlinks=follow_symlinks)
        fields = list(status[:10])
        fields[1] = 0  # st_ino
        return os.stat_result(fields)

    monkeypatch.setattr(Path, "stat", stat_without_inode)
    assert found("o", "o/a.csv") == (["o/a.csv", "o/b.csv"], [])


def test_deep_folders_do_not_hit_the_recursion_limit(here: Path) -> None:
    """A tree deeper than Python's recursion limit is searched without error."""
    depth = sys.getrecursionlimit() + 50
    for _ in range(depth):  # level by level, from the one above: a long path is slow to resolve
        Path("d").mkdir()
        os.chdir("d")
    write("a.csv")
    os.chdir(here)
    try:
        files, problems = found("d")
        assert problems == []
        assert files == ["/".join(["d"] * depth + ["a.csv"])]
    finally:  # bottom up, level by level: shutil.rmtree recurses, and would hit the limit itself
        os.chdir("/".join(["d"] * depth))
        Path("a.csv").unlink()
        for _ in range(depth):
            os.chdir("..")
            Path("d").rmdir()


def test_hard_links_to_one_file_are_read_once(here: Path) -> None:
    """Two names of one file (a hard link) are read once, as a file named twice is."""
    write("o/a.csv")
    os.link("o/a.csv", "o/b.csv")
    assert load_overrides(["o"]).sources == ("o/a.csv",)


# --- Unreadable files and folders ---


def _as_nobody(argv: tuple[str, ...], forbidden: Path) -> dict[str, object]:
    """In the forked child: drop to nobody when root, check permissions bite, run the CLI."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:
        if forbidden.is_dir():
            list(forbidden.iterdir())
        else:
            forbidden.read_bytes()
    except PermissionError:
        pass
    else:
        return {"skip": f"uid {os.geteuid()} can still read {forbidden} after chmod 000"}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def cli_unprivileged(*argv: str, forbidden: Path) -> Ran:
    """The CLI run in a forked child that chmod 000 stops (uid 65534 when the tests run as root).

    The child is killed, and the test fails, if it has not answered within a few seconds.
    """
    main(
        ["validate", "--quiet", str(Path(__file__).resolve().parents[2] / "examples")]
    )  # import all it needs
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; it must never return into pytest
        try:
            os.close(reader)
            try:
                answer = _as_nobody(argv, forbidden)
            except BaseException:  # noqa: BLE001 - whatever happens is reported; the child never returns
                answer = {"crash": traceback.format_exc()}
            with os.fdopen(writer, "wb") as pipe:
                pipe.write(json.dumps(answer).encode())
        finally:
            os._exit(0)
    os.close(writer)
    chunks, deadline = [], time.monotonic() + HANG * 2
    with os.fdopen(reader, "rb") as pipe:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], deadline - time.monotonic())
            chunk = os.read(pipe.fileno(), 65536) if ready else b""
            if ready and not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"validate as an unprivileged user did not finish in {HANG * 2} s")
    os.waitpid(pid, 0)
    answer = json.loads(b"".join(chunks))
    if "skip" in answer:
        pytest.skip(answer["skip"])
    assert "crash" not in answer, answer.get("crash")
    return Ran(answer["code"], answer["out"], answer["err"])


@pytest.fixture
def shared_here(here: Path) -> Iterator[Path]:
    """The working directory, open to all (the unprivileged child must get in); modes restored after."""
    here.chmod(0o755)
    yield here
    for path in here.rglob("*"):
        with contextlib.suppress(OSError):
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)


def assert_refused(ran: Ran, *lines: str) -> None:
    assert ran.code == 1, ran.out + ran.err
    assert [line for line in ran.err.splitlines() if line.startswith("error: ")] == list(lines)
    assert "Traceback" not in ran.err
    assert "Valid" not in ran.out


@needs_fork
def test_unreadable_subfolder_is_an_error_not_skipped(shared_here: Path) -> None:
    """A sub-folder that cannot be listed is an error naming it; `validate` no longer says Valid."""
    write("o/a.csv")
    write("o/locked/b.csv")
    Path("o/locked").chmod(0)
    ran = cli_unprivileged("validate", "o", forbidden=Path("o/locked"))
    assert_refused(ran, "error: o/locked: cannot read the folder: Permission denied")


@needs_fork
def test_unreadable_file_is_an_error(shared_here: Path) -> None:
    """An override file that cannot be read is an error naming it, found in a folder or named."""
    write("o/a.csv")
    write("o/secret.yaml")
    Path("o/secret.yaml").chmod(0)
    ran = cli_unprivileged("validate", "o", "o/secret.yaml", forbidden=Path("o/secret.yaml"))
    assert_refused(ran, "error: o/secret.yaml: cannot read the file: Permission denied")


@needs_fork
def test_folder_listed_but_not_entered_is_an_error(shared_here: Path) -> None:
    """A folder that can be listed but not entered (mode r--): its override files are errors, not skipped."""
    write("o/a.csv")
    write("o/closed/b.csv")
    Path("o/closed").chmod(0o444)
    ran = cli_unprivileged("validate", "o", forbidden=Path("o/closed/b.csv"))
    assert_refused(ran, "error: o/closed/b.csv: cannot read: Permission denied")


@needs_fork
def test_unreadable_folder_named_explicitly_says_so(shared_here: Path) -> None:
    """A folder named on the command line that cannot be listed says so, not 'no override files'."""
    write("locked/a.csv")
    Path("locked").chmod(0)
    ran = cli_unprivileged("validate", "locked", forbidden=Path("locked"))
    assert_refused(ran, "error: locked: cannot read the folder: Permission denied")


# --- The CLI ---


@pytest.mark.slow
@needs_fifo
@needs_unix_socket
def test_validate_in_a_real_process_lists_every_special_file_and_exits_1(here: Path) -> None:
    """`python -m reconciler validate` over a folder of FIFOs, a socket and loops ends at once, exit 1."""
    write("o/a.csv")
    fifo("o/b.yaml")
    link("o/c.csv", "c.csv")
    link("o/d.yml", "/dev/null")
    link("o/sub/up", "..")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("o/e.csv")
        ran = subprocess.run(
            [sys.executable, "-m", "reconciler", "validate", "o"],
            capture_output=True,
            text=True,
            timeout=HANG * 4,
            check=False,
        )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert ran.stderr.splitlines() == [
        "error: o/b.yaml: is a FIFO (named pipe), not a regular file",
        "error: o/c.csv: is a symbolic link loop (it points to 'c.csv', and following the links never ends)",
        "error: o/d.yml: is a character device, not a regular file (a symbolic link to '/dev/null')",
        "error: o/e.csv: is a socket, not a regular file",
        "error: o/sub/up: is a symbolic link that points to '..', which leads back to 'o', "
        "a folder it is in (a loop); not followed",
        "InputError: 5 errors in override files; nothing was sent.",
    ]


@needs_fifo
def test_validate_with_the_cli_fixture_names_the_fifo(here: Path, cli: Cli) -> None:
    """`validate` (in-process) of a folder holding a FIFO: exit 1 and the FIFO named, no hang."""
    write("o/a.csv")
    fifo("o/b.csv")
    with fifos_released_after():
        ran = cli("validate", "o")
    assert ran.code == 1
    assert ran.err.splitlines()[0] == "error: o/b.csv: is a FIFO (named pipe), not a regular file"
