"""One writing session of the stress test (tests/test_stress.py), run as its own process.

    python _stress_worker.py LOG JOURNAL SEED START_STEP

Appends, flushes, fills the disk (RLIMIT_FSIZE), takes Ctrl-Cs (a timer
raising KeyboardInterrupt at random moments) and ends by closing, by exiting
without close, or by dying (os._exit). The journal gets ``A step value`` for
every value before it is appended (what may be in the log) and ``C step
value`` for every value whose append returned before a flush or close that
returned (what the writer reported written), each batch in one write.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sys

import curvelog


def main() -> int:
    path, journal, seed, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    jfd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(tag: str, rows: list[tuple[int, float]]) -> None:
        if rows:
            os.write(jfd, "".join(f"{tag} {s} {v!r}\n" for s, v in rows).encode())

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, interrupt)
    log = None
    while log is None:  # a Ctrl-C may land in the open too
        try:
            log = curvelog.EventLog(path, best="x", flush_every=rng.choice([0, 0.01]))
        except KeyboardInterrupt:
            pass
    step, counter = start, 0
    returned: list[tuple[int, float]] = []  # appended, not yet confirmed
    for _ in range(rng.randint(5, 25)):
        op = rng.random()
        # the timer may fire in the finally before it is cancelled: the outer
        # handler catches that one too (a Ctrl-C between any two bytecodes)
        try:
            try:
                if rng.random() < 0.3:  # a Ctrl-C somewhere in the next few milliseconds
                    signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0001, 0.01))
                if op < 0.6:
                    batch = []
                    for _ in range(rng.randint(1, 3000)):
                        counter += 1
                        batch.append((step, seed * 1e7 + counter))
                        step += 1
                    note("A", batch)
                    for s, v in batch:
                        try:
                            log.append(s, x=v)
                        except OSError:  # the flush of a full chunk found the disk full
                            pass
                        returned.append((s, v))
                elif op < 0.8:
                    log.flush()
                    note("C", returned)
                    returned = []
                else:  # the disk fills up, a flush fails, space comes back
                    size = os.path.getsize(path)
                    resource.setrlimit(resource.RLIMIT_FSIZE, (size + rng.randint(0, 5000), hard))
                    try:
                        log.flush()
                        note("C", returned)
                        returned = []
                    except OSError:
                        pass
                    finally:
                        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except KeyboardInterrupt:
            pass
    end = rng.random()
    if end < 0.2:
        os._exit(0)  # killed: what was not flushed is lost, nothing else
    if end < 0.6:
        while True:
            try:
                log.close()
                break
            except KeyboardInterrupt:
                pass
        note("C", returned)
    # else: exit without close; the atexit hook closes the log
    return 0


if __name__ == "__main__":
    sys.exit(main())
