#!/usr/bin/env bash
# mypy --strict over every file under tests/.
#
# pytest runs these files in its default "prepend" import mode: every test directory goes
# onto sys.path, so tests/ is there and the shared helpers are the package
# tests/bridge_testing (from bridge_testing.wait import until); a suite's own helpers are
# imported by bare name (from harness import Bridge, from fake_esl import ...). Each
# suite also has its own conftest.py, so one mypy run over all of tests/ stops at
# "Duplicate module named 'conftest'". Instead: one run per directory, each with the
# MYPYPATH that matches the sys.path pytest (and the files' own sys.path inserts) give
# that directory at run time, and each with its own cache directory because the module
# "conftest" is a different file in every run.
set -euo pipefail
cd "$(dirname "$0")/.."

# directory to check : its MYPYPATH (tests/ is there for conftest.py's bare imports)
runs=(
    "tests:tests"
    "tests/bridge_testing:tests"
    "tests/unit:tests"
    "tests/component:tests"
    "tests/asterisk:tests:tests/asterisk"
    "tests/adoption:tests:tests/adoption:tests/asterisk:tests/freeswitch:tests/benchmarks"
    "tests/embedded:tests:tests/embedded"
    "tests/facades:tests:tests/facades"
    "tests/freeswitch:tests:tests/freeswitch"
    "tests/console:tests:tests/console"
    "tests/benchmarks:tests:tests/benchmarks:tests/asterisk:tests/freeswitch"
    "tests/docker:tests:tests/docker"
)

failed=()
for run in "${runs[@]}"; do
    dir=${run%%:*}
    path=${run#*:}
    if [[ $dir == tests ]]; then
        # only the top-level helpers; the subdirectories get their own runs
        files=(tests/*.py)
    else
        files=("$dir")
    fi
    printf '==> mypy --strict %s (MYPYPATH=%s)\n' "${files[*]}" "$path"
    if ! MYPYPATH=$path mypy --strict --cache-dir ".mypy_cache/tests/${dir//\//_}" "${files[@]}"; then
        failed+=("$dir")
    fi
done

# every .py file under tests/ must have been in one of the runs above
unchecked=$(find tests -name '*.py' -not -path 'tests/unit/*' -not -path 'tests/component/*' \
    -not -path 'tests/asterisk/*' -not -path 'tests/embedded/*' -not -path 'tests/freeswitch/*' \
    -not -path 'tests/console/*' -not -path 'tests/facades/*' -not -path 'tests/docker/*' \
    -not -path 'tests/benchmarks/*' -not -path 'tests/bridge_testing/*' -not -path 'tests/adoption/*' \
    -not -regex 'tests/[^/]*\.py')
if [[ -n $unchecked ]]; then
    printf 'not covered by any mypy run (add a line to runs=):\n%s\n' "$unchecked"
    failed+=("uncovered files")
fi

if ((${#failed[@]})); then
    printf 'mypy found errors in: %s\n' "${failed[*]}"
    exit 1
fi
echo "mypy --strict: tests/ clean"
