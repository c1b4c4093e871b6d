#!/usr/bin/env bash
# Installs what `tocsin-bench targeting` compares against: PostGIS for the
# machine's PostgreSQL (Debian's postgresql-<major>-postgis-3). Safe to run
# twice. The benchmark runs without it and says so. (The API load uses
# tocsin-bench's own open-loop generator, not wrk.)
set -euo pipefail
major=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$major" ]; then
  echo "no PostgreSQL cluster under /etc/postgresql; skipping PostGIS" >&2
else
  pkgs="postgresql-$major-postgis-3"
fi
if [ -n "${pkgs:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $pkgs
fi
echo "PostGIS: $(ls /usr/share/postgresql/*/extension/postgis.control 2>/dev/null || echo absent)"
