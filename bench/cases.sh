# The cases of docs/performance.md, sourced by compare.sh and against.sh: `case_args C` sets
# `args` (the options of `StableOde.Bench run` and of the peer) and `repeat` (timed runs) for
# case C. SAMPLES3=s overrides S3's batch size (5000).
case_args() {
  case $1 in
    S1) args="--width 2 --samples 1000 --layers 1024 --final-time 20"; repeat=15 ;;
    S2) args="--width 8 --samples 4000 --layers 1024 --final-time 5"; repeat=7 ;;
    S3) args="--samples ${SAMPLES3:-5000} --layers 16 --final-time 6 --conv 6,28,28"; repeat=3 ;;
    *) echo "unknown case $1 (S1, S2 or S3)" >&2; return 1 ;;
  esac
}
