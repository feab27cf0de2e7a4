#!/usr/bin/env bash
# Runs Kizuna's whole test suite on a fresh Debian machine, installing what the tests need.
#
#   scripts/test.sh            formatting, lints, and every test on both storage backends
#   scripts/test.sh -- ARGS    passes ARGS to `cargo test` (e.g. -- -p kizuna-store)
#
# It starts a throwaway PostgreSQL cluster (Debian's initdb/pg_ctl, trust auth on 127.0.0.1,
# in a temporary directory) for the PostgreSQL backend's tests, and stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

# --- What the tests need -------------------------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  log "installing PostgreSQL from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(pg_bin)"
if ! command -v curl >/dev/null; then
  log "installing curl (an independent HTTP client for the end-to-end tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq curl >/dev/null
fi
if ! command -v openssl >/dev/null; then
  log "installing openssl (an independent check of the certificates kizuna pki issues)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq openssl >/dev/null
fi
if [ ! -f tools/fhirpath-oracle/node_modules/fhirpath/package.json ]; then
  log "installing the FHIRPath oracle (fhirpath.js, pinned by tools/fhirpath-oracle/package-lock.json)"
  npm ci --prefix tools/fhirpath-oracle --no-audit --no-fund \
    || echo "warning: could not install tools/fhirpath-oracle; the FHIRPath oracle test will say so" >&2
fi
IPS_TGZ=tools/ips/hl7.fhir.uv.ips-2.0.0.tgz
IPS_SHA512="4PWToJ9b1FgXsm9DIvHiU6HO9Z5m75jxk0e0MXOmhFlf2m2slk/d6RoiSYIChKJlvmtJ7GbRftt7PphlwmZcbQ=="
ips_ok() { [ -f "$IPS_TGZ" ] && [ "$(openssl dgst -sha512 -binary "$IPS_TGZ" | base64 -w0)" = "$IPS_SHA512" ]; }
if ! ips_ok; then
  log "fetching the IPS package (hl7.fhir.uv.ips 2.0.0, pinned by its sha512) for the IPS summary test"
  rm -f "$IPS_TGZ"
  (cd tools/ips && npm pack hl7.fhir.uv.ips@2.0.0 --silent >/dev/null) || true
  if ! ips_ok; then
    rm -f "$IPS_TGZ"
    echo "warning: could not fetch the IPS package; the IPS summary test will say so" >&2
  fi
fi
missing_packages() {
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done
}
MISSING="$(missing_packages pcscd libpcsclite-dev pkgconf vsmartcard-vpcd python3-cryptography)"
if [ -n "$MISSING" ]; then
  log "installing $(echo $MISSING) (the PC/SC card test: pcscd, its library and the virtual reader vpcd)"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $MISSING >/dev/null
fi
MISSING="$(missing_packages chromium fonts-ipafont-gothic)"
if [ -n "$MISSING" ]; then
  log "installing $(echo $MISSING) (the portal's browser tests: Debian's chromium, and Japanese glyphs for its screenshots)"
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
fi
if [ ! -f tools/portal-e2e/node_modules/playwright-core/package.json ]; then
  log "installing playwright-core for the portal's browser tests (pinned by tools/portal-e2e/package-lock.json; it drives Debian's chromium, no browser download)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tools/portal-e2e --no-audit --no-fund \
    || echo "warning: could not install tools/portal-e2e; the browser test will say so" >&2
fi
export KIZUNA_CHROMIUM=/usr/bin/chromium
if ! command -v storescu >/dev/null; then
  log "installing dcmtk (echoscu, storescu, findscu, movescu, getscu, storescp: DICOM peers of the DIMSE tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq dcmtk >/dev/null
fi
if [ ! -x /usr/sbin/Orthanc ]; then
  log "installing Orthanc and its DICOMweb plugin (a PACS the imaging tests and benchmark talk to; its service stays stopped)"
  as_root apt-get update -qq
  # Debian's postinst starts the service: a policy-rc.d refusing it keeps it stopped (tests and
  # the benchmark start their own Orthanc on ports of their own).
  own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq orthanc orthanc-dicomweb >/dev/null \
    || echo "warning: could not install Orthanc; the Orthanc test will say so" >&2
  if [ -n "$own_policy" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
fi
if ! command -v cmake >/dev/null; then
  log "installing cmake (builds CharLS, the JPEG-LS decoder of the DICOM tests' feature jpeg-ls)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq cmake >/dev/null
fi
# Python peers of the imaging tests (S3 server, DICOM network peer, DICOMweb client), pinned
# by tools/python-peers/requirements.txt, in a virtual environment kept between runs.
PY_VENV="${KIZUNA_PY_VENV:-$HOME/.cache/kizuna/python-peers}"
PY_STAMP="$PY_VENV/.requirements"
if ! cmp -s tools/python-peers/requirements.txt "$PY_STAMP" 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    log "installing python3-venv (a virtual environment for the Python test peers)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  log "installing the Python test peers (moto's S3 server, pynetdicom, dicomweb-client) into $PY_VENV"
  rm -rf "$PY_VENV"
  if python3 -m venv "$PY_VENV" \
    && "$PY_VENV/bin/pip" install -q --disable-pip-version-check -r tools/python-peers/requirements.txt; then
    cp tools/python-peers/requirements.txt "$PY_STAMP"
  else
    echo "warning: could not install the Python test peers; the tests that need them will say so" >&2
  fi
fi
export KIZUNA_PYTHON="$PY_VENV/bin/python"
FIXTURES="${KIZUNA_FIXTURES:-$(cd .. && pwd)/shared/fixtures}"
if [ ! -d "$FIXTURES" ]; then
  echo "warning: fixtures not found at $FIXTURES (set KIZUNA_FIXTURES); tests that need them will say so" >&2
fi
export KIZUNA_FIXTURES="$FIXTURES"

# --- A throwaway PostgreSQL cluster ----------------------------------------------------------
PG_DIR="$(mktemp -d /tmp/kizuna-pg.XXXXXX)"
PG_PORT="${KIZUNA_TEST_PG_PORT:-$((20000 + RANDOM % 20000))}"
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home "$PG_DIR" postgres
  chown postgres "$PG_DIR"
fi
PCSCD_PID=
cleanup() {
  if [ -n "$PCSCD_PID" ]; then as_root kill "$(tr -d '\0' </run/pcscd/pcscd.pid 2>/dev/null || echo "$PCSCD_PID")" 2>/dev/null || true; fi
  run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap cleanup EXIT
log "starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT"
run_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
run_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -o \
  "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB" start >/dev/null
export KIZUNA_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

# --- pcscd with a virtual reader, for the PC/SC card test ------------------------------------
# pcscd serves one socket per machine: start it only if none runs, with a private reader
# configuration whose only reader is vpcd's (two slots, on VPCD_PORT and VPCD_PORT + 1).
if [ -f /run/pcscd/pcscd.pid ] && kill -0 "$(tr -d '\0' </run/pcscd/pcscd.pid)" 2>/dev/null; then
  echo "warning: a pcscd is running already; the PC/SC card test will say it did not run" >&2
else
  VPCD_PORT=$((PG_PORT + 1))
  mkdir -p "$PG_DIR/readers"
  printf 'FRIENDLYNAME "Kizuna test reader"\nDEVICENAME /dev/null:0x%X\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x%X\n' \
    "$VPCD_PORT" "$VPCD_PORT" >"$PG_DIR/readers/vpcd"
  log "starting pcscd with a virtual reader on 127.0.0.1:$VPCD_PORT"
  as_root pcscd --foreground -c "$PG_DIR/readers" >"$PG_DIR/pcscd.log" 2>&1 &
  PCSCD_PID=$!
  export KIZUNA_TEST_VPCD_PORT="$VPCD_PORT"
fi

# --- The suite -------------------------------------------------------------------------------
# A one-off build gains nothing from incremental state, which doubles what lands on disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
shift_args=()
if [ "${1:-}" = "--" ]; then shift; shift_args=("$@"); fi
if [ ${#shift_args[@]} -eq 0 ]; then
  log "cargo fmt --check"
  cargo fmt --all -- --check
  log "cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  log "cargo test (every crate, both backends, the kizuna binary end to end)"
  cargo test --workspace --locked
  log "cargo clippy and cargo test with a real My Number card reader (feature pcsc)"
  cargo clippy -p kizuna-trust -p kizuna --features pcsc --all-targets --locked -- -D warnings
  cargo test -p kizuna-trust --features pcsc --locked --test jpki_card
  log "cargo clippy and cargo test with the JPEG-LS decoder (feature jpeg-ls: CharLS, built with cmake)"
  cargo clippy -p kizuna-dicom --features jpeg-ls --all-targets --locked -- -D warnings
  cargo test -p kizuna-dicom --features jpeg-ls --locked
else
  cargo test --locked "${shift_args[@]}"
fi
