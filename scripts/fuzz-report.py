#!/usr/bin/env python3
"""Prints the table of results/fuzzing.md from the logs scripts/fuzz.sh leaves in work/fuzz/:
per target, the seconds run, inputs executed, speed, coverage (libFuzzer's edge counter `cov`
and feature counter `ft`) after the seed corpus was loaded and at the end, the corpus likewise, peak memory, and whether it stopped on a
finding (libFuzzer's `==ERROR`, a panic, or a crash/leak/timeout/oom artifact written).

    python3 scripts/fuzz-report.py [TARGET ...]
"""
import pathlib
import re
import sys

LOGS = pathlib.Path(__file__).resolve().parent.parent / "work" / "fuzz"
DEFAULT = ["idx_reader", "cifar_reader", "image_file", "tar_gz", "encrypted_manifest",
           "encrypted_shard", "key_file", "upload_chunks", "onnx_loader"]


def stats(target):
    log = LOGS / f"{target}.log"
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    stat = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
    status = re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)", text, re.M)
    seconds = re.search(r"-max_total_time=(\d+)", text)
    done = re.search(r"Done (\d+) runs in (\d+) second", text)
    finding = re.search(r"(==\d+== ?ERROR: libFuzzer: [^\n]*|panicked at [^\n]*|Test unit written to [^\n]*)", text)
    last = status[-1] if status else ("0", "?", "?", "?", "?")
    inited = re.search(r"INITED cov: (\d+) ft: (\d+) corp: (\d+)/", text)
    return {
        "target": target,
        "seconds": done.group(2) if done else (seconds.group(1) + "?" if seconds else "?"),
        "runs": stat.get("number_of_executed_units", last[0]),
        "per_s": stat.get("average_exec_per_sec", "?"),
        "cov": f"{inited.group(1) if inited else '?'} → {last[1]}",
        "ft": f"{inited.group(2) if inited else '?'} → {last[2]}",
        "corpus": f"{inited.group(3) if inited else '?'} → {last[3]} ({last[4]})",
        "rss": stat.get("peak_rss_mb", "?"),
        "finding": finding.group(1).strip() if finding else "none",
    }


def main():
    targets = sys.argv[1:] or DEFAULT
    print("| target | seconds | inputs run | inputs/s | cov (edges), start → end | ft (features) | corpus (inputs) | peak MB | stopped on |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---|")
    for t in targets:
        s = stats(t)
        if s is None:
            print(f"| {t} | not run | | | | | | | |")
            continue
        print("| {target} | {seconds} | {runs} | {per_s} | {cov} | {ft} | {corpus} | {rss} | {finding} |".format(**s))


if __name__ == "__main__":
    main()
