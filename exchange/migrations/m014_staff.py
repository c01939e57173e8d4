"""Migration 14: people — staff accounts, console sessions, and the person on audit entries.

* ``staff``: a department's staff member (工作人员) with roles, an argon2id password hash,
  a TOTP secret (auditor, operator and security-officer roles) and a one-time enrolment
  code, kept only as its SHA-256. Staff ids are unique across the exchange, so an
  ``act`` claim names one person of one department.
* ``department_settings``: per-department switches; ``require_act`` refuses reads whose
  token names no person.
* ``console_sessions``: console sessions survive a restart; the browser's cookie is the
  only copy of the session id (the table keeps its SHA-256). Sliding (``last_seen``)
  and absolute (``expires_at``) expiry; ``owner`` is the person (or the department of a
  token sign-in) whose own oldest session goes when they sign in once too often.
* ``audit_entries.person``: the staff id of the person who acted. Last in the table; in
  the leaf only when set, so older entries keep their leaf hashes.
"""

VERSION = 14
DESCRIPTION = "staff accounts, department settings, console sessions, audit_entries.person"
SQL = """
CREATE TABLE staff (
  staff_id VARCHAR PRIMARY KEY, uscc VARCHAR NOT NULL, name VARCHAR NOT NULL,
  roles VARCHAR[] NOT NULL, status VARCHAR NOT NULL, password_hash VARCHAR,
  totp_secret VARCHAR, enrol_hash VARCHAR, enrol_expires TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL);
CREATE INDEX staff_uscc_idx ON staff (uscc);
CREATE TABLE department_settings (
  uscc VARCHAR PRIMARY KEY, require_act BOOLEAN NOT NULL DEFAULT FALSE,
  updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE console_sessions (
  id_hash VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, uscc VARCHAR NOT NULL,
  staff_id VARCHAR, method VARCHAR NOT NULL, csrf VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL, address VARCHAR);
CREATE INDEX console_sessions_owner_idx ON console_sessions (owner);
ALTER TABLE audit_entries ADD COLUMN person VARCHAR;
"""
