-- 0002_guest_identity: the ids the source gave each student of a recording, so that a roster edit can
-- move a guest's rows to another canonical id without re-running any step.
--
-- Tencent's uuid is valid for one meeting only, so guests are known by their normalised display name
-- ("name:<name>"); a roster maps names, aliases and userids to canonical student ids. recording_students
-- and student_stats hold canonical ids; this table remembers what each link came from. A roster edit
-- re-keys the links of the recordings it affects and recomputes the touched students' statistics in one
-- transaction per recording, exactly like an upsert.
CREATE TABLE IF NOT EXISTS recording_sources (
  recording_id     VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  source_id        VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                     COMMENT 'id the source gave: enterprise userid, name:<normalised name> or ext:<uuid>',
  student_id       VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                     COMMENT 'canonical id in recording_students (the roster''s, else source_id)',
  student_name     VARCHAR(255) NULL COMMENT 'name shown in the meeting',
  attended_seconds INT UNSIGNED NOT NULL DEFAULT 0,
  unmatched        BOOLEAN      NOT NULL DEFAULT FALSE COMMENT 'a guest the configured roster does not know',
  PRIMARY KEY (recording_id, source_id),
  KEY idx_recording_sources_student (student_id),
  KEY idx_recording_sources_unmatched (unmatched, source_id),
  CONSTRAINT fk_recording_sources_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
