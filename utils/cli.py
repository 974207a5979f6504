"""The `beauty` command (also `python -m utils`): what the Makefile and a user type.

    beauty report [--profile P] [--only 03-05] [--from 04]  check the data, run the notebooks,
                                                            build reports/index.html
    beauty check [--profile P]                              is every file the profile needs here?
    beauty fetch NAME | --all [--to DIR]                    download and verify public files
    beauty convert-rees46 SOURCE [--out DIR] [--json]       REES46 CSVs -> Parquet, with accounting
    beauty results [--reports DIR] [--out FILE]             a run's headline values -> docs/results.md
    beauty benchmark data|study|recsys|report               time the data tools, 04-06, the
                                                            recommenders (recsys --dataset FILE:
                                                            any S3-Rec file) or the whole report
    beauty student [--out DIR]                              student copies: solutions stubbed
    beauty encrypt PATH... [--keep-plain]                   encrypt data files in place (*.enc)
    beauty decrypt PATH...                                  decrypt them back

Every subcommand has --help. Exit status: 0 done, 1 the work failed (a notebook, a download, a
conversion that kept nothing), 2 the command could not start (bad profile, missing data, usage).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

from utils.core import config, crypto
from utils.core.files import atomic_path


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=config.resolve_profile_name(None),
                        help="smoke | workshop | full, or a path to a YAML profile "
                             "(default: $BEAUTY_PROFILE or workshop)")


def _notebooks(args) -> list[Path]:
    from utils.report import notebooks

    return notebooks.select(notebooks.discover(), getattr(args, "only", None),
                           getattr(args, "start", None))


def report(args) -> int:
    from jupyter_client.kernelspec import NoSuchKernel

    from utils.report import pipeline

    notebooks = _notebooks(args)
    checks = pipeline.check_data(args.profile, notebooks)
    if any(c.required and not c.ok for c in checks):
        print(pipeline.describe_checks(checks), file=sys.stderr)
        print(f"\nerror: profile {args.profile!r} needs the data marked MISSING above; nothing "
              f"was run. Get it as described, then `beauty check --profile {args.profile}`.",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        pipeline.run_pipeline(args.profile, notebooks, args.kernel)
    except pipeline.NotebookFailed as err:
        print(f"\nPIPELINE FAILED: {err}", file=sys.stderr)
        return 1
    except NoSuchKernel:
        print(f"error: no Jupyter kernel named {args.kernel!r}. Register it with `make kernel` "
              f"(python -m ipykernel install --sys-prefix --name {config.KERNEL_NAME}).",
              file=sys.stderr)
        return 2
    index = config.reports_dir() / "index.html"
    print(f"\n{len(notebooks)} notebook(s) in {time.perf_counter() - started:.0f} s. "
          f"Report: {index}")
    return 0


def check(args) -> int:
    from utils.report import pipeline

    checks = pipeline.check_data(args.profile, _notebooks(args))
    print(pipeline.describe_checks(checks))
    missing = [c for c in checks if c.required and not c.ok]
    print(f"\nprofile {args.profile}: " + (f"{len(missing)} required file(s) missing" if missing
                                            else "everything it needs is here"))
    return 2 if missing else 0


def fetch(args) -> int:
    from utils.data import sources

    if args.all == bool(args.names):
        print("error: name one or more datasets, or pass --all", file=sys.stderr)
        return 2
    unknown = [n for n in args.names if n not in sources.REGISTRY]
    if unknown:
        print(f"error: unknown dataset(s) {unknown}; known: {', '.join(sources.REGISTRY)}",
              file=sys.stderr)
        return 2
    names = args.names or [n for n, s in sources.REGISTRY.items() if not s.shipped]
    failed = 0
    for name in names:
        try:
            path = sources.fetch(name)
            if args.to:  # fill a mirror folder: the same relative paths as the cache
                target = Path(args.to) / sources.REGISTRY[name].relpath
                with atomic_path(target) as tmp:
                    if crypto.is_encrypted(path):  # a mirror serves plain files (fetch checks them)
                        tmp.write_bytes(crypto.read_bytes(path))
                    else:
                        shutil.copyfile(path, tmp)
                path = target
            print(f"{name:<26} ok: {path}")
        except sources.DownloadError as exc:
            failed += 1
            print(f"{name:<26} FAILED: {exc}")
    return 1 if failed else 0


def convert_rees46(args) -> int:
    from utils.data import rees46
    from utils.data.schema import ValidationError

    try:
        with warnings.catch_warnings(record=True) as caught:  # shown as plain lines, not code
            warnings.simplefilter("always")
            result = rees46.convert_rees46(args.source, args.out)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        status = 0
    except rees46.NothingConverted as exc:
        result, status = exc.report, 1
        print(f"error: {exc}", file=sys.stderr)
    except (ValidationError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return status


def results(args) -> int:
    from utils.report import results as results_page

    command = "beauty results"
    if args.reports:
        command += f" --reports {args.reports}"
    if args.out:
        command += f" --out {args.out}"
    print(f"written: {results_page.write_results(args.reports, args.out, command)}")
    return 0


def student(args) -> int:
    from utils.report.student import write_student_copies

    written = write_student_copies(args.out)
    print(f"{len(written)} student copies in {written[0].parent if written else args.out}")
    return 0


def _files_in(paths: list[str]) -> list[Path]:
    """The files named and every file in the folders named, at any depth; hidden files and
    folders in them (.gitkeep, a file being written) are left alone."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}; nothing was changed")
    found = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
        else:
            found += sorted(f for f in path.rglob("*") if f.is_file()
                            and not any(part.startswith(".") for part in f.relative_to(path).parts))
    return found


def encrypt(args) -> int:
    key = crypto.secret_key("encryption")
    key_folder = crypto.key_dir().expanduser().resolve()
    done, skipped, failed = 0, 0, 0
    for path in _files_in(args.paths):
        if path.resolve().is_relative_to(key_folder):
            skipped += 1
            print(f"skipped {path}: a key file (a key encrypted with itself could never be read)")
            continue
        with open(path, "rb") as handle:
            encrypted_content = handle.read(len(crypto.MAGIC)) == crypto.MAGIC
        if crypto.is_encrypted(path) or encrypted_content:  # never encrypted twice
            skipped += 1
            rename = "" if crypto.is_encrypted(path) else f" (rename it to {path.name}.enc)"
            print(f"skipped {path}: already encrypted{rename}")
            continue
        try:
            written = crypto.encrypt_file(path, key, remove_plain=not args.keep_plain)
        except OSError as exc:
            failed += 1
            print(f"FAILED {path}: {exc}")
            continue
        done += 1
        print(f"encrypted {path} -> {written.name}" + (" (plain file kept)" if args.keep_plain else ""))
    print(f"{done} file(s) encrypted, {skipped} skipped, {failed} failed, with the key from "
          f"{crypto.key_origin('encryption')}: back it up, without it the files cannot be read")
    return 1 if failed else 0


def decrypt(args) -> int:
    named = {Path(p) for p in args.paths}
    files = _files_in(args.paths)
    not_encrypted = [f for f in files if not crypto.is_encrypted(f) and f in named]  # named by hand
    encrypted = [f for f in files if crypto.is_encrypted(f)]
    # the key they were encrypted with, never a new one (a missing key stops here, exit 2)
    key = crypto.secret_key("encryption", create=False) if encrypted else None
    for path in not_encrypted:
        print(f"skipped {path}: not encrypted (not named *{crypto.ENCRYPTED_SUFFIX})")
    done, skipped, failed = 0, len(not_encrypted), 0
    for path in encrypted:
        plain = path.with_name(path.name.removesuffix(crypto.ENCRYPTED_SUFFIX))
        if plain.exists():
            skipped += 1
            print(f"skipped {path}: {plain.name} is beside it, and loaders read that one; remove "
                  "the one you do not want")
            continue
        try:
            crypto.decrypt_file(path, key)
        except crypto.DecryptionError as exc:  # its message names the file and the fix
            failed += 1
            print(f"FAILED {exc}")
            continue
        done += 1
        print(f"decrypted {path} -> {plain.name}")
    print(f"{done} file(s) decrypted, {skipped} skipped, {failed} failed")
    return 1 if failed else 0


def benchmark(args) -> int:
    from utils.report import benchmarks

    if args.benchmark == "data":
        return benchmarks.run("data", events=args.events, rows=args.rows)
    if args.benchmark == "recsys":
        return benchmarks.run("recsys", seeds=args.seeds, resume=args.resume, dataset=args.dataset,
                              models=args.models, epochs=args.epochs, patience=args.patience,
                              search=args.search, batching=args.batching, out=args.out,
                              published=args.published)
    if args.benchmark == "report":
        return benchmarks.run("report", profile=args.profile, keep=args.keep)
    if args.benchmark == "scale":
        options = [*(["--sizes", *map(str, args.sizes)] if args.sizes else []),
                   *(["--epochs", str(args.epochs)] if args.epochs else []),
                   *(["--folder", str(Path(args.folder).resolve())] if args.folder else []),
                   *(["--plot", str(Path(args.plot).resolve())] if args.plot else []),
                   *(["--again"] if args.again else [])]
        return benchmarks.run("scale", scale=tuple(options))
    if args.no_run:
        print(benchmarks.speed_report())
        return 0
    return benchmarks.run("study", profile=args.profile)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beauty", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("report", help="run the notebooks and build reports/index.html",
                              description="Check the data the profile needs, execute the numbered "
                              "notebooks in order with papermill and build reports/index.html.")
    _profile_option(sub)
    sub.add_argument("--only", help="notebooks to run, e.g. 03, 03-05 or 01,04")
    sub.add_argument("--from", dest="start", help="resume from this notebook number onwards")
    sub.add_argument("--kernel", default=config.KERNEL_NAME, help="Jupyter kernel to execute with")
    sub.set_defaults(run=report)

    sub = commands.add_parser("check", help="is every file the profile needs here?",
                              description="For each notebook, find every data file it needs "
                              "under the profile (fetching into data/external/ what a mirror or "
                              "download can give) and say what to get and where for the rest.")
    _profile_option(sub)
    sub.add_argument("--only", help="check only these notebooks, e.g. 07 or 01,11")
    sub.set_defaults(run=check)

    sub = commands.add_parser("fetch", help="download and verify public data files",
                              description="Download (or copy from $BEAUTY_DATA_MIRROR) and "
                              "verify dataset files into data/external/; with --to, also copy "
                              "them into a folder that can serve as a mirror for an offline "
                              "workshop.")
    sub.add_argument("names", nargs="*", metavar="NAME", help="dataset name(s) from the registry")
    sub.add_argument("--all", action="store_true", help="every dataset that is not shipped")
    sub.add_argument("--to", metavar="DIR", help="also copy the verified files into DIR")
    sub.set_defaults(run=fetch)

    sub = commands.add_parser("convert-rees46", help="REES46 CSVs -> Parquet, with accounting",
                              description="Convert REES46 monthly CSVs (.csv, .csv.gz, .csv.zip, "
                              ".csv.bz2) into typed Parquet by month; rejected rows go to a "
                              "quarantine file. Prints the accounting: files read and skipped, "
                              "rows read, kept, quarantined by reason, duplicates removed, rows "
                              "written per month (read back from the Parquet). Exits 1 when "
                              "nothing could be converted.")
    sub.add_argument("source", help="a folder of CSVs or one file")
    sub.add_argument("--out", help="output folder (default data/raw/rees46_events: raw ids stay in data/raw)")
    sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sub.set_defaults(run=convert_rees46)

    sub = commands.add_parser("results", help="write a run's headline values to docs/results.md",
                              description="Read the metrics a run of the notebooks recorded "
                              "(DIR/metrics/*.json) and write, for each notebook, its headline "
                              "values as Markdown tables with the profile, data source, fallbacks, "
                              "commit and wall time it ran with.")
    sub.add_argument("--reports", metavar="DIR",
                     help="the run's reports/ folder (default: the work folder's reports/)")
    sub.add_argument("--out", metavar="FILE", help="where to write (default: docs/results.md)")
    sub.set_defaults(run=results)

    sub = commands.add_parser("student", help="write student copies of the notebooks to student/",
                              description="Write a copy of every numbered notebook with each "
                              "exercise's solution cell replaced by a stub and every output "
                              "cleared; the exercises' hints and checks stay.")
    sub.add_argument("--out", metavar="DIR", help="where to write (default: student/ in the project)")
    sub.set_defaults(run=student)

    sub = commands.add_parser("encrypt", help="encrypt data files in place: <file> -> <file>.enc",
                              description="Encrypt each file named, and every file in each folder "
                              "named (at any depth; hidden files are left alone), with AES-GCM and "
                              "the key $BEAUTY_ENCRYPTION_KEY or the key file encryption.key in "
                              "$BEAUTY_KEY_DIR (made on first use). Each <file> becomes "
                              "<file>.enc, which the loaders read when <file> is absent; files "
                              "already encrypted are skipped. docs/privacy.md says how to keep "
                              "the key.")
    sub.add_argument("paths", nargs="+", metavar="PATH", help="files or folders, e.g. data/raw data/interim")
    sub.add_argument("--keep-plain", action="store_true",
                     help="keep each plain file beside its encrypted one (the loaders read the plain one)")
    sub.set_defaults(run=encrypt)

    sub = commands.add_parser("decrypt", help="decrypt files encrypted by `beauty encrypt`",
                              description="Decrypt each <file>.enc named, and every one in each "
                              "folder named, back to <file> with the key it was encrypted with "
                              "($BEAUTY_ENCRYPTION_KEY or the key file), then remove it. A file "
                              "whose plain copy is beside it is skipped. Exits 1 when a file "
                              "cannot be decrypted (changed, cut short or another key's).")
    sub.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    sub.set_defaults(run=decrypt)

    sub = commands.add_parser("benchmark", help="time the data tools, notebooks 04-06, the "
                              "recommenders or the whole report",
                              description="Run one of the speed benchmarks; each "
                              "prints what it ran and what it measured.")
    kinds = sub.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    kind = kinds.add_parser("data", help="simulator events/s; REES46 CSV -> Parquet vs pandas.read_csv",
                            description="Time the simulator (python -m utils.data.simulate "
                            "--benchmark) and the REES46 conversion against pandas.read_csv on "
                            "generated CSVs (python -m utils.data.rees46 --benchmark-rees46), each "
                            "in its own process, and write the conversion's figures to "
                            "reports/metrics/benchmark_data.json.")
    kind.add_argument("--events", type=int, default=1_000_000, help="simulated events (default 1M)")
    kind.add_argument("--rows", type=int, default=20_000_000, help="generated CSV rows (default 20M)")
    kind = kinds.add_parser("study", help="run notebooks 04-06 and print their times and each "
                            "model's training speed", description="Run notebooks 04-06 through the "
                            "pipeline (01-03 must have run), then print their run times "
                            "(reports/runs.json) and each model's training speed (05's metrics).")
    _profile_option(kind)
    kind.add_argument("--no-run", action="store_true",
                      help="only print the times and speeds of the last run")
    kind = kinds.add_parser("recsys", help="next-item recommenders on Amazon Beauty or any S3-Rec file",
                            description="Train the baselines (Markov, MostPopular), the recurrent "
                            "recommenders (GRU, LSTM, SimpleRNN) and SASRec on Amazon Beauty or on "
                            "any file in the S3-Rec format (one shopper per line: user id, then "
                            "item ids in time order), with python -m utils.tasks.recommend "
                            "--benchmark: a fixed epoch budget with early stopping on validation "
                            "NDCG@10, a validation search per model, then several seeds. Prints and "
                            "writes HR@10, NDCG@10 and MRR (mean +/- std over seeds), epochs, "
                            "seconds and paired bootstrap intervals against the Markov chain and the "
                            "best recurrent model (reports/metrics/benchmark_recsys.json by default).")
    kind.add_argument("--dataset", metavar="PATH",
                      help="a file in the S3-Rec format (default: Amazon Beauty)")
    kind.add_argument("--seeds", type=int, default=3, help="seeds per neural model (default 3)")
    kind.add_argument("--models", help="comma-separated from GRU,LSTM,SimpleRNN,SASRec,Markov,MostPopular "
                      "(default: all)")
    kind.add_argument("--epochs", type=int, help="most epochs per training run (default 40)")
    kind.add_argument("--patience", type=int, help="epochs without a better validation NDCG@10 (default 5)")
    kind.add_argument("--search", type=int, help="configurations of the validation search (default 4)")
    kind.add_argument("--batching", choices=("windows", "session_parallel"),
                      help="mini-batches of the recurrent models (default windows)")
    kind.add_argument("--out", metavar="FILE", help="the JSON to write")
    kind.add_argument("--published", metavar="FILE", help="the dataset's published results (JSON; "
                      "default: <name>.published.json beside the dataset)")
    kind.add_argument("--resume", action="store_true",
                      help="keep the runs already in the output file and do the rest (other "
                           "--models are added to its table)")
    kind = kinds.add_parser("report", help="the whole report from a cold start: time per notebook",
                            description="Build the whole report in a fresh work folder (no data, no "
                            "saved trials), print each notebook's time against the goals (workshop: "
                            "the report within 10 minutes, each notebook within 2; smoke: within 3) "
                            "and write reports/metrics/benchmark_report.json.")
    _profile_option(kind)
    kind.add_argument("--keep", metavar="DIR", help="build in DIR (new or empty) and keep it, e.g. for "
                      "`beauty results --reports DIR/reports` (default: a temporary folder)")
    kind = kinds.add_parser("scale", help="the study's out-of-core path at 1M, 5M and 20.7M events",
                            description="Time each stage of the out-of-core path (conversion, "
                            "preprocessing on pandas and on Dask with 1 and 2 workers, training from "
                            "Parquet shards) at each size, with its peak memory (python -m "
                            "utils.report.scale). Resumable: each stage is written to "
                            "reports/metrics/benchmark_scale.json as it ends.")
    kind.add_argument("--sizes", type=int, nargs="+", help="events at each size (default 1M 5M 20.7M)")
    kind.add_argument("--epochs", type=int, help="training epochs of each model (default 2)")
    kind.add_argument("--folder", help="where the data is written (default data/raw/scale/)")
    kind.add_argument("--again", action="store_true", help="rerun the stages already recorded")
    kind.add_argument("--plot", metavar="PNG", help="only draw the recorded figures into PNG")
    sub.set_defaults(run=benchmark)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:  # a bad profile, selection or path
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
