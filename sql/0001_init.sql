-- 0001_init: recordings, their students, per-student statistics, and run monitoring.
--
-- Works on MySQL 8 and MariaDB 10.6+. Choices that differ from the seed's table (README, 数据库表结构):
--
-- * Ids are VARCHAR, not BIGINT. Tencent returns meeting_record_id and meeting_id as ~19-digit strings
--   ("1964787070499246080") and documents them as strings: they sit at the edge of BIGINT's range, are
--   not guaranteed numeric, and lose precision in every JSON/JavaScript consumer that reads them as
--   numbers. Student ids are enterprise userids or "ext:<uuid>" for external students, never numbers.
--   Ids use utf8mb4_bin so that ids differing only in case ("WMabc" vs "wmabc" uuids) stay distinct.
-- * phase is VARCHAR, not ENUM. Phases are edited in the pipeline's YAML (kimi_classify `phases:`); an
--   ENUM would turn every edit of that list into a schema migration, and a phase the database does not
--   know would fail the write of an otherwise good recording.
-- * status is VARCHAR for the same reason: statuses are the pipeline's, not the schema's.
-- * Times are DATETIME(3) in UTC (the connection sets time_zone = '+00:00'): Tencent gives milliseconds,
--   and DATETIME has no 2038 limit, unlike TIMESTAMP.
-- * play_url / download_url keep the seed's columns, but download_url is never filled: Tencent's download
--   addresses are signed URLs (credentials) that expire after 6 hours, so storing them would leak a
--   credential and keep a dead link. play_url holds only a non-secret view address, when a source gives one.
-- * JSON columns: MySQL validates its JSON type itself; in MariaDB JSON is an alias of LONGTEXT that gets
--   an automatic CHECK (JSON_VALID(col)) (10.4.3+), so no explicit CHECK is written (it would be doubled).
--
-- Every statement is CREATE TABLE IF NOT EXISTS, so a migration interrupted halfway can be re-run.

CREATE TABLE IF NOT EXISTS recordings (
  id                  VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                        COMMENT 'Tencent meeting_record_id (~19 digits, kept as a string)',
  meeting_id          VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  meeting_code        VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT '9-digit dial-in code',
  subject             VARCHAR(255) NULL,
  teacher_id          VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'the host userid',
  start_ts            DATETIME(3)  NOT NULL COMMENT 'UTC',
  end_ts              DATETIME(3)  NULL COMMENT 'UTC',
  duration_min        INT UNSIGNED NULL,
  student_ids         JSON         NULL COMMENT 'array of student ids, as in recording_students',
  phase               VARCHAR(64)  NULL COMMENT '简历优化/项目深挖/面试模拟/Offer后续/其他, as configured in YAML',
  transcript          LONGTEXT     NULL,
  transcript_segments JSON         NULL COMMENT '[{start, end, text}], seconds from the recording start',
  summary             TEXT         NULL,
  classification      JSON         NULL COMMENT 'model, rule, confidence, needs_review, …',
  needs_review        BOOLEAN      NOT NULL DEFAULT FALSE,
  files               JSON         NULL COMMENT '[{file_id, start, end, size}]; never signed URLs',
  play_url            TEXT         NULL COMMENT 'non-secret view address only',
  download_url        TEXT         NULL COMMENT 'always NULL: signed download URLs are credentials',
  status              VARCHAR(16)  NOT NULL DEFAULT 'done' COMMENT 'done | partial (no transcript or summary)',
  created_at          DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at          DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY idx_recordings_start (start_ts),
  KEY idx_recordings_teacher (teacher_id, start_ts),
  KEY idx_recordings_phase (phase),
  KEY idx_recordings_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who attended which recording, and for how long. student_stats is derived from these rows.
CREATE TABLE IF NOT EXISTS recording_students (
  recording_id     VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  student_id       VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                     COMMENT 'enterprise userid, or ext:<uuid> for an external student',
  student_name     VARCHAR(255) NULL COMMENT 'name shown in the meeting',
  attended_seconds INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'summed over rejoins',
  PRIMARY KEY (recording_id, student_id),
  KEY idx_recording_students_student (student_id, recording_id),
  CONSTRAINT fk_recording_students_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The seed's statistics, recomputed from recording_students in the transaction that changes them.
CREATE TABLE IF NOT EXISTS student_stats (
  student_id     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  record_cnt     INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'recordings attended',
  total_duration INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'minutes: attended seconds summed, rounded',
  last_record_at DATETIME(3)  NULL COMMENT 'latest start_ts of those recordings (UTC)',
  updated_at     DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (student_id),
  KEY idx_student_stats_cnt (record_cnt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per run of a pipeline that writes to this database (monitoring, `runner status`).
-- window_since/window_until: WINDOW is a reserved word in MySQL 8.
CREATE TABLE IF NOT EXISTS pipeline_runs (
  id           VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  pipeline     VARCHAR(128) NOT NULL,
  host         VARCHAR(255) NULL,
  window_since DATETIME(3)  NULL,
  window_until DATETIME(3)  NULL,
  status       VARCHAR(16)  NOT NULL COMMENT 'running | ok | failed | interrupted',
  started_at   DATETIME(3)  NOT NULL,
  finished_at  DATETIME(3)  NULL,
  items        INT UNSIGNED NOT NULL DEFAULT 0,
  done         INT UNSIGNED NOT NULL DEFAULT 0,
  skipped      INT UNSIGNED NOT NULL DEFAULT 0,
  failed       INT UNSIGNED NOT NULL DEFAULT 0,
  pending      INT UNSIGNED NOT NULL DEFAULT 0,
  memo         INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'step executions served from the memo',
  ran          INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'step executions actually run',
  steps        JSON         NULL COMMENT '{step: executions run}',
  PRIMARY KEY (id),
  KEY idx_pipeline_runs_started (started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Items whose last run failed (or was deferred) and that have not been stored since: the row is written
-- when a run finishes and deleted by the transaction that stores the recording.
CREATE TABLE IF NOT EXISTS item_failures (
  item_id         VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  run_id          VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  step            VARCHAR(128) NOT NULL,
  kind            VARCHAR(16)  NOT NULL COMMENT 'permanent | transient | deferred',
  error           TEXT         NOT NULL,
  failures        INT UNSIGNED NOT NULL DEFAULT 1 COMMENT 'runs in which the item failed',
  first_failed_at DATETIME(3)  NOT NULL,
  last_failed_at  DATETIME(3)  NOT NULL,
  PRIMARY KEY (item_id),
  KEY idx_item_failures_last (last_failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
