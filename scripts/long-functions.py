#!/usr/bin/env python3
"""Lists the functions of crates/*/src (tests left out) longer than 80 lines, and whether a
"Why one function:" comment stands above each (issue 16: none that long without saying why).

Run from the repository root: python3 scripts/long-functions.py"""
import glob
import re

LIMIT = 80
rows = []
for path in sorted(glob.glob('crates/*/src/**/*.rs', recursive=True)):
    src = open(path, encoding='utf-8').read().split('\n')
    in_tests = False
    for i, line in enumerate(src):
        if re.match(r'\s*#\[cfg\(test\)\]', line):
            in_tests = True
        m = re.match(r'^(\s*)(pub(\([^)]*\))? )?(const )?(async )?(unsafe )?fn (\w+)', line)
        if not m or in_tests:
            continue
        indent = m.group(1)
        for j in range(i + 1, len(src)):
            if src[j] == indent + '}':
                length = j - i + 1
                above = '\n'.join(src[max(0, i - 6):i]).lower()
                if length > LIMIT:
                    rows.append((length, path, i + 1, m.group(7), 'why one function' in above))
                break
for length, path, line, name, why in sorted(rows, reverse=True):
    print(f"{length:4} {path}:{line} {name}{'' if why else '  (no comment saying why)'}")
missing = sum(1 for r in rows if not r[4])
print(f"{len(rows)} functions over {LIMIT} lines, {missing} without a comment saying why")
