#!/usr/bin/env bash
# The CUDA backend's check for a GPU session, in two steps (shared/gpu-host/NOTES.md's method: build
# nothing on the GPU host, one prepared run, full logs to $OUT, a short table last).
#
#   Here, on a build machine:   scripts/gpu-check.sh --prepare
#       builds trainer/target/internlmj.jar and .gpu-host/ (a Java 25 runtime and run.sh); carry both
#       (device run: carry [".gpu-host", "trainer/target/internlmj.jar"]).
#   On the GPU host:            bash scripts/gpu-check.sh [--train] [--torch]
#       1. nvidia-smi and nvcc's ptxas report (registers, spills) of every kernel source for sm_90;
#       2. hooks (off by default): --torch runs shared/gpu-host/torch_baseline.py, the PyTorch baseline
#          every throughput claim is compared with; --train runs a training step benchmark once the
#          trainer runs on cuda (it says so and skips until then);
#       3. internlmj gpu-check: bindings against the host's headers, every CUDA op against the CPU backend,
#          fused vs unfused attention, cuBLASLt, NCCL, timings. Its summary table comes last.
#   Logs go to $OUT (the device tool's output folder) or ./gpu-check-out.
set -uo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

if [ "${1:-}" = "--prepare" ]; then
  source "$root/scripts/find-java.sh"
  mvn -B -q -ntp -DskipTests package || { echo "gpu-check: the build failed" >&2; exit 1; }
  bundle=""
  for b in "$root/shared/gpu-host/make-bundle.sh" "$root/../shared/gpu-host/make-bundle.sh"; do
    [ -f "$b" ] && bundle=$b && break
  done
  [ -n "$bundle" ] || { echo "gpu-check: shared/gpu-host/make-bundle.sh not found beside or inside $root" >&2; exit 1; }
  bash "$bundle" || { echo "gpu-check: $bundle failed (above); .gpu-host/ needs a Java 25 runtime and run.sh" >&2; exit 1; }
  ls -la trainer/target/internlmj.jar .gpu-host/
  echo "prepared: carry .gpu-host and trainer/target/internlmj.jar, then run: bash scripts/gpu-check.sh"
  exit 0
fi

train=0
torch=0
for a in "$@"; do
  case "$a" in
    --train) train=1 ;;
    --torch) torch=1 ;;
    *) echo "usage: scripts/gpu-check.sh [--prepare | --train --torch]" >&2; exit 2 ;;
  esac
done

out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
jar=$root/trainer/target/internlmj.jar
if [ ! -f "$jar" ] || [ ! -f "$root/.gpu-host/run.sh" ]; then
  echo "gpu-check: $jar or .gpu-host/run.sh missing: run scripts/gpu-check.sh --prepare on the build machine and carry both" >&2
  exit 1
fi
run() { bash "$root/.gpu-host/run.sh" "$@"; }

{
  echo "== host"
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  echo "== ptxas report ($nvcc, sm_90)"
  if [ -x "$nvcc" ]; then
    src=$root/tensor/src/main/resources/org/internlmj/tensor/cuda
    for f in "$src"/*.cu; do
      echo "-- $(basename "$f")"
      "$nvcc" -cubin -arch=sm_90 -std=c++17 -Xptxas -v -I"$src" -o /tmp/gpu-check.cubin "$f" 2>&1 \
        | grep -E "error|Compiling entry|registers|spill" | sed 's/ptxas info    : //'
    done
  else
    echo "no nvcc on this host"
  fi
} 2>&1 | tee "$out/ptxas.log" | tail -n 3

if [ "$torch" = 1 ]; then
  echo "== PyTorch baseline (shared/gpu-host/torch_baseline.py)" | tee "$out/torch.log"
  run python3 "$root/.gpu-host/torch_baseline.py" 2048 16 16 32000 2048 4 2>&1 | tee -a "$out/torch.log" | tail -n 5
fi

if [ "$train" = 1 ]; then
  echo "== training step on cuda" | tee "$out/train.log"
  if run java -jar "$jar" train --help 2>&1 | grep -q -- "--device"; then
    run java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -jar "$jar" \
      train configs/gpu-1b.yaml --device cuda:0 --set train.total_steps=20 2>&1 | tee -a "$out/train.log" | tail -n 5
  else
    echo "skipped: the trainer has no --device option yet (it trains on the CPU backend only)" | tee -a "$out/train.log"
  fi
fi

echo "== internlmj gpu-check"
export INTERNLMJ_KERNEL_CACHE=${INTERNLMJ_KERNEL_CACHE:-/tmp/internlmj-kernels}
run java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xss4m \
  -Xmx32g -jar "$jar" gpu-check --out "$out" > "$out/gpu-check.console" 2>&1
status=$?
grep -E "^(FAIL|== )" "$out/gpu-check.log" | grep -v "^== summary" | tail -n 40
sed -n '/^== summary/,$p' "$out/gpu-check.log"
[ -s "$out/gpu-check.log" ] || tail -n 40 "$out/gpu-check.console"
exit $status
