#!/bin/sh
# A build without MAMBA_CUDA has no CUDA in it: no CUDA runtime or cuBLAS symbol in the library
# (defined or needed), and no CUDA library among a program's dynamic dependencies.
# Usage: check_no_cuda.sh LIBRARY.a PROGRAM
set -u
lib=$1 prog=$2
# Symbol names only (the last field): paths may contain "cuda" themselves.
syms=$(nm "$lib" 2>/dev/null | awk 'NF >= 2 { print $NF }') || { echo "nm failed on $lib"; exit 1; }
[ -n "$syms" ] || { echo "no symbols read from $lib"; exit 1; }
found=$(printf '%s\n' "$syms" | grep -iE 'cuda|cublas|nvrtc|__nv_')
if [ -n "$found" ]; then
  echo "CUDA symbols in $lib:"; printf '%s\n' "$found" | head -20; exit 1
fi
needed=$(readelf -d "$prog" 2>/dev/null | grep NEEDED) || { echo "readelf failed on $prog"; exit 1; }
if printf '%s\n' "$needed" | grep -iE 'cuda|cublas'; then
  echo "$prog links a CUDA library"; exit 1
fi
echo "no CUDA in $lib or $prog: OK"
