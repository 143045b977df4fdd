#!/usr/bin/env bash
# Rebuild the example apps to wasm32-wasi (WASI preview 1).
#
#   apps/build.sh           rebuild every apps/<name>/<name>.wasm in place,
#                           after checking that two builds give identical bytes
#   apps/build.sh --check   rebuild into a temp dir and fail if a committed
#                           .wasm differs (skips, exit 0, when clang cannot
#                           target wasm32-wasi)
#
# Compiler: Debian's clang + wasi-libc:
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
# Override with CC=... (any clang that targets wasm32-wasi with a WASI sysroot).
set -euo pipefail

APPS=(hello wordcount pi imagefilter classify)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CC="${CC:-clang}"

# -O2, no debug info (Debian's wasi-libc ships DWARF, --strip-debug drops it
# but keeps the name section so traps show function names), relative source
# paths and a fixed prefix map so nothing depends on the checkout location.
CFLAGS=(
    --target=wasm32-wasi
    -O2
    -std=c11
    -Wall -Wextra -Werror
    -I common
    "-ffile-prefix-map=$HERE=."
    -Wl,--strip-debug
)

usage() {
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

have_compiler() {
    command -v "$CC" >/dev/null 2>&1 || return 1
    local probe
    probe="$(mktemp -d)"
    printf 'int main(void){return 0;}\n' >"$probe/probe.c"
    if "$CC" --target=wasm32-wasi -O2 "$probe/probe.c" -o "$probe/probe.wasm" >/dev/null 2>&1; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    return 1
}

# build_all OUT_DIR: compile every app into OUT_DIR/<name>.wasm
build_all() {
    local out="$1"
    (
        cd "$HERE"
        for app in "${APPS[@]}"; do
            "$CC" "${CFLAGS[@]}" "$app/$app.c" -o "$out/$app.wasm"
        done
    )
}

mode=build
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac

if ! have_compiler; then
    msg="apps/build.sh: '$CC' cannot build wasm32-wasi modules"
    hint="install it with: apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32"
    if [[ "$mode" == check ]]; then
        echo "$msg; skipping the rebuild check ($hint)"
        exit 0
    fi
    echo "$msg; $hint" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/a" "$tmp/b"
build_all "$tmp/a"

status=0
if [[ "$mode" == check ]]; then
    for app in "${APPS[@]}"; do
        committed="$HERE/$app/$app.wasm"
        if [[ ! -f "$committed" ]]; then
            echo "MISSING  apps/$app/$app.wasm (run apps/build.sh)"
            status=1
        elif cmp -s "$tmp/a/$app.wasm" "$committed"; then
            echo "ok       apps/$app/$app.wasm"
        else
            echo "DIFFERS  apps/$app/$app.wasm (rebuild with apps/build.sh and commit)"
            status=1
        fi
    done
    exit "$status"
fi

# A second build must give the same bytes, or the committed modules could not
# be checked by anyone else.
build_all "$tmp/b"
for app in "${APPS[@]}"; do
    if ! cmp -s "$tmp/a/$app.wasm" "$tmp/b/$app.wasm"; then
        echo "apps/build.sh: two builds of $app differ; the build is not deterministic" >&2
        exit 1
    fi
done
for app in "${APPS[@]}"; do
    cp "$tmp/a/$app.wasm" "$HERE/$app/$app.wasm"
    printf '%-12s %8d bytes  sha256 %s\n' "$app" "$(wc -c <"$HERE/$app/$app.wasm")" \
        "$(sha256sum "$HERE/$app/$app.wasm" | cut -d' ' -f1)"
done
