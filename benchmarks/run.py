"""Time flake8 with and without flake8-fastapi-bg, and the standalone command, in one run.

    python benchmarks/run.py PATH ...                        # your trees
    python benchmarks/run.py --synthetic 717                 # a generated app (synth.py)
    python benchmarks/run.py --apps benchmarks/apps.txt --apps-dir ~/fbg-apps [--fetch]
    options: --repeat N (3) --jobs N (CPUs) --warm --markdown --plugin-timer

On every tree, round after round (so that a busy spell of the machine hits every command),
each of these runs with the tree as its working directory:

  flake8       flake8 --isolated -j N .  with this plugin hidden: flake8's own checks only
  + plugin     flake8 --isolated -j N .  the same command line, with the plugin
  standalone   python -m flake8_fastapi_bg --isolated .

The two flake8 runs see the same files with the same configuration (`--isolated`, explicit
`-j`); they differ only in whether flake8 discovers the plugin (a launcher filters its entry
points out; `--version` checks that this worked). CPU time is user + system time of the
command's whole process tree (os.wait4 on the command: flake8's workers are included).

Every run starts from an empty cache: FLAKE8_FASTAPI_BG_CACHE_DIR points to a fresh directory.
With --warm each command runs a second time right away with the same directory, as a user's
second run would. The added CPU is (plugin - flake8) / flake8 of the median CPU times.

On a busy machine whole runs move by more than the plugin costs: --plugin-timer also times the
plugin inside the `+ plugin` run (`time.process_time` around `Plugin.parse_options` in flake8's
main process and `Plugin.run` in each worker, summed over the processes), a figure the other
processes' load moves far less.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402  (the sibling module)

from flake8_fastapi_bg.prefilter import may_schedule_tasks  # noqa: E402

CACHE_ENV = "FLAKE8_FASTAPI_BG_CACHE_DIR"
FINDING = re.compile(r"^.+:\d+:\d+: ([A-Z]+\d+) ", re.M)
EXCLUDED = {".git", ".hg", ".svn", ".tox", ".nox", ".eggs", "__pycache__"}  # flake8's defaults
# `python -c LAUNCHER hide|keep ARGS`: flake8's main, with or without this plugin. The `fork`
# start method lets flake8's pool workers inherit the filtered plugin list.
LAUNCHER = r"""
import multiprocessing, sys
if "fork" in multiprocessing.get_all_start_methods():
    multiprocessing.set_start_method("fork", force=True)
if sys.argv[1] == "hide":
    from flake8.plugins import finder
    found = finder._find_importlib_plugins
    finder._find_importlib_plugins = lambda: (
        p for p in found() if p.package.lower().replace("_", "-") != "flake8-fastapi-bg")
import os
if os.environ.get(TIMER_ENV):  # --plugin-timer: this process's CPU in the plugin, at its exit
    import atexit, time
    import multiprocessing.util
    from flake8 import checker
    from flake8_fastapi_bg.plugin import Plugin
    spent = [0.0, 0.0]  # parse_options (main process), run (workers, or the one process)

    def timed(slot, call, generator=False):
        def wrapper(*args, **kwargs):
            started = time.process_time()
            try:
                return list(call(*args, **kwargs)) if generator else call(*args, **kwargs)
            finally:
                spent[slot] += time.process_time() - started
        return wrapper

    def save():
        with open(os.environ[TIMER_ENV], "a") as out:
            out.write(f"{os.getpid()} {spent[0]:.4f} {spent[1]:.4f}\n")
        spent[:] = [0.0, 0.0]

    Plugin.parse_options = classmethod(timed(0, Plugin.parse_options.__func__))
    Plugin.run = timed(1, Plugin.run, generator=True)
    atexit.register(save)
    init = checker._mp_init

    def worker_init(argv):  # a pool worker ends with os._exit: its finalizers run, not atexit's
        spent[:] = [0.0, 0.0]
        multiprocessing.util.Finalize(None, save, exitpriority=0)
        init(argv)
    checker._mp_init = worker_init
from flake8.main.cli import main
sys.exit(main(sys.argv[2:]))
""".replace("TIMER_ENV", repr("FBG_BENCH_PLUGIN_TIMER"))
TIMER_ENV = "FBG_BENCH_PLUGIN_TIMER"


@dataclass
class Measure:
    label: str
    argv: List[str]
    cpu: Dict[str, List[float]] = field(default_factory=lambda: {"cold": [], "warm": []})
    # --plugin-timer: the plugin's own CPU (main process, workers) per run
    own: Dict[str, List[Tuple[float, float]]] = field(default_factory=lambda: {"cold": [], "warm": []})
    wall: Dict[str, List[float]] = field(default_factory=lambda: {"cold": [], "warm": []})
    codes: Dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None

    def median(self, what: str, run: str) -> Optional[float]:
        values = getattr(self, what)[run]
        return statistics.median(values) if values and self.error is None else None


@dataclass
class Tree:
    name: str
    path: Path
    note: str = ""
    measures: Dict[str, Measure] = field(default_factory=dict)


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="trees to measure")
    parser.add_argument("--synthetic", default="", metavar="N,...",
                        help="also generate and measure synthetic apps of N modules")
    parser.add_argument("--apps", type=Path, help="a list of real apps: 'owner/name commit [subdir]'")
    parser.add_argument("--apps-dir", type=Path, help="where the apps are checked out, as owner+name")
    parser.add_argument("--fetch", action="store_true", help="clone missing apps at their commit")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--jobs", "-j", type=int, default=cpus(),
                        help="flake8 -j (default: the CPUs this process may use)")
    parser.add_argument("--warm", action="store_true",
                        help="run each command a second time with the same cache directory")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--plugin-timer", action="store_true",
                        help="also time the plugin inside the flake8 run (main process + workers)")
    args = parser.parse_args(argv)
    if bool(args.apps) != bool(args.apps_dir):
        parser.error("--apps and --apps-dir go together")
    if not (args.paths or args.synthetic or args.apps):
        parser.error("nothing to measure: give PATHs, --synthetic or --apps")
    for path in args.paths:
        if not path.is_dir():
            parser.error(f"not a directory: {path}")
    return args


def app_trees(apps: Path, base: Path, fetch: bool) -> List[Tree]:
    """The apps of the list, checked out under `base`; a checkout at another commit is an error."""
    trees = []
    for line in apps.read_text(encoding="utf-8").splitlines():
        if not line.split("#")[0].strip():
            continue
        repo, commit, *sub = line.split("#")[0].split()
        checkout = base / repo.replace("/", "+")
        if fetch and not checkout.exists():
            subprocess.run(["git", "clone", "-q", f"https://github.com/{repo}", str(checkout)], check=True)
            subprocess.run(["git", "-C", str(checkout), "checkout", "-q", commit], check=True)
        if not checkout.is_dir():
            sys.exit(f"{checkout} is missing: fetch {repo} at {commit} (see benchmarks/README.md)")
        note = f"{repo}@{commit[:10]}"
        if (checkout / ".git").exists():
            head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True,
                                  text=True).stdout.strip()
            if head != commit:
                sys.exit(f"{checkout} is at {head or 'an unknown commit'}, not {commit}")
        else:
            note += " (not a git checkout: commit not verified)"
        trees.append(Tree(repo + (f"/{sub[0]}" if sub else ""), checkout.joinpath(*sub), note))
    return trees


def describe(tree: Tree) -> str:
    files = lines = passing = 0
    for folder, dirs, names in os.walk(tree.path):
        dirs[:] = [d for d in dirs if d not in EXCLUDED and not d.endswith(".egg")]
        for name in names:
            if name.endswith(".py"):
                text = Path(folder, name).read_text(encoding="utf-8", errors="replace")
                files, lines = files + 1, lines + text.count("\n")
                passing += may_schedule_tasks(text)
    return f"{files:,} files, {lines:,} lines, {passing} pass the plugin's text test"


def run(argv: List[str], cwd: Path, cache: Path,
        timer: Optional[Path] = None) -> Tuple[float, float, int, str, str]:
    """(wall s, CPU s of the process tree, exit code, stdout, stderr) of one command; `timer`:
    the file where the launcher writes the plugin's own CPU (--plugin-timer)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", TIMER_ENV)}
    env[CACHE_ENV] = str(cache)
    if timer is not None:
        env[TIMER_ENV] = str(timer)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (wall, usage.ru_utime + usage.ru_stime, proc.returncode,
                out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def measure(tree: Tree, args: argparse.Namespace, scratch: Path) -> None:
    flake8 = [sys.executable, "-c", LAUNCHER]
    common = ["--isolated", f"-j{args.jobs}", "."]
    tree.measures = {
        "flake8": Measure("flake8 (own checks)", flake8 + ["hide", *common]),
        "plugin": Measure("flake8 + plugin", flake8 + ["keep", *common]),
        "standalone": Measure("flake8-fastapi-bg",
                              [sys.executable, "-m", "flake8_fastapi_bg", "--isolated", "."]),
    }
    runs = ["cold", "warm"] if args.warm else ["cold"]
    for round_ in range(args.warmup + args.repeat):
        timed = round_ >= args.warmup
        for key, m in tree.measures.items():
            cache = Path(tempfile.mkdtemp(dir=scratch))  # empty: the cold run fills it
            for kind in runs:
                if m.error:
                    break
                timer = cache / "plugin-timer.txt" if args.plugin_timer and key == "plugin" else None
                wall, cpu, rc, out, err = run(m.argv, tree.path, cache, timer)
                if rc not in (0, 1) or "Traceback" in err:
                    m.error = f"exit {rc}: {(err or out).strip()[-500:]}"
                    print(f"  !! {m.label}: {m.error}", flush=True)
                elif timed:
                    m.cpu[kind].append(cpu)
                    if timer is not None:
                        m.own[kind].append(read_timer(timer))
                    m.wall[kind].append(wall)
                    m.codes = {}
                    for code in FINDING.findall(out):
                        m.codes[code] = m.codes.get(code, 0) + 1
        print(f"  {tree.name}: round {round_ + 1}/{args.warmup + args.repeat}"
              f"{'' if timed else ' (warm-up)'}", flush=True)


def read_timer(path: Path) -> Tuple[float, float]:
    """(CPU s in Plugin.parse_options, in Plugin.run), summed over the lines the processes wrote;
    the file is removed (a warm run writes its own)."""
    main = runs = 0.0
    if path.exists():
        for line in path.read_text().splitlines():
            _, first, second = line.split()
            main, runs = main + float(first), runs + float(second)
        path.unlink()
    return main, runs


def added(tree: Tree, run: str) -> Optional[float]:
    base, plugin = tree.measures["flake8"].median("cpu", run), tree.measures["plugin"].median("cpu", run)
    return None if base is None or plugin is None else (plugin - base) / base


def _f(value: Optional[float], pct: bool = False) -> str:
    return "-" if value is None else f"{value * 100:+.0f}%" if pct else f"{value:.2f}"


def report(tree: Tree, runs: List[str]) -> None:
    print(f"\n== {tree.name}: {tree.path}\n   {describe(tree)}" + (f"; {tree.note}" if tree.note else ""))
    print(f"   {'command':<22}{'run':<6}{'CPU s':>8}{'wall s':>8}  findings")
    for m in tree.measures.values():
        for kind in runs:
            fbg = sum(n for code, n in m.codes.items() if code.startswith("FBG"))
            found = "error" if m.error else f"{sum(m.codes.values())} ({fbg} FBG)"
            print(f"   {m.label:<22}{kind:<6}{_f(m.median('cpu', kind)):>8}{_f(m.median('wall', kind)):>8}"
                  f"  {found}")
    print("   added CPU: " + ", ".join(f"{kind} {_f(added(tree, kind), True)}" for kind in runs))
    own = tree.measures["plugin"].own
    if any(own.values()):
        print("   plugin's own CPU s (main process + workers): " + ", ".join(
            f"{kind} {statistics.median(a + b for a, b in own[kind]):.2f} "
            f"({statistics.median(a for a, _ in own[kind]):.2f} + "
            f"{statistics.median(b for _, b in own[kind]):.2f})" for kind in runs if own[kind]))


def markdown(trees: List[Tree], args: argparse.Namespace, runs: List[str]) -> str:
    versions = ", ".join(f"{d} {metadata.version(d)}" for d in ("flake8", "libcst", "flake8-fastapi-bg"))
    lines = [f"`python benchmarks/run.py {' '.join(sys.argv[1:])}`: {cpus()} CPUs, "
             f"Python {sys.version.split()[0]}, {versions}; median of {args.repeat} rounds, "
             f"flake8 -j{args.jobs}, load average {os.getloadavg()[0]:.1f} at the end.", "",
             "| tree | flake8 CPU s | + plugin CPU s | added CPU | standalone CPU s |",
             "|---|---:|---:|---:|---:|"]
    for t in trees:
        cells = [" / ".join(_f(t.measures[key].median("cpu", kind)) for kind in runs)
                 for key in ("flake8", "plugin")]
        cells.append(" / ".join(_f(added(t, kind), True) for kind in runs))
        cells.append(" / ".join(_f(t.measures["standalone"].median("cpu", kind)) for kind in runs))
        lines.append(f"| {t.name} | " + " | ".join(cells) + " |")
    if len(runs) == 2:
        lines.append("\nEach cell: cold / warm (second run with the same cache directory).")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for mode in ("keep", "hide"):
        shown = subprocess.run([sys.executable, "-c", LAUNCHER, mode, "--version"], capture_output=True,
                               text=True).stdout
        if ("flake8-fastapi-bg" in shown) != (mode == "keep"):
            sys.exit(f"flake8 --version ({mode} the plugin) says: {shown.strip()}; is the plugin installed?")
    runs = ["cold", "warm"] if args.warm else ["cold"]
    scratch = Path(tempfile.mkdtemp(prefix="fbg-bench-"))
    try:
        trees = [Tree(p.resolve().name, p.resolve()) for p in args.paths]
        if args.apps:
            trees += app_trees(args.apps, args.apps_dir.expanduser(), args.fetch)
        for size in filter(None, args.synthetic.split(",")):
            stats = synth.generate(scratch / f"synthetic-{size}", int(size))
            trees.append(Tree(f"synthetic-{size}", scratch / f"synthetic-{size}",
                              f"{stats.sites} task sites in {stats.site_modules} modules"))
        print(f"load average {os.getloadavg()[0]:.1f} on {cpus()} CPUs", flush=True)
        for tree in trees:
            measure(tree, args, scratch)
            report(tree, runs)
        if args.markdown:
            print("\n" + markdown(trees, args, runs))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
