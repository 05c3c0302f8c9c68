"""A flood against `stopit serve --no-worker` with a separate `stopit worker` on the same host.

The listener never wakes a separate worker; it judges a flood from how fast messages are stored
(`processing/flood_probe.py`) and then keeps to a tenth of one core, as serve's own worker does.
This runs the same flood (bench/flood.py's clients and self-harm report) against three fresh
installations in alternating rounds: no worker at all (the reference), a separate worker paced
(`server.pace_separate_worker = true`, the default) and one not paced (false), and prints each
accept rate against the reference, the workers' CPU during the flood and, for the paced one, the
self-harm report's page delay after its 250.

    python bench/flood_separate.py [--messages 4800] [--rounds 3] [--clients 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flood  # noqa: E402 - bench/flood.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4800)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    per_round = args.messages // args.rounds
    with tempfile.TemporaryDirectory(prefix="stopit-flood-separate-") as tmp:
        setups = {name: flood.new_installation(Path(tmp) / name, None) for name in ("none", "paced", "unpaced")}
        config = setups["unpaced"]["config"]
        config.write_text(config.read_text().replace("pace_separate_worker = true", "pace_separate_worker = false"))
        for number in range(args.rounds):
            flood.flood_round(setups["none"], args, "--no-worker", per_round, False)
            flood.flood_round(setups["paced"], args, "--no-worker", per_round, number == args.rounds // 2,
                              extra_workers=1)
            flood.flood_round(setups["unpaced"], args, "--no-worker", per_round, False, extra_workers=1)
        totals = {name: flood.totals(setup) for name, setup in setups.items()}
    print(f"== SQLite: {per_round * args.rounds} ordinary reports from {args.clients} clients in {args.rounds} "
          f"alternating rounds; `serve --no-worker` plus one separate `stopit worker`")
    for name, label in (("none", "no worker"), ("paced", "worker paced"), ("unpaced", "worker not paced")):
        found = totals[name]
        print(f"{label:17s} accept {found['rate']:7.1f} msg/s ({found['rate'] / totals['none']['rate']:4.0%}), "
              f"p99 {found['p99_ms']:6.1f} ms, processed during the flood {found['processed_rate']:.1f} msg/s, "
              f"load {found['load']}\n    {found['cpu']}")
    delay = setups["paced"].get("delay")
    print(f"paced worker: self-harm page {'NOT PAGED' if delay is None else f'{delay:.2f} s'} after its 250 "
          f"(backlog {setups['paced'].get('backlog')})")


if __name__ == "__main__":
    main()
