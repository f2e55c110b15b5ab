#!/bin/sh
# Runs bench_seqedit (the first argument) with the remaining arguments.
#
# OpenBLAS picks its kernels from the CPU model. Debian 12's OpenBLAS (0.3.21) does not know
# some recent or virtualised Xeon models and falls back to its generic "Prescott" kernels,
# 4× slower than Eigen's own. Unless OPENBLAS_CORETYPE is already set, it is chosen here from
# the instruction sets the CPU reports: SkylakeX with AVX-512, Haswell with AVX2 and FMA.
# The benchmark records the kernel set OpenBLAS used (context "openblas_core").
set -eu
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  flags="$(grep -m1 '^flags' /proc/cpuinfo || true)"
  case "$flags" in
    *" avx512f "*" avx512bw "*|*" avx512bw "*" avx512f "*) OPENBLAS_CORETYPE=SkylakeX; export OPENBLAS_CORETYPE ;;
    *" avx2 "*) case "$flags" in *" fma "*) OPENBLAS_CORETYPE=Haswell; export OPENBLAS_CORETYPE ;; esac ;;
  esac
fi
exec "$@"
