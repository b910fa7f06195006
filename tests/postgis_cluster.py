"""A throwaway PostgreSQL cluster with PostGIS, for the tests.

The machine's default cluster is never used or touched: :class:`PostGISCluster`
runs ``initdb`` into a fresh temporary folder, starts a postmaster on a free
TCP port of 127.0.0.1 with trust authentication and durability switched off
(fast, and nothing in it is meant to survive), and removes everything again
on :meth:`PostGISCluster.stop`.

The cluster holds a template database, ``gridmap_template``, with the
``postgis`` extension already created in it, so that
:meth:`PostGISCluster.create_database` gives a ready PostGIS database in a few
tens of milliseconds instead of the second ``CREATE EXTENSION postgis`` takes.

PostgreSQL refuses to run its server as root. When the tests run as root (CI
containers, this machine), ``initdb`` and ``pg_ctl`` run as the ``postgres``
user through ``runuser``, and the temporary folder is handed to that user;
as a normal user they run as that user.

Examples
--------
>>> with PostGISCluster() as cluster:  # doctest: +SKIP
...     url = cluster.create_database()
...     # postgresql://gridmap@127.0.0.1:PORT/gridmap_test_1
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["PostGISCluster", "find_bindir"]

INSTALL_HINT = "install postgresql-15-postgis-3 (./dev.sh test does)"
ROLE = "gridmap"
TEMPLATE = "gridmap_template"
SERVER_USER = "postgres"
"""The user the server runs as when the tests run as root."""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_NEEDED = ("initdb", "pg_ctl", "postgres", "psql")


def find_bindir() -> Path:
    """Find the folder of the PostgreSQL server programs.

    ``pg_config --bindir`` is asked first; then the newest
    ``/usr/lib/postgresql/*/bin`` (Debian's layout). A folder counts only if
    it holds ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    RuntimeError
        If no folder holds the programs.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in _NEEDED):
            return bindir
    looked = ", ".join(str(path) for path in candidates) or "no pg_config, no /usr/lib/postgresql"
    raise RuntimeError(
        f"the PostgreSQL server programs ({', '.join(_NEEDED)}) were not found "
        f"(looked in: {looked}); {INSTALL_HINT}"
    )


def _free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostGISCluster:
    """A temporary PostgreSQL cluster with a PostGIS template database.

    Parameters
    ----------
    bindir : str or pathlib.Path, optional
        The folder of ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``;
        found with :func:`find_bindir` when not given.

    Attributes
    ----------
    port : int or None
        The TCP port on 127.0.0.1, once started.
    workdir : pathlib.Path or None
        The temporary folder (data directory, socket folder, ``postgres.log``),
        once started.

    Notes
    -----
    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The
    role ``gridmap`` is the cluster's superuser and connects without a
    password (trust authentication, 127.0.0.1 and the Unix socket only).
    """

    def __init__(self, bindir: str | Path | None = None) -> None:
        self.bindir = Path(bindir) if bindir is not None else None
        self.port: int | None = None
        self.workdir: Path | None = None
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        self._running = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # -- paths -------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """The data directory (inside :attr:`workdir`)."""
        return self._workdir() / "data"

    @property
    def sockdir(self) -> Path:
        """The folder of the server's Unix socket (inside :attr:`workdir`)."""
        return self._workdir() / "sock"

    @property
    def logfile(self) -> Path:
        """The server's log file (inside :attr:`workdir`)."""
        return self._workdir() / "postgres.log"

    def _workdir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("the PostGIS test cluster is not started")
        return self.workdir

    # -- life cycle --------------------------------------------------------

    def start(self, attempts: int = 3) -> PostGISCluster:
        """Create and start the cluster, and create the template database.

        Parameters
        ----------
        attempts : int, default 3
            How many free ports to try: another process may take the port
            between finding it and the server binding it.

        Returns
        -------
        PostGISCluster
            ``self``, started.

        Raises
        ------
        RuntimeError
            If anything fails: the message says what, with the tail of the
            server's log. Whatever was created is removed again.
        """
        if self._running:
            return self
        if self.bindir is None:
            self.bindir = find_bindir()
        missing = [name for name in _NEEDED if not (self.bindir / name).is_file()]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not found in {self.bindir}; {INSTALL_HINT}")
        try:
            self._init()
            self._start_watchdog()
            for attempt in range(1, attempts + 1):
                self.port = _free_port()
                try:
                    self._server(
                        "start",
                        "-w",
                        "-t",
                        "60",
                        "-l",
                        str(self.logfile),
                        "-o",
                        self._server_options(),
                    )
                    break
                except RuntimeError:
                    if attempt == attempts or "could not bind" not in self._log_tail():
                        raise
            self._running = True
            atexit.register(self.stop)
            self._create_template()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (``pg_ctl -m immediate``) and remove its folder.

        Safe to call more than once, and on a cluster that failed to start.
        """
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        if self.workdir is None:
            return
        try:
            if self._running or (self.datadir / "postmaster.pid").exists():
                self._server("stop", "-m", "immediate", "-w", "-t", "60", check=False)
        finally:
            self._running = False
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.port = None

    def __enter__(self) -> PostGISCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """Return the URL of a database of the cluster.

        Parameters
        ----------
        dbname : str, default "postgres"
            The database.

        Returns
        -------
        str
            ``postgresql://gridmap@127.0.0.1:PORT/dbname`` (libpq and psycopg
            take it as it is; SQLAlchemy wants ``postgresql+psycopg://``).
        """
        if self.port is None:
            raise RuntimeError("the PostGIS test cluster is not started")
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database with PostGIS enabled.

        It is a copy of ``gridmap_template`` (``CREATE DATABASE ... TEMPLATE``),
        so the ``postgis`` extension is already in it.

        Parameters
        ----------
        name : str, optional
            The database's name (lower-case letters, digits, ``_``); a unique
            ``gridmap_test_N`` when not given.

        Returns
        -------
        str
            The database's URL.
        """
        name = self._name(name)
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        return self.url(name)

    def create_plain_database(self, name: str | None = None) -> str:
        """Create an empty database *without* PostGIS.

        For tests of what happens on a database that lacks the extension.

        Parameters
        ----------
        name : str, optional
            As for :meth:`create_database`.

        Returns
        -------
        str
            The database's URL.
        """
        name = self._name(name)
        self.sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database, closing whatever connections are still open to it.

        Parameters
        ----------
        name_or_url : str
            The database's name, or its URL from :meth:`create_database`.
        """
        name = self._name(name_or_url.rsplit("/", 1)[-1])
        if name in (TEMPLATE, "postgres", "template0", "template1"):
            raise ValueError(f"the test cluster's {name!r} database is not for dropping")
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sql(self, statement: str, dbname: str = "postgres") -> str:
        """Run SQL with ``psql`` as the ``gridmap`` role and return its output.

        Parameters
        ----------
        statement : str
            One or more SQL statements (each in its own transaction).
        dbname : str, default "postgres"
            The database to run them in.

        Returns
        -------
        str
            What ``psql`` printed (unaligned, tuples only).

        Raises
        ------
        RuntimeError
            If ``psql`` fails; with its message and the tail of the server log.
        """
        command = [
            str(self._bin("psql")),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            self.url(dbname),
            "-c",
            statement,
        ]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            env=self._env(),
            cwd=self._workdir(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"psql failed on {statement!r} (exit {result.returncode}): "
                f"{result.stderr.strip()}{self._log_section()}"
            )
        return result.stdout

    # -- internals ---------------------------------------------------------

    def _name(self, name: str | None) -> str:
        if name is None:
            with self._lock:
                return f"gridmap_test_{next(self._names)}"
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"database name {name!r}: use lower-case letters, digits and _ "
                "(at most 63, not starting with a digit)"
            )
        return name

    def _bin(self, name: str) -> Path:
        if self.bindir is None:
            self.bindir = find_bindir()
        return self.bindir / name

    def _server_options(self) -> str:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sockdir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        return " ".join(f"-c {key}={value}" for key, value in settings.items())

    def _init(self) -> None:
        """Make the temporary folder and run ``initdb`` into it."""
        self.workdir = Path(tempfile.mkdtemp(prefix="gridmap-postgis-"))
        # mkdtemp makes 700; the server user must be able to enter it.
        self.workdir.chmod(0o755)
        self.sockdir.mkdir(mode=0o755)
        if self._as_root:
            try:
                server = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root, the test cluster must run as the {SERVER_USER!r} "
                    f"user, which does not exist; {INSTALL_HINT}"
                ) from None
            for path in (self.workdir, self.sockdir):
                os.chown(path, server.pw_uid, server.pw_gid)
            self._check_reachable(self.workdir)
        self._run(
            "initdb",
            [
                str(self._bin("initdb")),
                "-D",
                str(self.datadir),
                "-U",
                ROLE,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
        )

    def _check_reachable(self, path: Path) -> None:
        """Fail clearly when the server user cannot reach the folder."""
        result = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(path), "-a", "-x", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd="/",
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"the {SERVER_USER!r} user cannot enter {path}: every folder above it must be "
                "enterable by that user (set TMPDIR to a folder such as /tmp) "
                f"{result.stderr.strip()}"
            )

    def _start_watchdog(self) -> None:
        """Stop the server and remove its folder should this process die unannounced.

        ``pg_ctl`` detaches the server, so a test run killed by a signal
        (a CI timeout) would otherwise leave it running; :meth:`stop` and
        ``atexit`` cover every ordinary end. A shell polls this process once
        a second and cleans up after it.
        """
        stop = self._as_server_user(
            [str(self._bin("pg_ctl")), "-D", str(self.datadir), "-m", "immediate", "stop"]
        )
        script = (
            f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
            f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(self._workdir()))}"
        )
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=self._env(),
            start_new_session=True,
        )

    def _server(self, *args: str, check: bool = True) -> None:
        self._run(
            f"pg_ctl {args[0]}",
            [str(self._bin("pg_ctl")), "-D", str(self.datadir), *args],
            check=check,
        )

    def _as_server_user(self, command: Sequence[str]) -> list[str]:
        """The command, run as the server user when we are root."""
        if self._as_root:
            return ["runuser", "-u", SERVER_USER, "--", *command]
        return list(command)

    def _run(self, what: str, command: Sequence[str], check: bool = True) -> None:
        """Run a server program, as the server user when we are root."""
        command = self._as_server_user(command)
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=300,
                env=self._env(),
                cwd=self._workdir(),
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as error:
            if not check:
                return
            raise RuntimeError(
                f"{what} of the PostGIS test cluster failed: {error}{self._log_section()}"
            ) from error
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise RuntimeError(
                f"{what} of the PostGIS test cluster failed (exit {result.returncode}): "
                f"{output}{self._log_section()}"
            )

    def _create_template(self) -> None:
        self.sql(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
        try:
            self.sql("CREATE EXTENSION postgis", dbname=TEMPLATE)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{INSTALL_HINT}") from None
        # A template may be copied by anyone; nothing stays connected to it.
        self.sql(f'ALTER DATABASE "{TEMPLATE}" WITH IS_TEMPLATE true')

    @staticmethod
    def _env() -> dict[str, str]:
        """The environment without PG* variables that could redirect a client."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _log_tail(self, lines: int = 30) -> str:
        if self.workdir is None:
            return ""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _log_section(self) -> str:
        tail = self._log_tail()
        if not tail:
            return ""
        return f"\n--- last lines of {self.logfile} ---\n{tail}"
