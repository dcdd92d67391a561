#!/usr/bin/env bash
# PostgreSQL from Debian's packages, started on 127.0.0.1:5432 with the role the tests use.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dealwatch') THEN
    CREATE ROLE dealwatch LOGIN CREATEDB PASSWORD 'dealwatch';
  END IF;
END $$;
SQL
if ! runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'dealwatch'" | grep -q 1; then
  runuser -u postgres -- createdb -O dealwatch dealwatch
fi
echo "PostgreSQL $version ready: postgresql://dealwatch:dealwatch@127.0.0.1:5432/dealwatch"
