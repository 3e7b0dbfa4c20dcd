"""Sum a JUnit XML report's test times by directory and by file: where CI's minutes go.

python .ci/durations.py artifacts/tests.xml [how many files]
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str, most: int = 12) -> None:
    by_dir: dict[str, float] = {}
    by_file: dict[str, float] = {}
    for case in ET.parse(path).iter("testcase"):
        seconds = float(case.get("time") or 0)
        # classname is tests.<dir>[.<subdir>].<module>[.<TestClass>]
        parts = (case.get("classname") or "").split(".")
        while len(parts) > 2 and parts[-1][:1].isupper():
            parts.pop()
        for totals, key in ((by_file, ".".join(parts)), (by_dir, ".".join(parts[:2]))):
            totals[key] = totals.get(key, 0.0) + seconds
    for title, totals, rows in (("directory", by_dir, None), ("file", by_file, most)):
        print(f"test time by {title} (s):")
        for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1])[:rows]:
            print(f"  {seconds:7.1f}  {name}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
