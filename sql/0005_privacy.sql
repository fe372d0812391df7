-- 0005_privacy: what redaction replaced per recording, the tombstones of erased students, and the log of
-- erasures (PIPL articles 19 and 47).
--
-- * recording_redactions holds counts only, never the text replaced: one row per recording, item field
--   and pattern (a separate table, not a recordings column, because ADD COLUMN cannot be written to run
--   twice harmlessly on both MySQL 8 and MariaDB; see sql/schema.go).
-- * student_tombstones keeps a later run from storing an erased student again. It holds SHA-256 hashes
--   of the student's ids ("id") and of a guest's normalised display name ("name"), never the id or name.
-- * erasure_log records that an erasure happened: when, who ran it, what kind, how many rows; no id,
--   no name, no content.

CREATE TABLE IF NOT EXISTS recording_redactions (
  recording_id VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  field        VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'item field: transcript, summary, …',
  pattern      VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'redact pattern name: mobile, cn_id, …',
  replaced     INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (recording_id, field, pattern),
  CONSTRAINT fk_recording_redactions_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS student_tombstones (
  hash       CHAR(64)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'hex SHA-256 of kind:value',
  kind       VARCHAR(8)  CHARACTER SET ascii NOT NULL COMMENT 'id | name',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS erasure_log (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  erased_at    DATETIME(3)  NOT NULL COMMENT 'UTC',
  actor        VARCHAR(255) NOT NULL COMMENT 'who ran it: OS user@host',
  kind         VARCHAR(32)  NOT NULL COMMENT 'student (runner forget) | transcripts | run_history (retention)',
  rows_deleted INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'rows deleted or blanked',
  PRIMARY KEY (id),
  KEY idx_erasure_log_at (erased_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
