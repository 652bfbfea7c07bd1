#!/usr/bin/env python3
"""Turns the logs of scripts/security-tables.sh (work/security/*.txt) into the markdown tables of
results/security.md. Prints to stdout; every number comes from those logs.

    python3 scripts/security-report.py > work/security/tables.md
    python3 scripts/security-report.py hardening   # the noise table (scripts/hardening-noise.sh)
"""
import re
import sys
from pathlib import Path

LOGS = Path(__file__).resolve().parent.parent / "work" / "security"
ROWS = [
    ("auto-mnist", "`auto`", "MNIST", "Fashion-MNIST"),
    ("auto-fashion", "`auto`", "Fashion-MNIST", "MNIST"),
    ("auto-cifar", "`auto`", "CIFAR-10", "CIFAR-10 test split, other seed"),
    ("paper-mnist-mnist", "`paper-mnist`", "MNIST", "Fashion-MNIST"),
    ("paper-mnist-fashion", "`paper-mnist`", "Fashion-MNIST", "MNIST"),
    ("paper-cifar", "`paper-cifar`", "CIFAR-10", "CIFAR-10 test split, other seed"),
]
LINE = re.compile(
    r"^  (?P<name>\S.*?)\s+(?P<psnr>-?[\d.]+) dB  SSIM (?P<ssim>-?[\d.]+)  recognised\s+(?P<rec>[\d.]+%|-)\s+(?P<sec>[\d.]+) s"
    r"(?:  re-identified\s+(?P<reid>[\d.]+%|-) \(same class\s+(?P<same>[\d.]+%|-)\), over the class mean SSIM (?P<gain>[+-][\d.]+))?"
)


def parse(path):
    text = path.read_text()
    # The summary block after the blank line lists every attack once.
    summary = text.split("\n\n")[-1]
    attacks = {}
    for line in summary.splitlines():
        m = LINE.match(line)
        if m:
            attacks[m["name"]] = m.groupdict()
    def find(pattern):
        m = re.search(pattern, text)
        return m.group(1) if m else "?"
    return {
        "attacks": attacks,
        "truth": find(r"the judge recognises ([\d.]+%)"),
        "guess": find(r"guessing the mean image: ([\d.]+ dB)"),
        "floor": find(r"re-identifies ([\d.]+%) \(same class"),
        "d1": find(r"the key's own decoder D1: ([\d.]+ dB)"),
        "key": find(r"attacks on key (\w+)"),
        "wall": find(r"wall ([\d.]+) s"),
        "rss": find(r"peak RSS (\d+) KiB"),
        "same": find(r"encrypted twice with this key: ([\d.]+%)"),
        "cross": find(r"look-alike key: ([\d.]+%) matched by channel probes"),
        "cross_decoder": find(r"([\d.]+%) through the aligned decoder"),
        "cycle": find(r"(cycle error [\d.]+ as is, [\d.]+ after aligning channels)"),
    }


def cell(a):
    """Re-identified (same class) / SSIM gain over the class mean / PSNR / recognised (time); logs
    from before the instance metrics existed give only the last three."""
    if a is None:
        return "—"
    if a.get("reid"):
        return (
            f"**{a['reid']}** ({a['same']}) / {a['gain']} / {a['psnr']} dB / {a['rec']} ({a['sec']} s)"
        )
    return f"{a['psnr']} dB / {a['ssim']} / **{a['rec']}** ({a['sec']} s)"


def hardening():
    """The noise table from scripts/hardening-noise.sh's logs (work/hardening/)."""
    base = LOGS.parent / "hardening"
    plain = base / "plain-eval.txt"
    if not plain.exists():
        return ["not run yet (`bash scripts/hardening-noise.sh`)"]
    ao = float(re.search(r"^accuracy: ([\d.]+)%", plain.read_text(), re.M).group(1))
    out = [
        f"AO (cnn on the plain images): {ao:.2f}%.\n",
        "| noise σ (× ciphertext std) | ridge, 100 pairs | inverter net, 100 pairs | AE (cnn on noisy ciphertexts) | EC = AO − AE (points) |",
        "|---|---|---|---|---|",
    ]
    levels = sorted(
        (p.stem[len("attack-"):] for p in base.glob("attack-*.txt")), key=float
    )
    for level in levels:
        attack = parse(base / f"attack-{level}.txt")["attacks"]
        ev = base / f"eval-{level}.txt"
        ae = float(re.search(r"^accuracy: ([\d.]+)%", ev.read_text(), re.M).group(1)) if ev.exists() else None
        ae_cell = f"{ae:.2f}%" if ae is not None else "—"
        ec_cell = f"{ao - ae:.2f}" if ae is not None else "—"
        out.append(
            f"| {level} | {cell(attack.get('ridge map, 100 pairs'))} | "
            f"{cell(attack.get('inverter net, 100 pairs'))} | {ae_cell} | {ec_cell} |"
        )
    return out


def main():
    if sys.argv[1:] == ["hardening"]:
        print("\n".join(hardening()))
        return 0
    out = []
    for name, preset, data, public in ROWS:
        kp_path, co_path = LOGS / f"{name}-known-plaintext.txt", LOGS / f"{name}-ciphertext-only.txt"
        if not kp_path.exists():
            out.append(f"### {preset} on {data}\n\nnot run yet (`bash scripts/security-tables.sh {name}`)\n")
            continue
        kp = parse(kp_path)
        out.append(f"### {preset} on {data} (key `{kp['key']}`)\n")
        out.append(
            f"The key's own D1: {kp['d1']}. Judge on the 200 true victim images: {kp['truth']}. "
            f"Guessing the mean image: {kp['guess']}. The class-mean image re-identifies {kp['floor']} "
            f"of the victims for nothing (chance 0.5%).\n"
        )
        out.append(
            "Known plaintext (**re-identified** (same class) / SSIM gain over the class mean / PSNR / "
            "recognised (attack time)):\n"
        )
        out.append("| pairs N | ridge map | inverter net (D1's architecture, 1,000 steps) |")
        out.append("|---|---|---|")
        for n in (10, 100, 1000, 10000):
            r = kp["attacks"].get(f"ridge map, {n} pairs")
            i = kp["attacks"].get(f"inverter net, {n} pairs")
            out.append(f"| {n:,} | {cell(r) if r else 'skipped (n × n system)'} | {cell(i)} |")
        out.append(
            f"\nWhole command: {float(kp['wall']) / 60:.1f} min, peak RSS {int(kp['rss']) / 1024:.0f} MiB "
            f"(includes encrypting 10,200 images and training the judge). "
            f"Picture: [security-{name}-known-plaintext.png](security-{name}-known-plaintext.png).\n"
        )
        if co_path.exists():
            co = parse(co_path)
            out.append(f"Ciphertext only (look-alike key trained on {public}; {co['cycle']}):\n")
            out.append("| attack | **re-identified** (same class) / SSIM gain / PSNR / recognised (time) |")
            out.append("|---|---|")
            for attack, a in co["attacks"].items():
                out.append(f"| {attack} | {cell(a)} |")
            out.append(
                f"\nLinkability: the same image encrypted twice with the key, {co['same']} matched; "
                f"the same image under the victim's key and the look-alike key, {co['cross']} matched by "
                f"channel probes and {co['cross_decoder']} through the aligned look-alike decoder "
                f"(chance 0.5%). Whole command: {float(co['wall']):.0f} s, peak RSS "
                f"{int(co['rss']) / 1024:.0f} MiB. Picture: "
                f"[security-{name}-ciphertext-only.png](security-{name}-ciphertext-only.png).\n"
            )
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
