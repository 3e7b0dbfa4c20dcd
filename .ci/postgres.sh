#!/usr/bin/env bash
# Start Debian's PostgreSQL on loopback and create the test role and database.
# Prints the URL for BRIDGE_TEST_POSTGRES_URL on its last line.
set -euo pipefail
if ! command -v pg_lsclusters >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    apt-get install -y -q postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    pg_createcluster "$version" main >&2
fi
pg_ctlcluster "$version" main start >&2 2>/dev/null || true
for _ in $(seq 1 100); do
    if su postgres -c "pg_isready -q -h 127.0.0.1"; then break; fi
    sleep 0.1
done
su postgres -c "pg_isready -h 127.0.0.1" >&2
su postgres -c "psql -q -v ON_ERROR_STOP=1" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bridge') THEN
    CREATE ROLE bridge LOGIN PASSWORD 'bridge';
  END IF;
END $$;
SQL
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='bridge_test'\"" | grep -q 1; then
    su postgres -c "createdb -O bridge bridge_test" >&2
fi
echo "postgresql://bridge:bridge@127.0.0.1:5432/bridge_test"
