"""Migration 1: departments, keys, catalog, records, batches, quarantine, grants, audit."""

VERSION = 1
DESCRIPTION = "departments, catalog, records, grants, audit"
SQL = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE departments (
  uscc VARCHAR PRIMARY KEY, code VARCHAR NOT NULL UNIQUE, name VARCHAR NOT NULL,
  region VARCHAR NOT NULL, roles VARCHAR[] NOT NULL, created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE department_keys (
  kid VARCHAR PRIMARY KEY, uscc VARCHAR NOT NULL, purpose VARCHAR NOT NULL, alg VARCHAR NOT NULL,
  public_pem VARCHAR NOT NULL, certificate_pem VARCHAR, not_before TIMESTAMPTZ,
  not_after TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL);
CREATE TABLE resources (
  code VARCHAR PRIMARY KEY, owner_uscc VARCHAR NOT NULL, definition JSON NOT NULL);
CREATE TABLE batches (
  batch_id VARCHAR PRIMARY KEY, resource VARCHAR NOT NULL, issuer VARCHAR NOT NULL,
  seal JSON NOT NULL, size INTEGER NOT NULL, leaves BLOB NOT NULL, source VARCHAR NOT NULL,
  accepted INTEGER NOT NULL, duplicates INTEGER NOT NULL, quarantined INTEGER NOT NULL,
  received_at TIMESTAMPTZ NOT NULL);
CREATE TABLE record_history (
  resource VARCHAR NOT NULL, key VARCHAR NOT NULL, version BIGINT NOT NULL, data JSON NOT NULL,
  batch_id VARCHAR NOT NULL, leaf_index INTEGER NOT NULL, publisher VARCHAR NOT NULL,
  received_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (resource, key, version));
CREATE TABLE record_latest (
  resource VARCHAR NOT NULL, key VARCHAR NOT NULL, version BIGINT NOT NULL, data JSON NOT NULL,
  batch_id VARCHAR NOT NULL, leaf_index INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (resource, key));
CREATE TABLE record_subjects (
  resource VARCHAR NOT NULL, subject VARCHAR NOT NULL, key VARCHAR NOT NULL);
CREATE INDEX record_subjects_idx ON record_subjects (subject);
CREATE TABLE quarantine (
  id VARCHAR PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, resource VARCHAR,
  publisher VARCHAR, batch_id VARCHAR, record_index INTEGER, key VARCHAR,
  reason_code VARCHAR NOT NULL, reason VARCHAR NOT NULL, payload VARCHAR NOT NULL,
  source VARCHAR NOT NULL);
CREATE TABLE grants (
  id VARCHAR PRIMARY KEY, consumer VARCHAR NOT NULL, resource VARCHAR NOT NULL,
  fields VARCHAR[] NOT NULL, purposes VARCHAR[] NOT NULL, reason VARCHAR NOT NULL,
  status VARCHAR NOT NULL, requested_at TIMESTAMPTZ NOT NULL, answer_due DATE NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL, decided_at TIMESTAMPTZ, decided_by VARCHAR,
  decision_reason VARCHAR);
CREATE TABLE audit_entries (
  seq BIGINT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, actor VARCHAR NOT NULL,
  action VARCHAR NOT NULL, target VARCHAR, subject_hash VARCHAR, purpose VARCHAR,
  case_no VARCHAR, outcome VARCHAR NOT NULL, code VARCHAR, request_hash VARCHAR,
  detail VARCHAR, leaf_hash BLOB NOT NULL, ts_text VARCHAR NOT NULL);
CREATE INDEX audit_subject_idx ON audit_entries (subject_hash);
CREATE INDEX audit_case_idx ON audit_entries (case_no);
CREATE TABLE audit_nodes (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BLOB NOT NULL,
  PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, root BLOB NOT NULL, note VARCHAR NOT NULL,
  created_at TIMESTAMPTZ NOT NULL);
"""
