#!/bin/sh
# mekivk as an installed library (ctest entry `consumer`): installs the
# build tree into a scratch prefix, checks what was installed, then builds
# the consumer program (this folder) against it
#   - with CMake: find_package(mekivk 0.2) -> mekivk::mekivk as C and as
#     C++, mekivk::mekivk_static as C;
#   - with pkg-config: cc and c++ on `pkg-config --cflags --libs mekivk`,
#     and cc on `--static` with libmekivk.a;
# and runs each: its tokens must equal the CLI's on the same model. Last,
# the installed libmekivk.so exports exactly the installed headers'
# functions.
#
#   run.sh BUILD_DIR MEKIVK_CLI CMAKE NM READELF     (env CC, CXX: compilers)
set -eu
build=$1 cli=$2 cmake=$3 nm=$4 readelf=$5
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
cxx=${CXX:-c++}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkv_consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "consumer: $*" >&2; exit 1; }
log=$tmp/log
quiet() { "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "failed: $*"; }; }

# ---- the installed tree: headers, libraries, pkg-config, CMake package; nothing else
p=$tmp/prefix
quiet "$cmake" --install "$build" --prefix "$p"
pc=$(find "$p" -name mekivk.pc)
[ -n "$pc" ] || fail "no mekivk.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
extra=$(cd "$p" && find . ! -type d | sed 's|^\./||' | { grep -Ev \
    '^include/mekivk/[a-z_]+\.h$|^lib[^/]*(/[^/]+)?/(libmekivk\.(a|so|so\.[0-9.]+)|pkgconfig/mekivk\.pc|cmake/mekivk/mekivk[A-Za-z-]*\.cmake)$' || true; })
[ -z "$extra" ] || fail "installed beyond the library: $extra"
for f in include/mekivk/mekivk.h include/mekivk/tokenizer.h include/mekivk/sampler.h; do
    [ -f "$p/$f" ] || fail "$f not installed"
done
for f in libmekivk.a libmekivk.so; do [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"; done
so=$(cd "$libdir" && ls libmekivk.so.*.*.* 2>/dev/null) || fail "no libmekivk.so.X.Y.Z installed"
ver=${so#libmekivk.so.}
soname=libmekivk.so.${ver%%.*}
[ "$(readlink "$libdir/$soname")" = "$so" ] || fail "$soname is no link to $so"
echo "consumer: installed $so (SONAME $soname), libmekivk.a, headers, mekivk.pc, mekivkConfig.cmake"

# the version file: 0.2 and 0.2.0 accepted; another minor or major refused
cat >"$tmp/ver.cmake" <<EOF
foreach(want 0.2 0.2.0 0.1 0.3 1.0)
  string(REPLACE "." ";" parts "\${want}")
  list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
  list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
  set(PACKAGE_FIND_VERSION_PATCH 0)
  set(PACKAGE_FIND_VERSION \${want})
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
  include("$(find "$p" -name mekivkConfigVersion.cmake)")
  message("\${want} \${PACKAGE_VERSION_COMPATIBLE}")
endforeach()
EOF
got=$("$cmake" -P "$tmp/ver.cmake" 2>&1 | tr '\n' ' ')
[ "$got" = "0.2 TRUE 0.2.0 TRUE 0.1 FALSE 0.3 FALSE 1.0 FALSE " ] || fail "version file answers: $got"

# ---- the model and what the CLI generates on it
quiet "$cli" synth --config tiny --dense --out "$tmp/model"
model=$tmp/model/model.gguf
expect=$("$cli" generate --model "$model" --tokens 1,2,3 -n 2 2>/dev/null | grep '^generated:') ||
    fail "mekivk generate failed"

# run NAME EXE: the consumer's checks pass and its tokens are the CLI's
run() {
    out=$("$2" "$model" 2>&1) || { echo "$out" >&2; fail "$1 failed"; }
    if echo "$out" | grep -q 'GPU part skipped'; then
        echo "consumer: $1: ok (no Vulkan device: host-only part)"
        return
    fi
    echo "$out" | grep -qx "$expect" || { echo "$out" >&2; fail "$1: not the CLI's '$expect'"; }
    echo "consumer: $1: ok, $expect"
}
needs() {   # needs EXE yes|no: whether EXE loads libmekivk.so
    if "$readelf" -d "$1" | grep -q "NEEDED.*libmekivk\.so"; then n=yes; else n=no; fi
    [ "$n" = "$2" ] || fail "$1: needs libmekivk.so: $n, expected $2"
}

# ---- CMake: find_package(mekivk 0.2 REQUIRED)
quiet "$cmake" -S "$here" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$p" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx"
quiet "$cmake" --build "$tmp/cm"
needs "$tmp/cm/app_c" yes
needs "$tmp/cm/app_c_static" no
run "find_package, C, shared" "$tmp/cm/app_c"
run "find_package, C++, shared" "$tmp/cm/app_cxx"
run "find_package, C, static" "$tmp/cm/app_c_static"

# ---- pkg-config
PKG_CONFIG_PATH=$pcdir
export PKG_CONFIG_PATH
[ "$(pkg-config --modversion mekivk)" = "$ver" ] || fail "mekivk.pc's version is not $ver"
flags="-Wall -Wextra -Wpedantic -Werror"
rpath=-Wl,-rpath,$(pkg-config --variable=libdir mekivk)
# shellcheck disable=SC2046,SC2086
quiet "$cc" -std=c11 $flags -o "$tmp/pc_c" "$here/main.c" $(pkg-config --cflags --libs mekivk) "$rpath"
# shellcheck disable=SC2046,SC2086
quiet "$cxx" -std=c++11 $flags -o "$tmp/pc_cxx" "$here/main.cpp" $(pkg-config --cflags --libs mekivk) "$rpath"
# static: --static adds the private dependencies; -l:libmekivk.a picks the
# archive over the shared library beside it
libs=""
for t in $(pkg-config --static --libs mekivk); do
    [ "$t" = -lmekivk ] && t=-l:libmekivk.a
    libs="$libs $t"
done
# shellcheck disable=SC2046,SC2086
quiet "$cc" -std=c11 $flags -o "$tmp/pc_c_static" "$here/main.c" $(pkg-config --cflags mekivk) $libs
needs "$tmp/pc_c" yes
needs "$tmp/pc_c_static" no
run "pkg-config, C, shared" "$tmp/pc_c"
run "pkg-config, C++, shared" "$tmp/pc_cxx"
run "pkg-config, C, static" "$tmp/pc_c_static"

# ---- the installed .so exports exactly what the installed headers declare
headers=$(find "$p/include/mekivk" -name '*.h' | sort | tr '\n' ',' | sed 's/,$//')
"$cmake" -DMODE=exports -DHEADERS="$headers" -DNM="$nm" -DREADELF="$readelf" -DLIB="$libdir/libmekivk.so" \
    -DSONAME="$soname" -DARCHIVE="$libdir/libmekivk.a" -P "$here/../../cmake/mekivk_api.cmake"
echo "consumer: ok"
