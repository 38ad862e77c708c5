# Sourced by ./internlmj and the distribution's bin/internlmj: finds the CUDA libraries the engine loads
# (driver, NVRTC, cuBLAS, cuBLASLt, NCCL) where the driver, CUDA toolkits, NVIDIA's HPC SDK, conda and pip
# (PyTorch's nvidia-* wheels) put them, and says on stderr what it found (INTERNLMJ_QUIET=1: silent).
# Folders outside the system library folders go to the front of LD_LIBRARY_PATH: the engine searches
# those first, and the libraries need them to find each other (cuBLAS loads cuBLASLt by soname).
# INTERNLMJ_CUDA_LIBS is left for `internlmj info`: what was found, or "none".

internlmj_cuda_names() { # prints the names of the CUDA libraries the engine uses that folder $1 holds
  local d=$1 names="" f
  for f in "$d"/libcuda.so.1 "$d"/libcuda.so; do [ -e "$f" ] && { names="$names driver"; break; }; done
  for f in "$d"/libnvrtc.so.13 "$d"/libnvrtc.so.12 "$d"/libnvrtc.so; do [ -e "$f" ] && { names="$names NVRTC"; break; }; done
  for f in "$d"/libcublas.so.13 "$d"/libcublas.so.12 "$d"/libcublas.so; do [ -e "$f" ] && { names="$names cuBLAS"; break; }; done
  for f in "$d"/libcublasLt.so.13 "$d"/libcublasLt.so.12 "$d"/libcublasLt.so; do [ -e "$f" ] && { names="$names cuBLASLt"; break; }; done
  for f in "$d"/libnccl.so.2 "$d"/libnccl.so; do [ -e "$f" ] && { names="$names NCCL"; break; }; done
  echo "${names# }"
}

internlmj_python_sites() { # prints the site-packages folders of the Python interpreters on PATH
  local py
  for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    timeout 10 "$py" -c 'import site, sys
for p in site.getsitepackages() + [site.getusersitepackages()]: print(p)' 2>/dev/null || true
  done
  if [ -n "${VIRTUAL_ENV:-}" ]; then ls -d "$VIRTUAL_ENV"/lib/python3*/site-packages 2>/dev/null || true; fi
  if [ -n "${CONDA_PREFIX:-}" ]; then ls -d "$CONDA_PREFIX"/lib/python3*/site-packages 2>/dev/null || true; fi
}

internlmj_find_cuda() {
  local -a candidates=() added=() report=()
  local d home names seen=":" site restore
  restore=$(shopt -p nullglob || true); shopt -s nullglob  # shopt -p fails when the option is off
  for home in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda $(ls -d /usr/local/cuda-* 2>/dev/null | sort -rV); do
    [ -n "$home" ] && candidates+=("$home/lib64" "$home/lib" "$home/targets/x86_64-linux/lib")
  done
  for d in /opt/nvidia/hpc_sdk/Linux_x86_64/*/{cuda,math_libs,comm_libs/nccl}/lib64; do candidates+=("$d"); done
  [ -n "${CONDA_PREFIX:-}" ] && candidates+=("$CONDA_PREFIX/lib")
  while IFS= read -r site; do
    [ -d "$site" ] || continue
    for d in "$site"/nvidia/*/lib "$site"/torch/lib; do candidates+=("$d"); done
  done < <(internlmj_python_sites)
  # the driver: installed with the GPU driver, in the system folders or where containers mount it
  candidates+=(/usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib64/nvidia /usr/local/nvidia/lib64 /usr/lib/wsl/lib)
  for d in "${candidates[@]}"; do
    [ -d "$d" ] || continue
    d=$(cd "$d" && pwd -P)
    case "$seen" in *":$d:"*) continue ;; esac
    seen="$seen$d:"
    names=$(internlmj_cuda_names "$d")
    [ -n "$names" ] || continue
    report+=("$d (${names// /, })")
    case "$d" in
      /usr/lib/x86_64-linux-gnu|/usr/lib64|/lib/x86_64-linux-gnu) ;;  # the loader searches these anyway
      *) case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) added+=("$d") ;; esac ;;
    esac
  done
  eval "$restore"
  if [ ${#added[@]} -gt 0 ]; then
    local joined
    joined=$(IFS=:; echo "${added[*]}")
    export LD_LIBRARY_PATH="$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  if [ ${#report[@]} -gt 0 ]; then
    INTERNLMJ_CUDA_LIBS=$(IFS=';'; echo "${report[*]}")
    INTERNLMJ_CUDA_LIBS=${INTERNLMJ_CUDA_LIBS//;/; }
    [ "${INTERNLMJ_QUIET:-0}" = 1 ] || echo "internlmj: CUDA libraries: $INTERNLMJ_CUDA_LIBS" >&2
  else
    INTERNLMJ_CUDA_LIBS="none"
  fi
  export INTERNLMJ_CUDA_LIBS
}
