#!/usr/bin/env bash
# Two databases on one server: Airflow's metadata and footfall's warehouse, each with its own role.
# Passwords come from the container's environment, never from this file.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres \
  -v airflow_pw="${AIRFLOW_DB_PASSWORD:-$POSTGRES_PASSWORD}" -v footfall_pw="${FOOTFALL_DB_PASSWORD:-$POSTGRES_PASSWORD}" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE footfall LOGIN PASSWORD :'footfall_pw';
CREATE DATABASE footfall OWNER footfall;
-- History imports COPY into empty windows without per-row FK triggers, after checking the batch's
-- references once (footfall/load.py); the owner could drop its own constraints anyway.
GRANT SET ON PARAMETER session_replication_role TO footfall;
SQL
