#!/usr/bin/env bash
# The CI gates of `make test` (make gates), besides fmt and clippy (make lint):
#   - cargo doc --no-deps --workspace with every rustdoc warning an error
#   - cargo deny check: licenses (allowlist in deny.toml), bans (duplicate versions reported as
#     warnings), sources (crates.io only); advisories only when the RustSec database is stored
#     (~/.cargo/advisory-dbs) or reachable, otherwise said and skipped
#   - cargo machete: dependencies no code uses (false positives go in the crate's
#     [package.metadata.cargo-machete] ignored)
# cargo-deny and cargo-machete are installed, pinned, into ~/.cargo/bin when missing.
set -euo pipefail

CARGO_DENY_VERSION=0.20.2
CARGO_MACHETE_VERSION=0.9.2
ADVISORY_DB=https://github.com/rustsec/advisory-db

cd "$(dirname "$0")/.."

install_pinned() { # crate version
    local have
    have=$("$1" --version 2>/dev/null || true)
    if [[ ! "$have" =~ (^|\ )"$2"$ ]]; then
        echo "gates.sh: installing $1 $2 (once; a few minutes on two cores)"
        cargo install --locked --quiet "$1" --version "$2"
    fi
}
install_pinned cargo-deny "$CARGO_DENY_VERSION"
install_pinned cargo-machete "$CARGO_MACHETE_VERSION"

echo "gates.sh: cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --quiet --no-deps --workspace

checks=(licenses bans sources)
fetch=()
if ls -d "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/*/ >/dev/null 2>&1; then
    checks+=(advisories)
    timeout 20 git ls-remote "$ADVISORY_DB" HEAD >/dev/null 2>&1 || fetch=(--disable-fetch)
elif timeout 20 git ls-remote "$ADVISORY_DB" HEAD >/dev/null 2>&1; then
    checks+=(advisories)
else
    echo "gates.sh: advisories skipped: the RustSec advisory database is neither stored nor reachable"
fi
echo "gates.sh: cargo deny check ${checks[*]}"
cargo deny --locked check "${fetch[@]}" --hide-inclusion-graph "${checks[@]}"

echo "gates.sh: cargo machete (unused dependencies)"
cargo machete
