"""Start-up cost of the SDK, its CLI and its pytest plugin, side by side with aiohttp.

aiohttp is the floor: the SDK's clients need it. Each case runs in a fresh interpreter,
five times, interleaved (so a busy machine slows every case alike); the table shows the
median wall time of the process, the median time its imports took by ``python -X
importtime`` (the sum of the top-level imports' cumulative times), and the ratios the
targets are set in:

* ``import certmail_async`` within 1.25x of ``import aiohttp`` (the names load lazily:
  ``from certmail_async import PecMassivaClient`` is shown too, as the usual first line);
* ``certmail --help`` within 1.5x of ``import aiohttp``;
* the pytest plugin under 50 ms when its fixtures are not used: the imports a pytest run
  pays once it has loaded pytest and pytest-asyncio (as it has whenever the fixtures
  could run), and, for reference, the plugin imported from nothing.

Run: ``python benchmarks/import_time.py [--runs 5]`` (the fresh interpreters import the
package from the current directory first, so run it from a checkout to compare versions).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", re.ASCII)

PLUGIN = "certmail_async.testing.pytest_plugin"
#: ``certmail --help`` as the console script runs it (the same import, minus the tiny script).
CLI = [sys.executable, "-c", "from certmail_async.cli import main; main()"]

#: name -> (command, module imports counted as "before" and excluded from the import time)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], ()),
    "import aiohttp": ([sys.executable, "-c", "import aiohttp"], ()),
    "import certmail_async": ([sys.executable, "-c", "import certmail_async"], ()),
    "from certmail_async import PecMassivaClient": (
        [sys.executable, "-c", "from certmail_async import PecMassivaClient"],
        (),
    ),
    "certmail --help": ([*CLI, "--help"], ()),
    "import pytest, pytest_asyncio": ([sys.executable, "-c", "import pytest, pytest_asyncio"], ()),
    "... + the pytest plugin": (
        [sys.executable, "-c", f"import pytest, pytest_asyncio; import {PLUGIN}"],
        ("pytest", "pytest_asyncio"),
    ),
    "the pytest plugin alone": ([sys.executable, "-c", f"import {PLUGIN}"], ()),
}


def _run(command: list[str], before: tuple[str, ...]) -> tuple[float, float, float]:
    """One fresh run: wall seconds, seconds of all imports, of the imports after ``before``."""
    started = time.perf_counter()
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    wall = time.perf_counter() - started
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
    return wall, total / 1e6, after / 1e6


def main() -> None:
    """Measure every case and print the table and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CASES}
    for command, before in CASES.values():  # warm the bytecode caches
        _run(command, before)
    for _ in range(runs):
        for name, (command, before) in CASES.items():
            samples[name].append(_run(command, before))
    wall = {n: statistics.median(s[0] for s in v) for n, v in samples.items()}
    imports = {n: statistics.median(s[1] for s in v) for n, v in samples.items()}
    after = {n: statistics.median(s[2] for s in v) for n, v in samples.items()}
    base_wall, base_imp = wall["import aiohttp"], imports["import aiohttp"]
    print(f"median of {runs} fresh interpreter runs each (Python {sys.version.split()[0]})")
    print(f"{'case':45} {'wall s':>8} {'imports s':>10} {'x aiohttp':>10} {'(imports)':>10}")
    for name in CASES:
        print(
            f"{name:45} {wall[name]:8.3f} {imports[name]:10.3f} "
            f"{wall[name] / base_wall:10.2f} {imports[name] / base_imp:10.2f}"
        )
    plugin_in_pytest = after["... + the pytest plugin"]
    plugin_wall = wall["... + the pytest plugin"] - wall["import pytest, pytest_asyncio"]
    plugin_alone = wall["the pytest plugin alone"] - wall["python -c pass"]
    print()
    print(
        "targets: import certmail_async / import aiohttp = "
        f"{wall['import certmail_async'] / base_wall:.2f}x wall, "
        f"{imports['import certmail_async'] / base_imp:.2f}x imports (<= 1.25x)"
    )
    print(
        "         certmail --help / import aiohttp = "
        f"{wall['certmail --help'] / base_wall:.2f}x wall (<= 1.5x)"
    )
    print(
        f"         pytest plugin in a pytest run: {plugin_in_pytest * 1000:.1f} ms of imports, "
        f"{plugin_wall * 1000:.0f} ms wall (< 50 ms); alone, from nothing: "
        f"{plugin_alone * 1000:.0f} ms wall"
    )


if __name__ == "__main__":
    main()
