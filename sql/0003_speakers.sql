-- 0003_speakers: who spoke, and how much (issue 21). One row per speaker of a recording, with the talk
-- metrics of steps/talk (README "Talk metrics"); the recording says where its transcript came from and
-- keeps the whole measurement (shares, wait, silence, overlap, targets) as JSON.
--
-- The CREATE is harmless to run twice; the ALTER is the last statement, so a migration interrupted before
-- it is re-run whole.
CREATE TABLE IF NOT EXISTS recording_speakers (
  recording_id         VARCHAR(64)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  speaker_key          VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
                         COMMENT 'the source''s speaker: Tencent userid, name:<normalised name>, open:<ms_open_id>, or the ASR label',
  role                 VARCHAR(16)  NOT NULL COMMENT 'teacher | student | unknown',
  student_id           VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL
                         COMMENT 'as in recording_students (roster applied); NULL for the teacher and unknown speakers',
  source               VARCHAR(16)  NOT NULL COMMENT 'tencent | asr',
  talk_ms              BIGINT UNSIGNED NOT NULL COMMENT 'union of the speaker''s intervals',
  share                DECIMAL(5,4) NOT NULL COMMENT 'talk_ms / the sum of all speakers'' talk_ms',
  questions            INT UNSIGNED NOT NULL COMMENT 'sentences ending in ？ or ?',
  turns                INT UNSIGNED NOT NULL COMMENT 'times the floor passed to this speaker',
  longest_monologue_ms BIGINT UNSIGNED NOT NULL COMMENT 'short interjections of others ignored',
  chars                INT UNSIGNED NOT NULL COMMENT 'letters and digits spoken',
  PRIMARY KEY (recording_id, speaker_key),
  KEY idx_recording_speakers_student (student_id, recording_id),
  KEY idx_recording_speakers_role (role, recording_id),
  CONSTRAINT fk_recording_speakers_recording FOREIGN KEY (recording_id) REFERENCES recordings (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE recordings
  ADD COLUMN transcript_source VARCHAR(16) NULL COMMENT 'tencent | asr; NULL: no transcript',
  ADD COLUMN talk JSON NULL COMMENT 'talk_metrics: shares, wait after questions, silence, overlap, chars per minute, targets',
  ADD COLUMN talk_off_target BOOLEAN NOT NULL DEFAULT FALSE COMMENT 'a talk-share target of the phase is missed';
