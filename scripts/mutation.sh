#!/usr/bin/env bash
# Mutation testing (issue 17, item 6): how many deliberate bugs does the suite catch in the
# modules whose exactness users rely on? On demand, not part of CI (minutes per module).
#
#   bash scripts/mutation.sh                 # grid, plan, buckets, ops
#   bash scripts/mutation.sh grid buckets    # some of them
#   OUT=mutation-results bash scripts/mutation.sh ops
#   bash scripts/mutation.sh twin_suppress twin_grid    # the numpy kernel twin (needs a C compiler)
#
# Needs `pip install "mutmut<3"` (mutmut 2.5; in the `mutation` extra). Runs in a throw-away
# copy of HEAD (git archive), never in the working tree: mutmut rewrites the file it mutates.
# Each module is run against its own test selection (below), stopping at the first failure.
# Writes OUT/<module>.txt (counts and every surviving mutant's diff) and prints the scores.
# Every mutmut timeout is re-run once after the main run, bounded by MUTATION_TIMEOUT_FACTOR
# (default 5) times the selection's baseline time measured then, and reported apart:
# confirmed (still hangs: killed), fails (killed), not confirmed (tests pass: a survivor).
set -euo pipefail

declare -A PATHS=(
    [grid]=src/tilewise/slicing/grid.py
    [plan]=src/tilewise/datasets/tiling/plan.py
    [buckets]=src/tilewise/evaluation/buckets.py
    [ops]=src/tilewise/boxes/ops.py
    [tide_fixes]=src/tilewise/evaluation/tide_fixes.py
    # the pure-numpy kernel twin (tilewise.kernels._numpy*), against the C extension
    [twin]=src/tilewise/kernels/_numpy.py
    [twin_grid]=src/tilewise/kernels/_numpy_grid.py
    [twin_cells]=src/tilewise/kernels/_numpy_cells.py
    [twin_suppress]=src/tilewise/kernels/_numpy_suppress.py
    [twin_components]=src/tilewise/kernels/_numpy_components.py
    [twin_nmm]=src/tilewise/kernels/_numpy_nmm.py
    [twin_nmm_batch]=src/tilewise/kernels/_numpy_nmm_batch.py
    [twin_wbf]=src/tilewise/kernels/_numpy_wbf.py
    [twin_wbf_batch]=src/tilewise/kernels/_numpy_wbf_batch.py
    [twin_cell_index]=src/tilewise/kernels/_numpy_cell_index.py
    [twin_near]=src/tilewise/kernels/_numpy_near.py
)
# The twin's selections stay small (a mutant that survives runs all of it): its parts on
# exact tables, then the twin against the C extension built in the snapshot on the exact
# cases and the error branches. The heavier comparisons (dense scenes, tiny NMM/WBF rounds,
# the hypothesis properties) run in CI, not here: the scores are a lower bound.
twin=tests/test_kernels_twin.py
TWIN_PARTS=tests/test_kernels_numpy_parts.py
TWIN_VS_NATIVE="$twin::test_exact_cases $twin::test_group_errors_match_native \
$twin::test_pairs_errors_match_native $twin::test_parent_must_be_writable"
TWIN_ROUNDS="$twin::test_small_rounds_and_budgets $twin::test_dense_chained_tiny_rounds"
# NMM (with the components it runs on) and WBF parts on hand-worked tables, through every
# route (lockstep, rounds, tiny rounds, whole segments, WBF's unbounded segments alone)
TWIN_NMM_PARTS=tests/test_kernels_numpy_nmm_parts.py
TWIN_WBF_PARTS=tests/test_kernels_numpy_wbf_parts.py
declare -A TESTS=(
    [grid]="tests/test_grid.py src/tilewise/slicing/grid.py"
    [plan]="tests/test_tiling_plan_exact.py tests/test_tiling_plan_selection.py tests/test_datasets_tiling.py src/tilewise/datasets/tiling/plan.py"
    [buckets]="tests/test_eval_buckets.py tests/test_eval_buckets_reference.py src/tilewise/evaluation/buckets.py"
    [ops]="tests/test_boxes.py src/tilewise/boxes/ops.py"
    [tide_fixes]="tests/test_eval_error_fixes.py src/tilewise/evaluation/tide_fixes.py"
    # the twin (see TWIN_* above)
    [twin]="$TWIN_PARTS $TWIN_VS_NATIVE"
    [twin_grid]="$TWIN_PARTS tests/test_kernels_numpy_grid_parts.py $TWIN_VS_NATIVE"
    [twin_cells]="tests/test_kernels_numpy_cells.py tests/test_kernels_numpy_cells_parts.py $TWIN_PARTS $TWIN_VS_NATIVE"
    [twin_suppress]="$TWIN_PARTS $TWIN_NMM_PARTS::test_greedy_nmm_admits_both_area_window_edges $TWIN_VS_NATIVE"
    # (the parts run every route with tiny rounds; the twin's random tiny-round scenes,
    # ~40 s a run, are kept for the round modules only)
    [twin_components]="$TWIN_NMM_PARTS $TWIN_WBF_PARTS $TWIN_VS_NATIVE"
    [twin_nmm]="$TWIN_NMM_PARTS $TWIN_VS_NATIVE"
    [twin_nmm_batch]="$TWIN_NMM_PARTS $TWIN_VS_NATIVE $TWIN_ROUNDS"
    [twin_wbf]="$TWIN_WBF_PARTS $TWIN_VS_NATIVE"
    [twin_wbf_batch]="$TWIN_WBF_PARTS $TWIN_VS_NATIVE $TWIN_ROUNDS"
    # the cell-table index of NMM's growing groups and the components' closure, and the
    # growing groups' candidate cache (never run yet)
    [twin_cell_index]="tests/test_kernels_numpy_cell_index.py $TWIN_NMM_PARTS $TWIN_VS_NATIVE"
    [twin_near]="tests/test_kernels_numpy_near_rows.py $TWIN_NMM_PARTS $TWIN_VS_NATIVE"
)
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=(grid plan buckets ops)

root=$(git rev-parse --show-toplevel)
# the project's environment: the active one, else the checkout's .venv
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$root/.venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    . "$root/.venv/bin/activate"
fi
python -c "import mutmut" 2>/dev/null || { echo "mutmut is not installed: pip install -e '.[mutation]'" >&2; exit 1; }
out=$(realpath -m "${OUT:-$root/mutation-results}")
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"
python setup.py build_ext --inplace -q >/dev/null 2>&1 || echo "note: no C extension built" >&2
native_built() { PYTHONPATH="$work/src" python -c "import tilewise.kernels._native" 2>/dev/null; }
export PYTHONPATH="$work/src:$work"
# no bytecode: a mutant of the same size written within the same second as the original
# would otherwise run the original's cached .pyc
export PYTHONDONTWRITEBYTECODE=1
# mutmut 2 counts only exit status 1 as "tests failed"; a mutant that breaks the import
# makes pytest exit with 2 (collection error), which must count as killed too. The address
# space is capped (MUTATION_MEM_KB, default 8 GB): a mutant that makes an array size explode
# fails with MemoryError instead of taking a shared machine's memory.
# Plugins are not auto-loaded (xdist and anyio alone doubled pytest's start-up CPU, paid
# once per mutant); hypothesis' plugin is loaded by name.
# Every test run is bounded in time too (MUTATION_RUN_S, default 600 s): mutmut 2 kills the
# shell on its timeout but not pytest under it, and the survivor recheck below has no timer
# of its own, so a mutant that makes a test loop forever would otherwise run on after the
# script (seen: a twin_grid mutant at 6.7 GB and 36 min). A run killed there exits 124 and
# counts as tests failed (the mutant made them hang). The timeout recheck below runs it with
# its own bound (MUTATION_BOUND_S) and asks for exit status 124 on a hang (MUTATION_HANG_RC).
printf '#!/bin/sh\nulimit -v %s\nPYTEST_DISABLE_PLUGIN_AUTOLOAD=1 timeout -k 10 "${MUTATION_BOUND_S:-%s}" python -m pytest -x -q -p no:cacheprovider -p _hypothesis_pytestplugin "$@" >"${MUTATION_LOG:-/dev/null}" 2>&1\nrc=$?\n[ $rc -eq 0 ] && exit 0\n{ [ $rc -eq 124 ] || [ $rc -eq 137 ]; } && exit "${MUTATION_HANG_RC:-1}"\nexit 1\n' \
    "${MUTATION_MEM_KB:-8000000}" "${MUTATION_RUN_S:-600}" > run_tests.sh

for m in "${modules[@]}"; do
    path=${PATHS[$m]:?unknown module $m (choose from ${!PATHS[*]})}
    # the twin's tests compare it with the C extension and skip without it: every mutant
    # would survive, so refuse instead
    if [[ $m == twin* ]] && ! native_built; then
        echo "$m: the C extension did not build in the snapshot; twin not measured" >&2
        continue
    fi
    rm -f .mutmut-cache
    find . -name __pycache__ -prune -exec rm -rf {} +
    start=$(date +%s)
    # the module as the snapshot has it, kept before mutmut touches it: every recheck below
    # restores from this copy (a run that mutmut's timer cut off can leave the last mutant
    # in the file; a copy taken after the run would then be a mutant, and every recheck of
    # a survivor would "fail" on it: seen as 13 false kills, then a false 100 %)
    cp "$path" "$work/.mutation-original"
    mutmut run --paths-to-mutate "$path" --runner "sh run_tests.sh ${TESTS[$m]}" \
        --no-progress >/dev/null 2>&1 || true
    if ! cmp -s "$path" "$work/.mutation-original"; then
        echo "$m: mutmut left $path changed; restored from the snapshot" >&2
        cp "$work/.mutation-original" "$path"
    fi
    # the rechecks below count a failing selection as a kill: the unmutated selection must
    # pass first, and still pass after them, or no recheck kill is counted
    rechecks_valid=1
    MUTATION_LOG="$out/$m.baseline.log" sh run_tests.sh ${TESTS[$m]} || rechecks_valid=0
    # mutmut 2 kills a run that passes its timeout, and reads it as a *survivor* when its
    # timer thread has not exited yet (a race that a loaded machine makes common): re-run
    # every survivor once, without that timer, and count the ones whose tests then fail
    recheck=()
    for id in $(python -c "import sqlite3; print(' '.join(str(i) for (i,) in sqlite3.connect(
        '.mutmut-cache').execute(\"select id from Mutant where status='bad_survived'\")))"); do
        [ "$rechecks_valid" -eq 1 ] || break
        mutmut apply "$id" >/dev/null 2>&1
        # a failing recheck keeps its output (OUT/<module>.recheck-<id>.log), to be read
        log="$out/$m.recheck-$id.log"
        if MUTATION_LOG="$log" sh run_tests.sh ${TESTS[$m]}; then rm -f "$log"; else recheck+=("$id"); fi
        cp "$work/.mutation-original" "$path"
    done
    if [ "$rechecks_valid" -eq 1 ]; then
        MUTATION_LOG="$out/$m.baseline.log" sh run_tests.sh ${TESTS[$m]} || rechecks_valid=0
    fi
    if [ "$rechecks_valid" -eq 0 ]; then
        echo "$m: the unmutated selection fails (see $out/$m.baseline.log): no recheck kill counted" >&2
        recheck=()
    else
        rm -f "$out/$m.baseline.log"
    fi
    # mutmut 2 calls a run a timeout past twice its baseline time, which load alone can
    # cause (seen: plan.py, twin_grid, twin_components): re-run every timeout once, bounded
    # by MUTATION_TIMEOUT_FACTOR x the unmutated selection's time measured now (same load),
    # and tell a hang (still over the bound: killed) from a failure (killed) and from a
    # pass (the timeout was no kill: counted a survivor)
    hangs=() fails=() passes=() baseline=- bound=-
    timeouts=$(python -c "import sqlite3; print(' '.join(str(i) for (i,) in sqlite3.connect(
        '.mutmut-cache').execute(\"select id from Mutant where status='bad_timeout'\")))")
    if [ -n "$timeouts" ]; then
        t0=$(date +%s%N)
        sh run_tests.sh ${TESTS[$m]} || echo "$m: the unmutated selection fails; timeouts re-run anyway" >&2
        baseline=$(( ($(date +%s%N) - t0 + 500000000) / 1000000000 ))
        bound=$(( ${MUTATION_TIMEOUT_FACTOR:-5} * (baseline > 0 ? baseline : 1) ))
        for id in $timeouts; do
            mutmut apply "$id" >/dev/null 2>&1
            rc=0
            MUTATION_BOUND_S=$bound MUTATION_HANG_RC=124 sh run_tests.sh ${TESTS[$m]} || rc=$?
            case $rc in
                0) passes+=("$id") ;;
                124) hangs+=("$id") ;;
                *) fails+=("$id") ;;
            esac
            cp "$work/.mutation-original" "$path"
        done
    fi
    secs=$(( $(date +%s) - start ))
    python - "$m" "$path" "$secs" "${TESTS[$m]}" "${recheck[*]:-}" "${hangs[*]:-}" \
        "${fails[*]:-}" "${passes[*]:-}" "$baseline" "$bound" "$rechecks_valid" \
        > "$out/$m.txt" <<'EOF'
import sqlite3, subprocess, sys
(module, path, secs, tests, recheck, hangs, fails, passes, baseline, bound,
 rechecks_valid) = sys.argv[1:]
renamed = {}
for ids, name in ((recheck, "killed_on_recheck"), (hangs, "timeout_confirmed"),
                  (fails, "timeout_fails"), (passes, "timeout_not_confirmed")):
    renamed.update({int(i): name for i in ids.split()})
rows = sqlite3.connect(".mutmut-cache").execute("select id, status from Mutant").fetchall()
rows = [(mid, renamed.get(mid, status)) for mid, status in rows]
count = {}
for _, status in rows:
    count[status] = count.get(status, 0) + 1
# killed: the tests failed ("ok_suspicious": failed, but slowly). A mutmut timeout is re-run
# (above): "timeout_confirmed" still hangs past the bound, "timeout_fails" fails: both
# killed; "timeout_not_confirmed" passes: a survivor. "killed_on_recheck": recorded as a
# survivor, but its tests failed when re-run (above)
killed = sum(
    count.get(k, 0)
    for k in ("ok_killed", "ok_suspicious", "killed_on_recheck", "timeout_confirmed",
              "timeout_fails", "bad_timeout")
)
survived = count.get("bad_survived", 0) + count.get("timeout_not_confirmed", 0)
total = sum(count.values()) - count.get("skipped", 0)
timeouts = sum(count.get(k, 0) for k in ("timeout_confirmed", "timeout_fails",
                                         "timeout_not_confirmed", "bad_timeout"))
print(f"{module}: {path}")
print(f"tests: {tests}")
print(f"mutants: {total}, killed: {killed}, score: {100 * killed / max(total, 1):.1f} %, "
      f"survived: {survived}, timeouts: {timeouts} (re-run bounded by {bound} s, baseline "
      f"{baseline} s: timeout confirmed (still hangs): {count.get('timeout_confirmed', 0)}, "
      f"fails: {count.get('timeout_fails', 0)}, timeout not confirmed (tests then pass -> "
      f"survivor): {count.get('timeout_not_confirmed', 0)}), "
      f"killed on recheck: {count.get('killed_on_recheck', 0)}"
      + ("" if rechecks_valid == "1" else " (NOT RE-CHECKED: the unmutated selection fails)")
      + f", wall time: {secs} s")
for mid, status in rows:
    if status in ("bad_survived", "bad_timeout", "killed_on_recheck", "timeout_confirmed",
                  "timeout_fails", "timeout_not_confirmed"):
        print(f"\n--- mutant {mid} ({status})")
        show = subprocess.run(["mutmut", "show", str(mid)], capture_output=True, text=True)
        print("\n".join(line for line in show.stdout.splitlines() if line[:1] in "-+@"))
EOF
    head -3 "$out/$m.txt" | tail -1 | sed "s/^/$m: /"
done
