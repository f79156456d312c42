#!/usr/bin/env bash
# Every figure of models/README.md, from the commands that measure it.  Stages, in order (each is
# resumable: a run that exists is resumed, a result file that exists is kept):
#
#   bash models/results.sh data        # the default dataset (4 h, 20 users)
#   bash models/results.sh lm          # text split (needs Debian's wordnet-base), LMs, perplexities
#   bash models/results.sh teacher     # the teacher, 1500 updates in bfloat16 (resumable: run it again to go on)
#   bash models/results.sh students    # students from scratch, 1500 updates: lookahead 96 ms (the baseline), 0 and 64 ms
#   bash models/results.sh scratch     # only the baseline student from scratch (the first run of `students`)
#   bash models/results.sh distill     # the student distilled from the teacher (after `teacher`)
#                                      # STEPS=3000 ... scratch / distill: the doubled schedule, runs named *-s3000
#   bash models/results.sh eval        # cross-user CER of every run (greedy, char-lm, beam-lm)
#   bash models/results.sh lmgain [RUN] # CER of each LM on RUN (default student-kd): new vs the wordfreq LMs
#   bash models/results.sh bundle      # the default bundle: export, adaptation statistics, demo recording
#   bash models/results.sh lookahead   # what a person sees at lookahead 0 / 64 / 96 ms (the students)
#   bash models/results.sh commit      # char-lm commit settings tried on validation sessions (default bundle)
#   bash models/results.sh tune        # the chosen ones into the default bundle (TUNE="k=v ..." for others)
#   bash models/results.sh latency     # what a person sees: decoders x commit settings (default bundle)
#   bash models/results.sh adapt       # label-free adaptation on / off, held-out users
#   bash models/results.sh personal    # finetune per held-out user; calibration curve
#   bash models/results.sh calib-steps # the 3-minute calibration with CALIB_STEPS (300) updates
#   bash models/results.sh keep        # teacher + scratch student (weights only) into models/checkpoints/;
#                                      # an unfinished run whole (optimizer too), to resume next session
#   bash models/results.sh restore     # runs/ from models/checkpoints/ on a new machine
#   bash models/results.sh gestures    # issue 15: the gestures dataset, the student-size EMG-only model (2500
#                                      # updates, ~50 min alone), CLER and event latency of the held-out user
#   bash models/results.sh gestures-lstm  # the LSTM of the same size, recipe and budget (the comparison)
#   bash models/results.sh gestures-personal  # the gestures models (EMG only, fused) fine-tuned on held-out user 003
#   bash models/results.sh handwriting-personal  # the fused handwriting model fine-tuned on held-out user 006
#   bash models/results.sh gestures-difficulty [D ...]  # EMG-only CLER at difficulty 0.4, 0.7, 1.0 (800 updates)
#   bash models/results.sh handwriting-difficulty [D ...]  # the fused handwriting model at difficulty 0.4, 0.7,
#                                      # 1.0 (3 h of data each, 1500 updates), CER with and without its IMU
#   bash models/results.sh gestures-imu   # the same model with the band's IMU fused (the fusion ablation):
#                                      # the shipped bundle models/default-gestures with its demo recording
#   bash models/results.sh handwriting    # issue 15: 8 h of handwriting data, the student-size EMG-only CTC
#                                      # model (2500 updates, ~45 min alone), greedy CER of the held-out users
#   bash models/results.sh handwriting-imu  # the same model with the band's IMU fused (the fusion ablation):
#                                      # the shipped bundle models/default-handwriting with its demo recording
#
# JSON results land in models/results/ (committed: every table row names its file).  Runs go to
# runs/ (not committed).  One torch thread per run: two runs side by side on the 2-core machine
# (THREADS=2 for a run alone).  The schedule is sized so that everything fits in one 3-hour
# session on that machine (teacher || students, then distill): STEPS=3000 for longer runs.
set -euo pipefail
cd "$(dirname "$0")/.."
E=${EMGRT:-.venv/bin/emgrt}
DATA=data/default
OUT=models/results
mkdir -p "$OUT" runs
USERS="41701629 54615211 81359837 12347728"
STEPS=${STEPS:-1500}
SUF=""; [ "$STEPS" = 1500 ] || SUF="-s$STEPS"  # a longer schedule is another run, never a resume of this one
THREADS=${THREADS:-1}

calib_bundle() {  # the calibrations' starting bundle: models/default with char-lm decoded without its
  # commit rules (the accuracy reference, so every point is comparable); prints its path
  local b=runs/bundle-calib
  [ -d "$b" ] || { cp -r models/default "$b" && "$E" export tune "$b" --decoder char-lm --decoder-option commit_depth=off \
      --decoder-option commit_prob=off --decoder-option hypothesis_hold=off >&2; }
  echo "$b"
}

calibration_curve() {  # calibration_curve BUNDLE STEPS MINUTES...: emgrt calibrate on each held-out user's
  # first M minutes of training typing, scored on the user's test session; files calibrate-U-M.json
  # (150 updates, the default) or calibrate-U-M-sSTEPS.json
  local b=$1 steps=$2; shift 2
  local suf=""; [ "$steps" = 150 ] || suf="-s$steps"
  for M in "$@"; do
    for U in $USERS; do
      [ -s "$OUT/calibrate-$U-$M$suf.json" ] && continue
      TRAIN=$(python3 -c "import json; s=json.load(open('$DATA/splits.json'))['personal']['$U']; print(' '.join('$DATA/'+n+'.hdf5' for n in s['train']))")
      TEST=$(python3 -c "import json; s=json.load(open('$DATA/splits.json'))['personal']['$U']; print('$DATA/'+s['test'][0]+'.hdf5')")
      rm -rf "runs/calib-$U-$M$suf"
      json "$OUT/calibrate-$U-$M$suf.json" "$E" calibrate --from-recording $TRAIN --held-out "$TEST" --minutes $M \
          --bundle "$b" --out "runs/calib-$U-$M$suf" --steps "$steps" --threads 2 --json
    done
  done
}

ship() {  # ship RUN BUNDLE DATA RECORDING START: export RUN with 30 s of RECORDING from START s as its
  # demo recording (a held-out user's, never trained on), sealed and verified; kept if it exists
  local run=$1 bundle=$2 data=$3 rec=$4 start=$5
  [ -f "$bundle/manifest.json" ] && return 0
  "$E" export "runs/$run" --out "$bundle"
  "$E" data cut "$data/$rec" "$bundle/demo-session.hdf5" --start "$start" --seconds 30
  "$E" export seal "$bundle"
  "$E" export verify "$bundle" --data "$data" --write-card
}

json() {  # json FILE CMD...: run CMD (its stdout is JSON) into FILE unless FILE exists
  local f=$1; shift
  [ -s "$f" ] && return 0
  "$@" > "$f.tmp" && mv "$f.tmp" "$f"
}

finished() {  # finished RUN: its schedule ran to the end (metrics.jsonl reached run.json's total_steps)
  [ -f "runs/$1/run.json" ] && python3 -c "import json, sys
t = json.load(open('runs/$1/run.json'))['total_steps']
s = max(json.loads(l).get('step', 0) for l in open('runs/$1/metrics.jsonl'))
sys.exit(0 if s >= t else 1)"
}

train() {  # train RUN ARGS...: emgrt train/distill, resumed when RUN/last.pt exists
  local run=$1; shift
  local resume=""
  [ -f "runs/$run/last.pt" ] && resume=--resume
  "$E" "$@" --data "$DATA" --out "runs/$run" --threads "$THREADS" $resume
}

case "${1:-}" in
data)
  "$E" synth "$DATA" --users 20 --sessions 4 --minutes 3 --seed 0 --test-users 4 ;;
lm)
  "$E" lm corpus --wordnet /usr/share/wordnet --out emgrt/text
  "$E" lm build --kind char --order 6 --out models/lm/char6.arpa.gz --prune 0 1 2 3 4
  "$E" lm build --kind word --order 3 --out models/lm/word3.arpa.gz --prune 2 2
  json "$OUT/ppl-char6.json" "$E" lm perplexity models/lm/char6.arpa.gz --kind char --json
  json "$OUT/ppl-word3.json" "$E" lm perplexity models/lm/word3.arpa.gz --kind word --json ;;
teacher)
  train teacher train --recipe models/recipes/calib-small.toml --set train.max_steps=$STEPS --set train.max_minutes=0 \
      --set train.precision=bf16 ;;
scratch)
  train "student-scratch$SUF" train --recipe models/recipes/student.toml --set train.max_steps=$STEPS ;;
students)
  train "student-scratch$SUF" train --recipe models/recipes/student.toml --set train.max_steps=$STEPS
  for LA in 0 8; do
    train "student-la$LA" train --recipe models/recipes/student.toml --set train.max_steps=$STEPS --set model.lookahead=$LA
  done ;;
distill)
  train "student-kd$SUF" distill --recipe models/recipes/student.toml --teacher runs/teacher --set train.max_steps=$STEPS ;;
eval)
  for RUN in teacher student-scratch student-kd student-la0 student-la8 student-scratch-s3000 student-kd-s3000; do
    finished "$RUN" || { echo "runs/$RUN: not finished, skipped"; continue; }
    json "$OUT/eval-$RUN-greedy.json" "$E" eval "runs/$RUN" --data "$DATA" --split test --json
    json "$OUT/eval-$RUN-char-lm.json" "$E" eval "runs/$RUN" --data "$DATA" --split test --decoder char-lm --json
  done
  ! finished student-kd || json "$OUT/eval-student-kd-beam-lm.json" "$E" eval runs/student-kd --data "$DATA" --split test \
      --decoder beam-lm --json ;;
lmgain)
  RUN=${2:-student-kd}
  finished "$RUN" || { echo "runs/$RUN: not finished"; exit 1; }
  for K in char6 word3; do  # the previous shipped LMs (wordfreq pseudo-sentences)
    [ -s "runs/wordfreq-$K.arpa.gz" ] || git show "38b8c31:models/lm/$K.arpa.gz" > "runs/wordfreq-$K.arpa.gz"
  done
  json "$OUT/eval-$RUN-beam-lm.json" "$E" eval "runs/$RUN" --data "$DATA" --split test --decoder beam-lm --json
  json "$OUT/eval-$RUN-char-lm-wordfreq.json" "$E" eval "runs/$RUN" --data "$DATA" --split test --decoder char-lm \
      --lm runs/wordfreq-char6.arpa.gz --json
  json "$OUT/eval-$RUN-beam-lm-wordfreq.json" "$E" eval "runs/$RUN" --data "$DATA" --split test --decoder beam-lm \
      --lm runs/wordfreq-word3.arpa.gz --json ;;
bundle)
  B=models/default
  rm -rf "$B.new" && "$E" export runs/student-kd --out "$B.new" --int8 --char-lm models/lm/char6.arpa.gz
  TEST=$(python3 -c "import json; print(json.load(open('$DATA/splits.json'))['generic']['test'][0])")
  "$E" data cut "$DATA/$TEST.hdf5" "$B.new/demo-session.hdf5" --start 1 --seconds 25
  "$E" export adapt "$B.new" --data "$DATA" --off
  "$E" export verify "$B.new" --data "$DATA" --windows 8 --write-card
  rm -rf "$B" && mv "$B.new" "$B" && "$E" export seal "$B" ;;
lookahead)  # what a person sees at each lookahead (students from scratch, char-lm)
  for RUN in student-scratch student-la0 student-la8; do
    finished "$RUN" || { echo "runs/$RUN: not finished, skipped"; continue; }
    [ -d "runs/bundle-$RUN" ] || "$E" export "runs/$RUN" --out "runs/bundle-$RUN" --char-lm models/lm/char6.arpa.gz
    json "$OUT/latency-$RUN-char-lm-defaults.json" "$E" latency "$DATA" --split test --json --bundle "runs/bundle-$RUN" --decoder char-lm
  done
  for RUN in student-scratch student-la0 student-la8; do
    [ -d "runs/bundle-$RUN" ] || continue
    json "$OUT/latency-$RUN-char-lm.json" "$E" latency "$DATA" --split test --json --bundle "runs/bundle-$RUN" --decoder char-lm \
        --decoder-option commit_depth=4 --decoder-option commit_prob=0.99 --decoder-option hypothesis_hold=1.0
  done ;;
commit)  # char-lm commit settings tried on validation sessions of the training users (never the test
         # users): each candidate is one --decoder-option set; the best goes into the bundle (`tune`)
  V="$E latency $DATA --split val --limit 4 --json --bundle models/default --decoder char-lm"
  OFF="--decoder-option commit_depth=off --decoder-option commit_prob=off --decoder-option hypothesis_hold=off"
  json "$OUT/commit-val-defaults.json" $V $OFF
  while read -r NAME OPTS; do
    ARGS=""
    for O in $OPTS; do ARGS="$ARGS --decoder-option $O"; done
    json "$OUT/commit-val-$NAME.json" $V $OFF $ARGS
  done <<'CANDIDATES'
d4-p99-h1 commit_depth=4 commit_prob=0.99 hypothesis_hold=1.0
d3-h1 commit_depth=3 hypothesis_hold=1.0
d4-h1 commit_depth=4 hypothesis_hold=1.0
d5-h1 commit_depth=5 hypothesis_hold=1.0
p999-h1 commit_prob=0.999 hypothesis_hold=1.0
d4-p999-h1 commit_depth=4 commit_prob=0.999 hypothesis_hold=1.0
d4-h2 commit_depth=4 hypothesis_hold=2.0
d4-e6-h1 commit_depth=4 endpoint_frames=6 hypothesis_hold=1.0
l16-h1 commit_lag=16 hypothesis_hold=1.0
l20-h1 commit_lag=20 hypothesis_hold=1.0
s12-h1 commit_stable=12 hypothesis_hold=1.0
s16-h1 commit_stable=16 hypothesis_hold=1.0
s20-h1 commit_stable=20 hypothesis_hold=1.0
d5-p99-h1 commit_depth=5 commit_prob=0.99 hypothesis_hold=1.0
d5-p999-h1 commit_depth=5 commit_prob=0.999 hypothesis_hold=1.0
d5-p98-h1 commit_depth=5 commit_prob=0.98 hypothesis_hold=1.0
d5-p97-h1 commit_depth=5 commit_prob=0.97 hypothesis_hold=1.0
d5-p95-h1 commit_depth=5 commit_prob=0.95 hypothesis_hold=1.0
d5-p9-h1 commit_depth=5 commit_prob=0.9 hypothesis_hold=1.0
d5-p99-l30-h1 commit_depth=5 commit_prob=0.99 commit_lag=30 hypothesis_hold=1.0
CANDIDATES
  ;;
tune)  # the commit settings chosen on validation (`commit`) into the default bundle
  # chosen on validation (models/README.md, "Commit settings"): within 0.5 CER of the defaults at the lowest commit p50
  TUNE=${TUNE:-"commit_depth=5 commit_prob=0.99 hypothesis_hold=1.0"}
  "$E" export tune models/default --decoder char-lm $(for O in $TUNE; do echo --decoder-option "$O"; done) ;;
latency)
  L="$E latency $DATA --split test --json --bundle models/default"
  json "$OUT/latency-greedy.json" $L --decoder greedy
  json "$OUT/latency-beam-lm.json" $L --decoder beam-lm
  json "$OUT/latency-char-lm-defaults.json" $L --decoder char-lm \
      --decoder-option commit_depth=off --decoder-option commit_prob=off --decoder-option hypothesis_hold=off
  json "$OUT/latency-char-lm.json" $L --decoder char-lm ;;
adapt)
  for A in on off; do
    json "$OUT/adapt-$A-greedy.json" "$E" latency "$DATA" --split test --json --bundle models/default --decoder greedy --adapt $A
    json "$OUT/adapt-$A-char-lm.json" "$E" latency "$DATA" --split test --json --bundle models/default --decoder char-lm --adapt $A
  done ;;
personal)
  # The calibration curve starts from models/default's weights with char-lm decoded offline without
  # the bundle's commit rules (the accuracy reference), so every point is comparable.
  B=$(calib_bundle)
  for U in $USERS; do  # all of each user's training typing, the finetune recipe
    train "student-kd-$U" finetune --from runs/student-kd --user "$U" --recipe models/recipes/finetune.toml
    json "$OUT/personal-$U-greedy.json" "$E" eval "runs/student-kd-$U" --data "$DATA" --split test --user "$U" --json
    json "$OUT/personal-$U-char-lm.json" "$E" eval "runs/student-kd-$U" --data "$DATA" --split test --user "$U" --decoder char-lm --json
  done
  calibration_curve "$B" 150 3 6 1 0.5 2  # the target's point (3 min) first for every user, then the rest
  # The demo's personal bundle (`emgrt demo --compare`): the demo user's own training typing, never
  # the test session the demo recording is cut from.
  U=41701629  # the user models/default/demo-session.hdf5 is cut from
  TRAIN=$(python3 -c "import json; s=json.load(open('$DATA/splits.json'))['personal']['$U']; print(' '.join('$DATA/'+n+'.hdf5' for n in s['train']))")
  TEST=$(python3 -c "import json; s=json.load(open('$DATA/splits.json'))['personal']['$U']; print('$DATA/'+s['test'][0]+'.hdf5')")
  [ -d models/personal ] || json "$OUT/calibrate-demo-user.json" "$E" calibrate --from-recording $TRAIN --held-out "$TEST" \
      --bundle models/default --out models/personal --threads 2 --json
  "${PY:-.venv/bin/python}" -m emgrt.viz.calibration_plot "$OUT" --out "$OUT/calibration-curve.png" ;;
calib-steps)  # issue 13's target point (3 min of typing) with a longer fine-tuning schedule: CALIB_STEPS
  # updates (default 300; the best checkpoint is still picked on the calibration's own val piece)
  B=$(calib_bundle)
  calibration_curve "$B" "${CALIB_STEPS:-300}" 3 ;;
keep)  # the teacher and the scratch baseline, without optimizer state, so a later session (this
       # machine keeps nothing between sessions) distills and compares without retraining them
  for RUN in teacher student-scratch student-scratch-s3000 student-kd-s3000 gestures-student gestures-student-003 gestures-lstm gestures-imu; do
    [ -d "runs/$RUN" ] || continue
    if ! finished "$RUN"; then  # unfinished: its last checkpoint whole (optimizer too), so the next session resumes it
      [ -f "runs/$RUN/last.pt" ] || { echo "runs/$RUN: no checkpoint yet, not kept"; continue; }
      mkdir -p "models/checkpoints/$RUN"
      cp "runs/$RUN/run.json" "runs/$RUN/metrics.jsonl" "runs/$RUN/last.pt" "runs/$RUN/best.pt" "models/checkpoints/$RUN/"
      echo "runs/$RUN: unfinished, kept to resume (restore, then its stage again)"; continue
    fi
    rm -f "models/checkpoints/$RUN/last.pt"
    mkdir -p "models/checkpoints/$RUN"
    cp "runs/$RUN/run.json" "runs/$RUN/metrics.jsonl" "models/checkpoints/$RUN/"
    .venv/bin/python -c "import sys, torch
c = torch.load(sys.argv[1], weights_only=True)
torch.save({k: v for k, v in c.items() if k not in ('optimizer', 'scheduler', 'rng', 'epoch_rng')}, sys.argv[2])" \
        "runs/$RUN/best.pt" "models/checkpoints/$RUN/best.pt"
  done ;;
gestures)  # the discrete-gestures task: data, the EMG-only model, the held-out user's figures (its bundle
           # runs/bundle-gestures-student; the shipped one is gestures-imu's)
  GD=data/gestures GB=runs/bundle-gestures-student
  [ -f "$GD/discrete_gestures_corpus.csv" ] || "$E" synth --task gestures "$GD" --seed 0
  finished gestures-student || DATA=$GD train gestures-student train --recipe models/recipes/gestures.toml --set model.name=L2d128 \
      --set model.band_width=56 --set train.max_steps=2500 --set train.val_every=250 --set train.max_minutes=0
  [ -f "$GB/manifest.json" ] || "$E" export runs/gestures-student --out "$GB"
  json "$OUT/eval-gestures-student-test.json" "$E" eval runs/gestures-student --data "$GD" --split test --json
  json "$OUT/eval-gestures-student-val.json" "$E" eval runs/gestures-student --data "$GD" --split val --json
  json "$OUT/latency-gestures-test.json" "$E" latency "$GD" --split test --bundle "$GB" --json ;;
handwriting)  # the handwriting task: data, the EMG-only model, the held-out users' CER (the shipped bundle
              # is handwriting-imu's)
  HD=data/handwriting-8h
  [ -f "$HD/handwriting_corpus.csv" ] || "$E" synth --task handwriting "$HD" --users 10 --sessions 4 --minutes 12 --seed 0 \
      --test-users 2 --workers 2
  finished handwriting-student || DATA=$HD train handwriting-student train --recipe models/recipes/handwriting.toml \
      --set model.name=L2d128 --set model.band_width=56 --set train.max_steps=2500 --set train.val_every=250 --set train.max_minutes=0
  json "$OUT/eval-handwriting-student-test.json" "$E" eval runs/handwriting-student --data "$HD" --split test --json
  json "$OUT/eval-handwriting-student-val.json" "$E" eval runs/handwriting-student --data "$HD" --split val --json ;;
handwriting-imu)  # the fusion ablation: handwriting-student's recipe, data and budget with the IMU fused
                  # (dropped from a quarter of the training windows), scored with the IMU and without
  HD=data/handwriting-8h
  finished handwriting-imu || DATA=$HD train handwriting-imu train --recipe models/recipes/handwriting.toml \
      --set model.name=L2d128 --set model.band_width=56 --set train.max_steps=2500 --set train.val_every=250 --set train.max_minutes=0 \
      --set model.imu=6 --set data.imu=true --set data.augment.imu_dropout=0.25
  ship handwriting-imu models/default-handwriting "$HD" handwriting_user_006_dataset_003.hdf5 60  # held-out user 006's last session
  json "$OUT/latency-handwriting-imu-test.json" "$E" latency "$HD" --split test --bundle models/default-handwriting --no-offline --json
  json "$OUT/latency-handwriting-imu-test-120s.json" "$E" latency "$HD" --split test --bundle models/default-handwriting \
      --max-seconds 120 --json   # streamed == offline (the whole-window graph over 2 minutes at a time)
  for S in test val; do
    json "$OUT/eval-handwriting-imu-$S.json" "$E" eval runs/handwriting-imu --data "$HD" --split $S --json
    json "$OUT/eval-handwriting-imu-$S-without-imu.json" "$E" eval runs/handwriting-imu --data "$HD" --split $S --without-imu --json
  done ;;
gestures-personal)  # held-out user 003: earlier recordings train, the one before the last val, the last test
  GD=data/gestures
  finished gestures-student-003 || "$E" finetune --from runs/gestures-student --user 003 --data "$GD" \
      --out runs/gestures-student-003 --max-steps 300 --set train.val_every=50 --threads "$THREADS"
  finished gestures-imu-003 || "$E" finetune --from runs/gestures-imu --user 003 --data "$GD" \
      --out runs/gestures-imu-003 --max-steps 300 --set train.val_every=50 --threads "$THREADS"
  for RUN in gestures-student gestures-student-003 gestures-imu gestures-imu-003; do
    json "$OUT/eval-$RUN-user003-test.json" "$E" eval "runs/$RUN" --data "$GD" --split test --user 003 --json
  done ;;
gestures-difficulty)  # the generator's difficulty knob against the EMG-only model's CLER at a short budget
                      # (800 updates each; d = 0.7 is the default, data/gestures): difficulty D [D ...]
  shift
  for D in "${@:-0.4 0.7 1.0}"; do
    GD=data/gestures; [ "$D" = 0.7 ] || GD=data/gestures-d$D
    [ -f "$GD/discrete_gestures_corpus.csv" ] || "$E" synth --task gestures "$GD" --seed 0 --difficulty "$D"
    finished gestures-d$D || DATA=$GD train gestures-d$D train --recipe models/recipes/gestures.toml --set model.name=L2d128 \
        --set model.band_width=56 --set train.max_steps=800 --set train.val_every=200 --set train.max_minutes=0
    json "$OUT/eval-gestures-d$D-test.json" "$E" eval runs/gestures-d$D --data "$GD" --split test --json
  done ;;
handwriting-difficulty)  # the generator's difficulty knob against the fused handwriting model at a short
                         # budget (3 h of data per level: 10 users x 3 sessions x 6 min, 1500 updates),
                         # scored with its IMU and with it absent (what the EMG alone carries): D [D ...]
  shift
  for D in "${@:-0.4 0.7 1.0}"; do
    HD=data/handwriting-3h-d$D
    [ -f "$HD/handwriting_corpus.csv" ] || "$E" synth --task handwriting "$HD" --users 10 --sessions 3 --minutes 6 \
        --seed 0 --test-users 2 --workers 1 --difficulty "$D"
    finished handwriting-d$D || DATA=$HD train handwriting-d$D train --recipe models/recipes/handwriting.toml \
        --set model.name=L2d128 --set model.band_width=56 --set train.max_steps=1500 --set train.val_every=250 \
        --set train.max_minutes=0 --set model.imu=6 --set data.imu=true --set data.augment.imu_dropout=0.25
    json "$OUT/eval-handwriting-d$D-test.json" "$E" eval runs/handwriting-d$D --data "$HD" --split test --json
    json "$OUT/eval-handwriting-d$D-test-without-imu.json" "$E" eval runs/handwriting-d$D --data "$HD" --split test \
        --without-imu --json
  done ;;
handwriting-personal)  # held-out user 006 (the demo's): two sessions train, the third val, the last test
  HD=data/handwriting-8h
  finished handwriting-imu-006 || "$E" finetune --from runs/handwriting-imu --user 006 --data "$HD" \
      --out runs/handwriting-imu-006 --max-steps 300 --set train.val_every=50 --threads "$THREADS"
  for RUN in handwriting-imu handwriting-imu-006; do
    json "$OUT/eval-$RUN-user006-test.json" "$E" eval "runs/$RUN" --data "$HD" --split test --user 006 --json
  done ;;
gestures-imu)  # the fusion ablation: gestures-student's recipe and budget with the IMU fused (dropped
                # from a quarter of the training windows, so the model also works without it)
  GD=data/gestures
  finished gestures-imu || DATA=$GD train gestures-imu train --recipe models/recipes/gestures.toml --set model.name=L2d128 \
      --set model.band_width=56 --set model.imu=6 --set data.imu=true --set data.augment.imu_dropout=0.25 \
      --set train.max_steps=2500 --set train.val_every=250 --set train.max_minutes=0
  ship gestures-imu models/default-gestures "$GD" discrete_gestures_user_003_dataset_002.hdf5 20  # held-out user 003's last session
  json "$OUT/latency-gestures-imu-test.json" "$E" latency "$GD" --split test --bundle models/default-gestures --json
  json "$OUT/eval-gestures-imu-test.json" "$E" eval runs/gestures-imu --data "$GD" --split test --json
  json "$OUT/eval-gestures-imu-val.json" "$E" eval runs/gestures-imu --data "$GD" --split val --json
  json "$OUT/eval-gestures-imu-test-without-imu.json" "$E" eval runs/gestures-imu --data "$GD" --split test --without-imu --json
  json "$OUT/eval-gestures-imu-val-without-imu.json" "$E" eval runs/gestures-imu --data "$GD" --split val --without-imu --json ;;
gestures-lstm)  # the recurrent comparison model: the gestures recipe with an LSTM in place of attention
  GD=data/gestures
  finished gestures-lstm || DATA=$GD train gestures-lstm train --recipe models/recipes/gestures.toml \
      --set 'model={arch="lstm", name="lstm", hidden=160, band_width=56}' \
      --set train.max_steps=2500 --set train.val_every=250 --set train.max_minutes=0
  json "$OUT/eval-gestures-lstm-test.json" "$E" eval runs/gestures-lstm --data "$GD" --split test --json
  json "$OUT/eval-gestures-lstm-val.json" "$E" eval runs/gestures-lstm --data "$GD" --split val --json ;;
restore)  # runs/ from models/checkpoints/ (evaluation and distillation read best.pt; a kept last.pt resumes)
  for D in models/checkpoints/*/; do
    RUN=$(basename "$D")
    [ -e "runs/$RUN" ] || { mkdir -p "runs/$RUN" && cp "$D"/* "runs/$RUN/"; }
  done ;;
*)
  sed -n '2,20p' "$0"; exit 2 ;;
esac
