#!/usr/bin/env bash
# Installs what `tocsin-bench` compares against: PostGIS for the machine's
# PostgreSQL (Debian's postgresql-<major>-postgis-3), and wrk for the API
# load. Safe to run twice. The benchmark runs without them and says so.
set -euo pipefail
major=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$major" ]; then
  echo "no PostgreSQL cluster under /etc/postgresql; skipping PostGIS" >&2
else
  pkgs="postgresql-$major-postgis-3"
fi
command -v wrk >/dev/null || pkgs="${pkgs:-} wrk"
if [ -n "${pkgs:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $pkgs
fi
echo "PostGIS: $(ls /usr/share/postgresql/*/extension/postgis.control 2>/dev/null || echo absent)"
echo "wrk: $(command -v wrk || echo absent)"
