"""Start-up cost of the SDK, its CLI and its pytest plugin, side by side with aiohttp.

aiohttp is the floor: the SDK's clients need it. Each case runs in a fresh interpreter,
five times, interleaved (so a busy machine slows every case alike); the table shows the
median wall time of the process, the median time its imports took by ``python -X
importtime`` (the sum of the top-level imports' cumulative times), and the ratios the
targets are set in:

* ``import certmail_async`` within 1.25x of ``import aiohttp``, and so is each usual first
  line: ``from certmail_async import PecMassivaClient`` (``LegallyMailClient``,
  ``OpenapiPecClient``, ``BulkDispatcher``) and the sync facade's
  ``from certmail_async.sync import PecMassivaClient`` (the names load lazily, each with
  the modules its first request needs);
* ``certmail --help`` within 1.5x of ``import aiohttp``;
* the pytest plugin under 50 ms when its fixtures are not used: the imports a pytest run
  pays once it has loaded pytest and pytest-asyncio (as it has whenever the fixtures
  could run), and, for reference, the plugin imported from nothing.

Bytecode: an installed package has its ``.pyc`` files (pip compiles them) and so has aiohttp;
a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` has none, and every fresh interpreter
would compile the SDK's source again (tens of ms that no user pays). So the children run
with bytecode caching on, in a cache directory of their own (``PYTHONPYCACHEPREFIX``, under
the temporary directory: the checkout gets no ``__pycache__``), warmed by one run of each
case first; ``--no-bytecode-cache`` measures with the environment as it is instead.

The ``cpu s`` column (user + system time of the child) moves less than wall time when other
processes load the machine; the targets are judged on both. The ``imports s`` column is a
rough guide only: ``-X importtime`` does not log a module loaded by
``importlib.import_module`` (as the lazy names are), so such a module's own body time is
missing from it (its own imports are still counted).

Run: ``python benchmarks/import_time.py [--runs 5] [--no-bytecode-cache]`` (the fresh
interpreters import the package from the current directory first, so run it from a checkout
to compare versions).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", re.ASCII)

PLUGIN = "certmail_async.testing.pytest_plugin"
#: ``certmail --help`` as the console script runs it (the same import, minus the tiny script).
CLI = [sys.executable, "-c", "from certmail_async.cli import main; main()"]

#: The first lines held to 1.25x of ``import aiohttp``.
FIRST_LINES = (
    "import certmail_async",
    "from certmail_async import PecMassivaClient",
    "from certmail_async import LegallyMailClient",
    "from certmail_async import OpenapiPecClient",
    "from certmail_async import BulkDispatcher",
    "from certmail_async.sync import PecMassivaClient",
)

#: name -> (command, module imports counted as "before" and excluded from the import time)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], ()),
    "import aiohttp": ([sys.executable, "-c", "import aiohttp"], ()),
    **{line: ([sys.executable, "-c", line], ()) for line in FIRST_LINES},
    "certmail --help": ([*CLI, "--help"], ()),
    "import pytest, pytest_asyncio": ([sys.executable, "-c", "import pytest, pytest_asyncio"], ()),
    "... + the pytest plugin": (
        [sys.executable, "-c", f"import pytest, pytest_asyncio; import {PLUGIN}"],
        ("pytest", "pytest_asyncio"),
    ),
    "the pytest plugin alone": ([sys.executable, "-c", f"import {PLUGIN}"], ()),
}


def _run(
    command: list[str], before: tuple[str, ...], env: dict[str, str]
) -> tuple[float, float, float, float]:
    """One fresh run: wall and CPU seconds, seconds of all imports, of those after ``before``."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    wall = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = used.ru_utime - usage.ru_utime + used.ru_stime - usage.ru_stime
    total = after = 0
    seen_before: set[str] = set()
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None or match.group(3) != " ":  # only top-level imports (indent 1)
            continue
        cumulative, module = int(match.group(2)), match.group(4)
        total += cumulative
        if seen_before >= set(before):
            after += cumulative
        if module in before:
            seen_before.add(module)
    return wall, cpu, total / 1e6, after / 1e6


def _environment(bytecode_cache: bool) -> dict[str, str]:
    """The children's environment: bytecode caching on, in a directory of its own."""
    env = dict(os.environ)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        prefix = os.path.join(tempfile.gettempdir(), "certmail-import-time-pycache")
        env["PYTHONPYCACHEPREFIX"] = prefix
    return env


def main() -> None:
    """Measure every case and print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run the children with the environment as it is (PYTHONDONTWRITEBYTECODE kept)",
    )
    args = parser.parse_args()
    runs = args.runs
    env = _environment(not args.no_bytecode_cache)
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in CASES}
    for command, before in CASES.values():  # warm the bytecode caches
        _run(command, before, env)
    for _ in range(runs):
        for name, (command, before) in CASES.items():
            samples[name].append(_run(command, before, env))
    wall, cpu, imports, after = (
        {n: statistics.median(s[k] for s in v) for n, v in samples.items()} for k in range(4)
    )
    base_wall, base_cpu, base_imp = (m["import aiohttp"] for m in (wall, cpu, imports))
    cache = "off (environment as is)" if args.no_bytecode_cache else "on"
    print(
        f"median of {runs} fresh interpreter runs each (Python {sys.version.split()[0]}, "
        f"bytecode cache {cache})"
    )
    print(
        f"{'case':48} {'wall s':>7} {'cpu s':>7} {'imports s':>9} "
        f"{'x aiohttp':>9} {'(cpu)':>6} {'(imports)':>9}"
    )
    for name in CASES:
        print(
            f"{name:48} {wall[name]:7.3f} {cpu[name]:7.3f} {imports[name]:9.3f} "
            f"{wall[name] / base_wall:9.2f} {cpu[name] / base_cpu:6.2f} "
            f"{imports[name] / base_imp:9.2f}"
        )
    plugin_in_pytest = after["... + the pytest plugin"]
    plugin_wall = wall["... + the pytest plugin"] - wall["import pytest, pytest_asyncio"]
    plugin_cpu = cpu["... + the pytest plugin"] - cpu["import pytest, pytest_asyncio"]
    plugin_alone = wall["the pytest plugin alone"] - wall["python -c pass"]
    print()
    print("targets, x import aiohttp (wall, cpu, imports):")
    for name, limit in [*((line, 1.25) for line in FIRST_LINES), ("certmail --help", 1.5)]:
        ratios = (wall[name] / base_wall, cpu[name] / base_cpu, imports[name] / base_imp)
        verdict = "ok" if max(ratios[:2]) <= limit else "OVER"  # wall and cpu
        print(
            f"  {name:48} {ratios[0]:5.2f}x {ratios[1]:5.2f}x {ratios[2]:5.2f}x "
            f"(<= {limit}x) {verdict}"
        )
    print(
        f"  pytest plugin in a pytest run: {plugin_in_pytest * 1000:.1f} ms of imports, "
        f"{plugin_wall * 1000:.0f} ms wall, {plugin_cpu * 1000:.0f} ms cpu (< 50 ms); "
        "alone, from nothing: "
        f"{plugin_alone * 1000:.0f} ms wall"
    )


if __name__ == "__main__":
    main()
