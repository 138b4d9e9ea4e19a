"""What ``audit_context`` costs per transaction, side by side with ``set_session_vars``.

One-row INSERT transactions into a table audited at statement level with two session
settings (``username``, ``request_id``), through SQLAlchemy, per driver and design:

- ``none``: no settings sent (the floor: the audit row gets NULLs);
- ``hook idle``: ``install_context`` on the engine, no context active (what the hook
  costs every statement of an application that does not use it there);
- ``explicit``: ``set_session_vars(conn, ...)`` in every transaction (one round trip);
- ``context``: ``with audit_context(...)`` around the transaction, hook with
  ``same_round_trip=True`` (psycopg2: one query string; psycopg 3: a pipeline);
- ``context apart``: the hook with ``same_round_trip=False`` (a statement of its own).

The async drivers (asyncpg, psycopg async) always send the settings apart: ``context``
there is that.  Designs run in interleaved blocks (the order rotates every round); the
table shows the median microseconds per transaction and the difference to ``none``.
Round trips per transaction are counted by a TCP proxy that also runs the timing when
``--latency-ms`` simulates a network (one-way delay added to every chunk).

Usage::

    python benchmarks/context.py                      # server at 127.0.0.1:5432
    python benchmarks/context.py --latency-ms 0.25    # as over a LAN (0.5 ms round trip)
    python benchmarks/context.py --embedded
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import queue
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects.postgresql import UUID  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from writes import bench_database, server_arguments  # noqa: E402

import alembic_audit  # noqa: E402

DATABASE = "alembic_audit_context_bench"
SYNC_DESIGNS = ("none", "hook idle", "explicit", "context", "context apart")
ASYNC_DESIGNS = ("none", "hook idle", "explicit", "context")
DRIVERS = {  # name: (SQLAlchemy driver, async)
    "psycopg2": ("psycopg2", False),
    "psycopg": ("psycopg", False),
    "asyncpg": ("asyncpg", True),
    "psycopg async": ("psycopg", True),
}
RID = uuid.UUID("4f6c1a2e-8d3b-4c5a-9e7f-0a1b2c3d4e5f")


def metadata() -> tuple[sa.MetaData, sa.Table]:
    alembic_audit.enable()
    md = sa.MetaData()
    table = sa.Table(
        "bench_ctx",
        md,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        info={
            "audit.options": {
                "enabled": True,
                "session_settings": [
                    sa.Column("username", sa.String(40)),
                    sa.Column("request_id", UUID),
                ],
            }
        },
    )
    return md, table


class CountingProxy:
    """A TCP proxy to the server that counts round trips (a client burst sent after the
    server last spoke) and can delay every chunk by ``latency`` seconds each way."""

    def __init__(self, target: tuple[str, int] | str, latency: float) -> None:
        self.target = target
        self.latency = latency
        self.round_trips = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _connect(self) -> socket.socket:
        if isinstance(self.target, str):  # a Unix socket (the embedded server)
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.target)
            return upstream
        return socket.create_connection(self.target)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = self._connect()
            for sock in (client, server):
                if sock.family != socket.AF_UNIX:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"server_spoke": True}
            threading.Thread(
                target=self._pump, args=(client, server, state, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, state, False), daemon=True
            ).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, state: dict[str, bool], up: bool
    ) -> None:
        # A delay line: every chunk leaves ``latency`` after it arrived, whatever came
        # before it (a network delays packets, it does not queue them one after another).
        line: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        if self.latency:
            threading.Thread(target=self._deliver, args=(line, dst), daemon=True).start()
        try:
            while data := src.recv(65536):
                with self._lock:
                    if up and state["server_spoke"]:
                        self.round_trips += 1
                    state["server_spoke"] = not up
                if self.latency:
                    line.put((time.monotonic() + self.latency, data))
                else:
                    dst.sendall(data)
        except OSError:
            pass  # the other side closed
        finally:
            line.put(None)
            if not self.latency:
                self._close(src, dst)

    def _deliver(self, line: queue.Queue[tuple[float, bytes] | None], dst: socket.socket) -> None:
        try:
            while (item := line.get()) is not None:
                due, data = item
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(dst)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


def through(url: sa.URL, proxy: CountingProxy | None) -> sa.URL:
    if proxy is None:
        return url
    return url.set(host="127.0.0.1", port=proxy.port, query={})


def target_of(url: sa.URL) -> tuple[str, int] | str:
    host = url.query.get("host")
    if host:
        return f"{host if isinstance(host, str) else host[0]}/.s.PGSQL.{url.port or 5432}"
    return (url.host or "127.0.0.1", url.port or 5432)


def sync_runner(
    url: sa.URL, driver: str, design: str, table: sa.Table
) -> tuple[Callable[[int], None], Callable[[], None]]:
    engine = sa.create_engine(
        url.set(drivername=f"postgresql+{driver}"), pool_size=1, max_overflow=0
    )
    if design != "none" and design != "explicit":
        alembic_audit.install_context(engine, same_round_trip=design != "context apart")
    insert = table.insert()
    row = {"name": "bench"}
    context = design.startswith("context")

    def run(n: int) -> None:
        for _ in range(n):
            if context:
                with (
                    alembic_audit.audit_context(username="bench", request_id=RID),
                    engine.begin() as conn,
                ):
                    conn.execute(insert, row)
            else:
                with engine.begin() as conn:
                    if design == "explicit":
                        alembic_audit.set_session_vars(conn, username="bench", request_id=RID)
                    conn.execute(insert, row)

    run(20)  # connect and warm up: plans cached, statement compiled
    return run, engine.dispose


def async_runner(
    url: sa.URL, driver: str, design: str, table: sa.Table, loop: asyncio.AbstractEventLoop
) -> tuple[Callable[[int], None], Callable[[], None]]:
    engine = create_async_engine(
        url.set(drivername=f"postgresql+{driver}"), pool_size=1, max_overflow=0
    )
    if design not in ("none", "explicit"):
        alembic_audit.install_context(engine)
    insert = table.insert()
    row = {"name": "bench"}

    async def run_async(n: int) -> None:
        for _ in range(n):
            if design == "context":
                with alembic_audit.audit_context(username="bench", request_id=RID):
                    async with engine.begin() as conn:
                        await conn.execute(insert, row)
            else:
                async with engine.begin() as conn:
                    if design == "explicit":
                        await alembic_audit.set_session_vars(conn, username="bench", request_id=RID)
                    await conn.execute(insert, row)

    def run(n: int) -> None:
        loop.run_until_complete(run_async(n))

    run(20)
    return run, lambda: loop.run_until_complete(engine.dispose())


@contextmanager
def runners(
    url: sa.URL, name: str, table: sa.Table, proxy: CountingProxy | None
) -> Iterator[dict[str, Callable[[int], None]]]:
    driver, is_async = DRIVERS[name]
    designs = ASYNC_DESIGNS if is_async else SYNC_DESIGNS
    loop = asyncio.new_event_loop() if is_async else None
    made: dict[str, Callable[[int], None]] = {}
    closers: list[Callable[[], None]] = []
    try:
        for design in designs:
            if loop is not None:
                run, close = async_runner(through(url, proxy), driver, design, table, loop)
            else:
                run, close = sync_runner(through(url, proxy), driver, design, table)
            made[design] = run
            closers.append(close)
        yield made
    finally:
        for close in closers:
            close()
        if loop is not None:
            loop.close()


def count_round_trips(
    url: sa.URL, names: list[str], table: sa.Table, n: int
) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    proxy = CountingProxy(target_of(url), 0.0)
    try:
        for name in names:
            with runners(url, name, table, proxy) as made:
                found[name] = {}
                for design, run in made.items():
                    before = proxy.round_trips
                    run(n)
                    found[name][design] = (proxy.round_trips - before) / n
    finally:
        proxy.close()
    return found


def measure(
    url: sa.URL, names: list[str], table: sa.Table, args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    proxy = CountingProxy(target_of(url), args.latency_ms / 1000) if args.latency_ms else None
    times: dict[str, dict[str, list[float]]] = {}
    try:
        for name in names:
            with runners(url, name, table, proxy) as made:
                designs = list(made)
                per: dict[str, list[float]] = {d: [] for d in designs}
                for round_ in range(args.rounds):
                    k = round_ % len(designs)
                    for design in designs[k:] + designs[:k]:
                        start = time.perf_counter()
                        made[design](args.transactions)
                        per[design].append((time.perf_counter() - start) / args.transactions * 1e6)
                times[name] = per
                print(f"  {name} done", file=sys.stderr)
    finally:
        if proxy is not None:
            proxy.close()
    return times


def report(
    round_trips: dict[str, dict[str, float]], times: dict[str, dict[str, list[float]]]
) -> str:
    lines = [
        "round trips per transaction (BEGIN, settings, INSERT, COMMIT; counted by a proxy)",
        "",
    ]
    lines += [
        "| driver | " + " | ".join(SYNC_DESIGNS) + " |",
        "|---" * (len(SYNC_DESIGNS) + 1) + "|",
    ]
    for name, found in round_trips.items():
        cells = [f"{found[d]:g}" if d in found else "-" for d in SYNC_DESIGNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "microseconds per transaction (median of rounds; + difference to none, median of pairs)",
        "",
    ]
    lines += [
        "| driver | " + " | ".join(SYNC_DESIGNS) + " |",
        "|---" * (len(SYNC_DESIGNS) + 1) + "|",
    ]
    summary = []
    for name, per in times.items():
        base = per["none"]
        cells = []
        for design in SYNC_DESIGNS:
            if design not in per:
                cells.append("-")
                continue
            added = statistics.median(x - y for x, y in zip(per[design], base, strict=True))
            cells.append(f"{statistics.median(per[design]):.0f} ({added:+.0f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        ratio = statistics.median(
            x / y for x, y in zip(per["context"], per["explicit"], strict=True)
        )
        summary.append(f"  {name}: context / explicit = {ratio:.2f}x")
    return "\n".join(
        lines + ["", "per transaction, audit_context against set_session_vars:", *summary]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    server_arguments(parser)
    parser.add_argument(
        "--drivers", default=",".join(DRIVERS), help="comma-separated, of " + ", ".join(DRIVERS)
    )
    parser.add_argument("--transactions", type=int, default=1000, help="per design and round")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="one-way delay added by a proxy"
    )
    parser.add_argument("--synchronous-commit", choices=("on", "off"), default="off")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.drivers.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DRIVERS))
    if unknown:
        parser.error(f"unknown drivers {unknown}; choose from {list(DRIVERS)}")
    md, table = metadata()
    with bench_database(args, DATABASE) as (url_text, version):
        url = sa.make_url(url_text)
        engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=sa.NullPool)
        md.create_all(engine)
        alembic_audit.install_audit_triggers(md, engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(
                f"ALTER DATABASE {sa.make_url(url_text).database} "
                f"SET synchronous_commit = {args.synchronous_commit}"
            )
        engine.dispose()
        round_trips = count_round_trips(url, names, table, 10)
        times = measure(url, names, table, args)
    network = f", {args.latency_ms} ms added each way" if args.latency_ms else ", no added latency"
    print(
        f"PostgreSQL {version}; one-row INSERT transactions through SQLAlchemy "
        f"(statement-level audit trigger, 2 settings), {args.rounds} interleaved rounds of "
        f"{args.transactions}{network}, synchronous_commit {args.synchronous_commit}"
    )
    print(report(round_trips, times))


if __name__ == "__main__":
    main()
