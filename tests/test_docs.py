"""The README is true: every command is documented, its Python runs, its console output is real.

As sqlite-utils' docs tests do, three checks:

- every click command and subcommand has a help text and is named in README.md;
- the README's ```python blocks run, in order, in one namespace (a reader's session);
- the README's ```console blocks run (``$ `` lines, through bash, with this
  interpreter's ``curvelog`` and ``python`` first on PATH) and print what the
  README shows after them.

The blocks run in README order in a temporary directory; a block preceded by
``<!-- docs: fresh -->`` starts a new one, ``<!-- docs: skip -->`` is not run
(kept for the few that cannot run here). Each directory has ``samples/``, empty
``runs/exp1/`` folders, and, when a block names it, the input CSV of a bundled
real run (``llmc_gpt2_124m.csv``, ...). A ``jq`` command runs where jq is
installed (.ci/run installs it); where it is not, the pytest summary lists it as
not run. What the blocks use but do not show, the
reader's own objects (a data loader, a model), is in ``READER``; two setups the
prose implies are in ``SETUP``. What may differ from run to run is normalised
in ``VARIES`` and nothing else: times, run ids, byte sizes, digests.
"""

from __future__ import annotations

import gzip
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

import curvelog
from _real import BUNDLED_CSVS
from curvelog.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------- commands


def commands(group: click.Command = cli, path: str = "curvelog") -> Iterator[tuple[str, Any]]:
    """Every command under ``group`` as (``curvelog registry list``, command), the root first."""
    yield path, group
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            yield from commands(sub, f"{path} {name}")


ALL_COMMANDS = sorted(dict(commands()))


def test_the_command_tree_is_walked() -> None:
    assert {"curvelog", "curvelog compact", "curvelog registry list", "curvelog import csv"} <= set(
        ALL_COMMANDS
    )


@pytest.mark.parametrize("path", ALL_COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(path: str) -> None:
    command = dict(commands())[path]
    assert (command.help or "").strip(), f"{path} has no help text"
    assert command.get_short_help_str().strip()
    assert re.search(rf"(?<![\w-]){re.escape(path)}(?![\w-])", README), f"README lacks `{path}`"


# --------------------------------------------------------------------------- blocks


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    text: str
    directive: str  # from a preceding <!-- docs: ... --> comment, or ""
    reason: str = ""  # what a skip says after the directive: <!-- docs: skip: why -->

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}"


def readme_blocks(text: str = README) -> list[Block]:
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        d = re.match(r"^<!-- docs: (\w+)(?:: (.+?))? -->$", before.strip())
        blocks.append(
            Block(m[1], i + 1, "\n".join(lines[i + 1 : end]), d[1] if d else "",
                  (d[2] or "") if d else "")
        )  # fmt: skip
        i = end + 1
    return blocks


BLOCKS = [b for b in readme_blocks() if b.lang in ("python", "console")]
RUN = [b for b in BLOCKS if b.directive != "skip"]


def test_the_readme_has_checked_examples_and_few_skips() -> None:
    """Most examples run; a skipped one says why (it needs what a test cannot have:
    a database server on the user's network, Django, the user's own training script)."""
    assert {b.directive for b in BLOCKS} <= {"", "fresh", "skip"}
    assert sum(b.lang == "python" for b in RUN) >= 5 and sum(b.lang == "console" for b in RUN) >= 5
    skipped = [b for b in BLOCKS if b.directive == "skip"]
    assert all(len(b.reason) > 10 for b in skipped), [b.id for b in skipped if not b.reason]
    assert len(skipped) * 2 <= len(RUN), [b.id for b in skipped]  # a third at most


#: What may vary between runs, and nothing else: (pattern, replacement), applied in order.
VARIES: list[tuple[str, str]] = [
    (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?Z?( UTC)?", "<time>"),  # wall clock
    (r"\(\d+(\.\d+)?s\)", "(<secs>)"),  # how long a run took
    (r"\b[0-9a-f]{64}\b", "<sha256>"),  # digests of pictures: matplotlib's version and fonts
    (r"\b[0-9a-f]{32}\b", "<run id>"),  # uuid4 of a run
    # a log's header holds host, cwd and versions, so sizes vary (and so a column's padding)
    (r" *\b\d[\d,]* bytes\b", " <n> bytes"),
    (r" *\b\d+(\.\d+)? [kMG]?B\b", " <size>"),
]


def normalise(text: str) -> str:
    for pattern, repl in VARIES:
        text = re.sub(pattern, repl, text)
    # a `   # note` after an output line is the README's annotation, not output
    return "\n".join(re.sub(r"\s{2,}# .*$", "", ln).rstrip() for ln in text.splitlines()).rstrip()


def matches(expected: str, actual: str) -> bool:
    """Line by line; an expected line ``  ...`` stands for any lines (as a traceback's)."""
    exp, act = normalise(expected).rstrip("\n"), normalise(actual).rstrip("\n")
    exp, act = exp.splitlines(), act.splitlines()  # a blank line before the next `$` is layout
    if not any(ln.strip() == "..." for ln in exp):
        return exp == act
    pattern = "\n".join(".*" if ln.strip() == "..." else re.escape(ln) for ln in exp)
    return re.fullmatch(pattern, "\n".join(act), re.S) is not None


def console_steps(text: str) -> list[tuple[str, str]]:
    """(command, expected output) for each ``$ `` line of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for ln in text.splitlines():
        if ln.startswith("$ "):
            steps.append((ln[2:], []))
        else:
            assert steps, f"output before any command: {ln!r}"
            steps[-1][1].append(ln)
    return [(cmd, "\n".join(out)) for cmd, out in steps]


# --------------------------------------------------------------------------- the reader's side


class _Scheduler:
    def get_last_lr(self) -> list[float]:
        return [0.001]


class _Model:
    def state_dict(self) -> dict[str, list[float]]:
        return {"w": [0.5, -0.25]}


class _Torch:
    """``torch.save`` as the reader's code calls it; the registry only sees the bytes written."""

    @staticmethod
    def save(obj: object, f: Any) -> None:
        f.write(pickle.dumps(obj))


def reader_objects() -> dict[str, Any]:
    """The reader's own objects that the README's fragments use without showing."""
    return {
        "hparams": {"lr": 0.001, "batch_size": 32},
        "loader": range(1_200),
        "train_step": lambda batch: 2.0 / (1 + batch),
        "sched": _Scheduler(),
        "vl": 0.75,
        "va": 0.5,
        "model": _Model(),
        "model_bytes": b"the model's bytes",
        "torch": _Torch(),
        "png_bytes": (ROOT / "samples" / "gallery" / "spirals_numpy.png").read_bytes(),
    }


def _two_versions_of_the_key(session: Session) -> None:
    """The registry example's comment: a third run of the key gets v3."""
    reg = curvelog.Registry(session.work / "saved_models")
    for _ in range(2):
        reg.new_version("product/P001_all/mlstm")


def _nanogpt_bundle(session: Session) -> None:
    """The plotting example compares with the nanoGPT run imported above."""
    runs = session.work / "runs"
    curvelog.write_bundle(
        curvelog.build_bundle(curvelog.read(runs / "nanogpt.log")), runs / "nanogpt.curves.json"
    )


def _a_run_log(session: Session) -> None:
    """The registry's command line files "a run": the spirals run recorded at the top."""
    shutil.copyfile(session.base / "d1" / "runs" / "spirals.log", session.work / "run.log")


#: a fragment of a block -> what the prose around it implies exists before it runs
SETUP: dict[str, Callable[[Session], None]] = {
    'reg = Registry("saved_models")': _two_versions_of_the_key,
    'load_bundle("runs/nanogpt.curves.json")': _nanogpt_bundle,
    "$ curvelog compact run.log --registry": _a_run_log,
}


#: README commands that were not run, and why: conftest.py prints them in the summary
NOT_RUN: list[str] = []


@dataclass
class Session:
    """The README followed from the top, in temporary directories; each block runs once."""

    base: Path
    work: Path = field(init=False)
    namespace: dict[str, Any] = field(default_factory=dict)
    done: dict[int, str | None] = field(default_factory=dict)  # index -> failure, or None
    dirs: int = 0

    def __post_init__(self) -> None:
        self.new_dir()

    def new_dir(self) -> None:
        self.dirs += 1
        self.work = self.base / f"d{self.dirs}"
        self.work.mkdir()
        (self.work / "samples").symlink_to(ROOT / "samples")
        (self.work / "runs" / "exp1").mkdir(parents=True)  # the folders the examples write into

    def run(self, i: int) -> str | None:
        """Run blocks up to ``i`` (each once); ``i``'s failure, or None."""
        for j in range(i + 1):
            if j not in self.done:
                self.done[j] = self._run(RUN[j])
        return self.done[i]

    def _inputs(self, block: Block) -> None:
        for name, src in BUNDLED_CSVS.items():
            for fname in (f"{name}.csv", f"{name}.csv.gz"):
                dst = self.work / fname
                if re.search(rf"(?<![\w/]){re.escape(fname)}(?![\w.])", block.text) and not (
                    dst.exists()
                ):
                    data = gzip.decompress(src.read_bytes())
                    dst.write_bytes(gzip.compress(data, mtime=0) if fname.endswith(".gz") else data)

    def _run(self, block: Block) -> str | None:
        if block.directive == "fresh":
            self.new_dir()
        self._inputs(block)
        for fragment, setup in SETUP.items():
            if fragment in block.text:
                setup(self)
        if block.lang == "python":
            return self._python(block)
        return self._console(block)

    def _python(self, block: Block) -> str | None:
        self.namespace = {**reader_objects(), **self.namespace}
        cwd = os.getcwd()
        os.chdir(self.work)
        try:
            exec(compile(block.text, f"README.md:{block.line}", "exec"), self.namespace)
        except Exception as e:  # the failure is the test's message
            return f"{block.id}: {type(e).__name__}: {e}"
        finally:
            os.chdir(cwd)
        return None

    def _console(self, block: Block) -> str | None:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        env.pop("CURVELOG_REGISTRY", None)
        env["COLUMNS"] = "200"
        rc = 0
        for cmd, expected in console_steps(block.text):
            if re.search(r"(^|\| )jq ", cmd) and shutil.which("jq") is None:
                NOT_RUN.append(f"README.md:{block.line}: $ {cmd} (jq is not installed)")
                continue
            # the README calls the venv's programs as a fresh clone has them
            run = re.sub(r"(^|&& )\.venv/bin/", r"\1", cmd)
            proc = subprocess.run(
                ["bash", "-c", f"(exit {rc}); {run}"],
                cwd=self.work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=300,
            )
            rc = proc.returncode
            if not matches(expected, proc.stdout):
                return (
                    f"{block.id}: $ {cmd}\n--- README shows\n{expected}\n--- it printed\n"
                    f"{proc.stdout}--- normalised, README\n{normalise(expected)}\n"
                    f"--- normalised, printed\n{normalise(proc.stdout)}"
                )
        return None


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("i", range(len(RUN)), ids=[b.id for b in RUN])
def test_readme_example(i: int, session: Session) -> None:
    failure = session.run(i)
    assert failure is None, failure


def test_normalising_keeps_what_must_not_vary() -> None:
    """The checker itself: values, counts and messages still have to match."""
    assert matches("runs/a.log: 4000 steps, 12.5 kB", "runs/a.log: 4000 steps, 13.1 kB")
    assert matches("  run.log      74,208 bytes", "  run.log     174,208 bytes")
    assert not matches("runs/a.log: 4000 steps", "runs/a.log: 4001 steps")
    assert not matches("best val/loss = 0.304436", "best val/loss = 0.304437")
    assert matches("a\n  ...\nz", "a\nb\nc\nz") and not matches("a\n  ...\nz", "a\nb\ny")
    assert matches("x.svg      # the same bytes every time", "x.svg")
    assert shutil.which("bash"), "the console examples run through bash"
