"""A throwaway PostgreSQL server for the tests: initdb in a temporary folder, a unix socket.

Debian's ``postgresql`` package puts the server in /usr/lib/postgresql/<N>/bin
(``PG_BINDIR`` overrides). The server refuses to run as root, so as root the
cluster belongs to the ``postgres`` user (``runuser``). No TCP port is opened:
the socket lives in the cluster's folder. Without the binaries the tests that
need a server are skipped with the reason in the summary; under ``CI=true``
they fail instead, since CI installs the server (.ci/run).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import quote

PORT = 5432  # only the socket's name: the socket is in a private folder


def bindir() -> Path | None:
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def unavailable(reason: str) -> None:
    """Skip, or fail under CI (where the server must be there)."""
    import pytest  # not at the top: tools/bench_registry.py uses this module too

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must install it (.ci/run)", pytrace=False)
    pytest.skip(f"PostgreSQL tests not run: {reason}")


class Server:
    """One cluster; ``url(schema)`` gives a connection URL whose search_path is ``schema``."""

    def __init__(self, bin_dir: Path, *, fsync: bool = False) -> None:
        self.bin = bin_dir
        self.fsync = fsync  # off for the tests (speed); on for the benchmark
        self.dir = Path(tempfile.mkdtemp(prefix="curvelog-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.dir, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        fsync = "on" if self.fsync else "off"
        opts = (
            f"-k {self.dir} -c listen_addresses='' -p {PORT} -c fsync={fsync} -c max_connections=60"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", opts,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, schema: str | None = None) -> str:
        url = f"postgresql:///postgres?host={quote(str(self.dir))}&port={PORT}&user=postgres"
        if schema:
            url += "&options=" + quote(f"-csearch_path={schema}")
        return url

    def execute(self, sql: str, schema: str | None = None) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url(schema), autocommit=True) as conn:
            cur = conn.execute(sql)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def new_schema(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.execute(f"CREATE SCHEMA {name}")
        return name

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def make_server() -> Server:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    found = bindir()
    if found is None or not (found / "pg_ctl").exists():
        unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
    assert found is not None
    return Server(found)
