#!/usr/bin/env bash
# The Transformer-to-RNN experiment of issue 7 (docs/MATH.md#t2r-conversion), scaled down to a laptop:
#   1. train a small Llama "teacher" on the embedded Austen corpus;
#   2. convert it to GSA, GLA and RetNet (gsa4j convert);
#   3. finetune each converted model with the same small token budget (gsa4j train --init-from);
#   4. train each converted architecture from scratch with the same TOTAL budget (teacher + finetune tokens);
#   5. evaluate everything on persuasion.txt's token file in windows of the training length (gsa4j window-eval);
#   6. controls: the teacher finetuned the same way; finetuning only new + attention parameters; peak LR 1e-3; 4x the tokens;
#   7. write docs/T2R.md, docs/t2r/results.json and the curves docs/t2r/{finetune,finetune-long,budget}.png.
# Runs go to runs/t2r (git-ignored). A stage whose output exists is skipped, so an interrupted run
# continues; T2R_FRESH=1 starts over. T2R_THREADS (default 2) sets the worker threads.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
R=runs/t2r
THREADS="${T2R_THREADS:-2}"
[ "${T2R_FRESH:-0}" = 1 ] && rm -rf "$R"
mkdir -p "$R" docs/t2r
G=./gsa4j

# ---- the budget (tokens = steps × 8 sequences × 128 tokens)
TEACHER_STEPS=300          # 307,200 tokens
FT_STEPS=75                # 76,800 tokens: a quarter of the teacher's
SCRATCH_STEPS=$((TEACHER_STEPS + FT_STEPS))
MODEL=(--hidden-size 128 --num-hidden-layers 2 --num-heads 4)
COMMON=(--batch-size 8 --seq-len 128 --eval-tokens 4096 --checkpoint-every 0 --keep-checkpoints 1 --threads "$THREADS" --no-progress)
PRETRAIN_LR=3e-3           # the trainer's default peak, warm-up 30, cosine to 10%
FT_LR=3e-4                 # T2R finetuning: a tenth of the pretraining peak (the paper: 3e-5 for Mistral), warm-up 10
SLOTS=32
EVAL=(--window 128 --tokens 32768 --threads "$THREADS")
final() { printf '%s/checkpoints/step-%08d' "$1" "$2"; }
log() { echo "[t2r $(date -u +%H:%M:%S)] $*" >&2; }

# 1. teacher
T="$R/teacher"
if [ ! -d "$(final "$T" $TEACHER_STEPS)" ]; then
  log "training the Llama teacher ($TEACHER_STEPS updates)"
  $G train --arch llama "${MODEL[@]}" --steps $TEACHER_STEPS --lr $PRETRAIN_LR --warmup-steps 30 --eval-every 50 "${COMMON[@]}" \
     --out "$T" --force > "$R/teacher.log" 2>&1
fi
TCK="$(final "$T" $TEACHER_STEPS)"

ARCHS=(gsa gla retnet)
# 2. convert
for a in "${ARCHS[@]}"; do
  if [ ! -f "$R/conv-$a/config.json" ]; then
    log "converting the teacher to $a"
    extra=(); [ "$a" = gsa ] && extra=(--num-slots $SLOTS)
    $G convert --from "$TCK" --to "$a" --out "$R/conv-$a" "${extra[@]}" 2>> "$R/convert.log"
  fi
done

evaluate() { # NAME DIR
  local f="$R/eval-$1.json"
  if [ ! -s "$f" ]; then log "evaluating $1"; $G window-eval --model "$2" "${EVAL[@]}" > "$f.tmp" && mv "$f.tmp" "$f"; fi
}
evaluate teacher "$TCK"
for a in "${ARCHS[@]}"; do evaluate "$a-converted" "$R/conv-$a"; done

# 3. finetune (all parameters, as the paper)
for a in "${ARCHS[@]}"; do
  if [ ! -d "$(final "$R/ft-$a" $FT_STEPS)" ]; then
    log "finetuning converted $a ($FT_STEPS updates)"
    $G train --init-from "$R/conv-$a" --steps $FT_STEPS --lr $FT_LR --warmup-steps 10 --eval-every 15 "${COMMON[@]}" \
       --out "$R/ft-$a" --force > "$R/ft-$a.log" 2>&1
  fi
  evaluate "$a-finetuned" "$(final "$R/ft-$a" $FT_STEPS)"
done

# 4. from scratch: the converted architecture (same config.json), fresh weights, teacher + finetune tokens
for a in "${ARCHS[@]}"; do
  if [ ! -d "$(final "$R/scratch-$a" $SCRATCH_STEPS)" ]; then
    log "training $a from scratch ($SCRATCH_STEPS updates)"
    $G train --model-config "$R/conv-$a/config.json" --steps $SCRATCH_STEPS --lr $PRETRAIN_LR --warmup-steps 30 --eval-every 25 "${COMMON[@]}" \
       --out "$R/scratch-$a" --force > "$R/scratch-$a.log" 2>&1
  fi
  evaluate "$a-scratch" "$(final "$R/scratch-$a" $SCRATCH_STEPS)"
done

# 5. controls and variants, cheap next to the above
#  a) the teacher finetuned exactly as the converted models: how much of their gain is just more tokens?
if [ ! -d "$(final "$R/ft-llama" $FT_STEPS)" ]; then
  log "control: the teacher finetuned the same way"
  $G train --init-from "$TCK" --steps $FT_STEPS --lr $FT_LR --warmup-steps 10 --eval-every 15 "${COMMON[@]}" \
     --out "$R/ft-llama" --force > "$R/ft-llama.log" 2>&1
fi
evaluate llama-finetuned "$(final "$R/ft-llama" $FT_STEPS)"
#  b) only the new parameters and the attention projections trained, the rest frozen
#  c) four times the finetuning tokens (does the ranking change with more finetuning, as the paper's +20B -> +100B?)
LONG_STEPS=$((4 * FT_STEPS))
for a in "${ARCHS[@]}"; do
  if [ ! -d "$(final "$R/ft-subset-$a" $FT_STEPS)" ]; then
    log "finetuning converted $a, new + attention parameters only"
    $G train --init-from "$R/conv-$a" --train-only new,attention --steps $FT_STEPS --lr $FT_LR --warmup-steps 10 --eval-every 15 "${COMMON[@]}" \
       --out "$R/ft-subset-$a" --force > "$R/ft-subset-$a.log" 2>&1
  fi
  evaluate "$a-finetuned-subset" "$(final "$R/ft-subset-$a" $FT_STEPS)"
done
#  d) a higher finetuning peak (1e-3: a third of the pretraining peak instead of a tenth)
for a in "${ARCHS[@]}"; do
  if [ ! -d "$(final "$R/ft-lr1e-3-$a" $FT_STEPS)" ]; then
    log "finetuning converted $a at peak LR 1e-3"
    $G train --init-from "$R/conv-$a" --steps $FT_STEPS --lr 1e-3 --warmup-steps 10 --eval-every 15 "${COMMON[@]}" \
       --out "$R/ft-lr1e-3-$a" --force > "$R/ft-lr1e-3-$a.log" 2>&1
  fi
  evaluate "$a-finetuned-lr1e-3" "$(final "$R/ft-lr1e-3-$a" $FT_STEPS)"
done
for a in "${ARCHS[@]}"; do
  if [ ! -d "$(final "$R/ft-long-$a" $LONG_STEPS)" ]; then
    log "finetuning converted $a with 4x the tokens ($LONG_STEPS updates)"
    $G train --init-from "$R/conv-$a" --steps $LONG_STEPS --lr $FT_LR --warmup-steps 10 --eval-every 30 "${COMMON[@]}" \
       --out "$R/ft-long-$a" --force > "$R/ft-long-$a.log" 2>&1
  fi
  evaluate "$a-finetuned-long" "$(final "$R/ft-long-$a" $LONG_STEPS)"
done

# 6. plots and report
TEACHER_TOKENS=$((TEACHER_STEPS * 1024))
tval=$(python3 -c "import json,sys; print(json.load(open('$R/eval-teacher.json'))['loss'])")
tlast=$(python3 -c "
import json
v=[json.loads(l) for l in open('$R/teacher/metrics.jsonl')]
print([r for r in v if r['type']=='val'][-1]['val_loss'])")
$G plot-curves --out docs/t2r/finetune.png --title "T2R finetuning of the converted Llama teacher (validation: first 4,096 tokens of persuasion)" \
   --reference "teacher (Llama, step $TEACHER_STEPS)=$tlast" \
   GSA="$R/ft-gsa/metrics.jsonl" GLA="$R/ft-gla/metrics.jsonl" RetNet="$R/ft-retnet/metrics.jsonl" \
   "Llama teacher, finetuned the same way (control)=$R/ft-llama/metrics.jsonl"
$G plot-curves --out docs/t2r/finetune-long.png --title "T2R finetuning with 4x the tokens ($LONG_STEPS updates)" \
   --reference "teacher (Llama, step $TEACHER_STEPS)=$tlast" \
   GSA="$R/ft-long-gsa/metrics.jsonl" GLA="$R/ft-long-gla/metrics.jsonl" RetNet="$R/ft-long-retnet/metrics.jsonl"
$G plot-curves --out docs/t2r/budget.png --x tokens --title "Same total budget: teacher + finetuning vs from scratch" \
   "Llama teacher=$R/teacher/metrics.jsonl" \
   "GSA converted+ft=$R/ft-gsa/metrics.jsonl@$TEACHER_TOKENS" "GLA converted+ft=$R/ft-gla/metrics.jsonl@$TEACHER_TOKENS" \
   "RetNet converted+ft=$R/ft-retnet/metrics.jsonl@$TEACHER_TOKENS" \
   "GSA scratch=$R/scratch-gsa/metrics.jsonl" "GLA scratch=$R/scratch-gla/metrics.jsonl" "RetNet scratch=$R/scratch-retnet/metrics.jsonl"
python3 scripts/t2r-report.py "$R" $TEACHER_STEPS $FT_STEPS $SCRATCH_STEPS $FT_LR $PRETRAIN_LR $SLOTS
log "done: docs/T2R.md, docs/t2r/results.json, docs/t2r/*.png"
