-- 0004_coaching: the coaching memory (issue 22). Homework and to-dos carried from session to session,
-- and rubric scores per session. Rows come from kimi_classify's checked extraction (every item's quote was
-- found in the transcript); mysql_upsert writes them with the recording, so a rerun changes nothing.
CREATE TABLE IF NOT EXISTS action_items (
  id             CHAR(16)     CHARACTER SET ascii NOT NULL COMMENT 'sha256(recording_id, normalised task), first 8 bytes in hex',
  student_id     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  recording_id   VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL COMMENT 'the session that assigned it',
  owner          ENUM('teacher','student') NOT NULL,
  task           VARCHAR(500) NOT NULL,
  due_text       VARCHAR(100) NULL COMMENT 'the due date as said (下周五之前)',
  due_date       DATE         NULL COMMENT 'resolved against the session date; NULL when none was said or understood',
  evidence       TEXT         NOT NULL COMMENT 'the verbatim quote',
  status         ENUM('open','done','not_done','dropped') NOT NULL DEFAULT 'open',
  closed_in      VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL COMMENT 'the recording that closed it',
  close_evidence TEXT         NULL,
  created_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at     TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id, student_id),
  KEY idx_action_items_student (student_id, status),
  KEY idx_action_items_recording (recording_id),
  KEY idx_action_items_closed (closed_in),
  CONSTRAINT fk_action_items_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS scorecards (
  recording_id VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  criterion    VARCHAR(100) NOT NULL,
  phase        VARCHAR(64)  NOT NULL,
  score        DECIMAL(6,2) NOT NULL,
  min_score    DECIMAL(6,2) NOT NULL,
  max_score    DECIMAL(6,2) NOT NULL,
  evidence     TEXT         NOT NULL COMMENT 'the verbatim quote',
  updated_at   TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (recording_id, criterion),
  CONSTRAINT fk_scorecards_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The teacher's display name as Tencent gave it (the host participant's), so that the board, the warnings
-- and the digest name teachers, not userids.
CREATE TABLE IF NOT EXISTS teacher_names (
  teacher_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  name       VARCHAR(255) NOT NULL,
  updated_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (teacher_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
