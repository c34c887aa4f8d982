#!/usr/bin/env bash
# Installs what building fleetfit needs on Debian/Ubuntu: HiGHS is compiled from source by the
# highs-sys crate, which needs cmake and a C++ compiler, and bindgen needs libclang. With --test,
# also what the tests need: shellcheck and chromium.
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || need+=(g++)
# The tests run shellcheck over every script `emit` writes, and open reports in headless Chromium.
if [ "${1:-}" = "--test" ]; then
  command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust from your distribution or rustup first" >&2
  exit 1
fi
