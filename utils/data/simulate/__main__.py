"""``python -m utils.data.simulate [--benchmark] [--events N] [--marginals]``."""

import argparse

import utils.data.simulate as simulate

parser = argparse.ArgumentParser(prog="python -m utils.data.simulate",
                                 description=simulate.__doc__.splitlines()[0])
parser.add_argument("--benchmark", action="store_true", help="time the simulator")
parser.add_argument("--events", type=int, default=1_000_000, help="benchmark size")
parser.add_argument("--marginals", action="store_true",
                    help="print simulated vs published marginals for a default shop")
args = parser.parse_args()
if args.benchmark:
    for key, value in simulate.bench_simulator(args.events).items():
        print(f"{key:>18}: {value}")
if args.marginals or not args.benchmark:
    print(simulate.compare_marginals(simulate.simulate_shop().events).round(3).to_string())
