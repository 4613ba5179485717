#!/usr/bin/env bash
# The installed package works on its own: `cmake --install` into an empty prefix, then
#  1. examples/minimal configured with find_package(mamba) against that prefix, built and run on
#     a fixture: its greedy ids must be the fixture's greedy_ids;
#  2. the same main.cpp built with `c++ $(pkg-config --cflags --libs --static mamba)`, same check;
#  3. tests/test_c_api.c built with the C compiler and pkg-config, run (the C API from C, linked
#     by `cc`, which needs the C++ runtime from mamba.pc's Libs.private);
# and the installed CMake files ask for none of the header-only build dependencies.
# Usage: check_install.sh CMAKE GENERATOR BUILD_DIR SOURCE_DIR CXX CC WORK_DIR
set -euo pipefail
cmake=$1 generator=$2 build=$3 src=$4 cxx=$5 cc=$6 work=$7
fixture=$src/tests/data/fixtures/mamba1-tiny

rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"

# One I64 tensor of a safetensors file as comma-separated ids: an 8-byte little-endian header
# length, the JSON header (whose "data_offsets" are relative to the end of it), then the data.
tensor_ids() {
  local file=$1 name=$2 hlen header offsets begin end
  hlen=$(od -An -t u8 -N 8 "$file" | tr -d ' ')
  header=$(head -c $((8 + hlen)) "$file" | tail -c "$hlen")
  offsets=$(printf '%s' "$header" | grep -o "\"$name\":{[^}]*}" |
            grep -o '"data_offsets":\[[0-9]*,[0-9]*\]' | grep -o '[0-9]*,[0-9]*')
  begin=${offsets%,*} end=${offsets#*,}
  od -An -v -t d8 -j $((8 + hlen + begin)) -N $((end - begin)) "$file" | tr -s ' \n' ',' |
    sed 's/^,//; s/,$//'
}
prompt=$(tensor_ids "$fixture/expected.safetensors" input_ids)
want=$(tensor_ids "$fixture/expected.safetensors" greedy_ids)
[ -n "$prompt" ] && [ -n "$want" ] || { echo "could not read the fixture's ids"; exit 1; }

check() {  # check WHAT OUTPUT
  if [ "$2" != "$want" ]; then
    printf '%s: got      %s\n%s: expected %s\n' "$1" "$2" "$1" "$want"; exit 1
  fi
  echo "$1: greedy ids OK"
}

# Users need neither Eigen, xsimd nor nlohmann_json: no line of the package (comments aside) may
# name them.
if find "$prefix" \( -name '*.cmake' -o -name '*.pc' \) -exec cat {} + | grep -v '^[[:space:]]*#' |
   grep -iE 'eigen|xsimd|nlohmann'; then
  echo "the installed package names a header-only build dependency"; exit 1
fi

"$cmake" -S "$src/examples/minimal" -B "$work/minimal" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" >"$work/configure.log"
"$cmake" --build "$work/minimal" >"$work/build.log"
check "find_package(mamba)" "$("$work/minimal/mamba-minimal" "$fixture" "$prompt" 16)"

pc=$(dirname "$(find "$prefix" -name mamba.pc)")
flags=$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs --static mamba)
# shellcheck disable=SC2086  # flags are words
"$cxx" -std=c++17 -O1 "$src/examples/minimal/main.cpp" -o "$work/minimal-pc" $flags
check "pkg-config (c++)" "$("$work/minimal-pc" "$fixture" "$prompt" 16)"

# shellcheck disable=SC2086
"$cc" -std=c11 -O1 "$src/tests/test_c_api.c" -o "$work/test_c_api-pc" \
  -DMAMBA_TEST_DATA="\"$src/tests/data\"" $flags
"$work/test_c_api-pc" >"$work/test_c_api.log" || { cat "$work/test_c_api.log"; exit 1; }
echo "pkg-config (cc): test_c_api OK"
