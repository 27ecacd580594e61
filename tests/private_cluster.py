"""A throwaway PostgreSQL cluster of our own (temp dir, free port) that tests may stop, kill -9 and restart
without touching the shared server other engineers' tests use. Run as `postgres` because tests run as root."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")
OWNER = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateCluster:
    """initdb + pg_ctl on 127.0.0.1:<port>; trust auth (loopback only, gone when the test ends)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="minqing_pg_"))
        self.data = self.root / "data"
        self.port = free_port()
        owner = pwd.getpwnam(OWNER)
        os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._as_owner(BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync",
                       "-E", "UTF8", "--locale=C.UTF-8")

    def _as_owner(self, *argv, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", OWNER, "--", *map(str, argv)], check=check, capture_output=True,
                              text=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        self._as_owner(BIN / "pg_ctl", "-D", self.data, "-l", self.root / "log", "-o", options, "-w", "-t", "60",
                       "start")

    def stop(self) -> None:
        """A clean, fast shutdown: sessions are ended, the port closes."""
        self._as_owner(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill9(self) -> None:
        """SIGKILL the postmaster (a crash, no shutdown), then wait for its orphaned backends to notice and go,
        so the next start runs crash recovery instead of refusing over shared memory still in use."""
        pid = self.postmaster_pid()
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in [pid, *children]):
            time.sleep(0.05)
        for child in children:  # a backend stuck in a long statement would be found by the next start anyway
            if Path(f"/proc/{child}").exists():
                os.kill(int(child), signal.SIGKILL)

    def is_running(self) -> bool:
        return self._as_owner(BIN / "pg_ctl", "-D", self.data, "status", check=False).returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.is_running():
            self._as_owner(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def migrated_database(cluster: PrivateCluster, name: str = "minqing"):
    """A migrated ledger database in `cluster`; returns its Settings."""
    from sqlalchemy import create_engine, text

    from data import migrate
    from data.db import make_engine
    from data.settings import Settings

    admin = create_engine(cluster.url().replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    settings = Settings(database_url=cluster.url(name), tick_seconds=0, connect_timeout_s=2)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    return settings


def running_city():
    """A private cluster holding the tiny demo city; yields (cluster, Settings); destroyed afterwards."""
    from datetime import datetime, timezone

    from data.db import make_engine
    from data.demo.city import generate
    from data.demo.load import load

    cluster = PrivateCluster()
    try:
        cluster.start()
        settings = migrated_database(cluster)
        engine = make_engine(settings)
        load(engine, generate("tiny", seed=7, as_of=datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)),
             progress=False)
        engine.dispose()
        yield cluster, settings
    finally:
        cluster.destroy()
