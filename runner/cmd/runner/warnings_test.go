package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"meetpipe/steps/coach"
	"meetpipe/steps/store"
	"meetpipe/steps/store/storetest"
)

// coachFixture fills a migrated database with three students' sessions, homework, scores and talk
// shares, as the pipeline would have stored them (dates UTC).
func coachFixture(t *testing.T, dsn string) {
	t.Helper()
	db := openDB(t, dsn)
	if _, err := store.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		// 李同学: two mock interviews, the second worse, the teacher talking most of it; homework overdue.
		`INSERT INTO recordings (id, meeting_id, start_ts, phase, teacher_id) VALUES
			('r1', 'm1', '2026-11-01 02:00:00', '面试模拟', 'teacher_wang'),
			('r2', 'm2', '2026-11-08 02:00:00', '面试模拟', 'teacher_wang'),
			('r3', 'm3', '2026-11-20 02:00:00', '项目深挖', 'teacher_zhao'),
			('r4', 'm4', '2026-11-23 02:00:00', '项目深挖', 'teacher_zhao'),
			('r5', 'm5', '2026-11-26 02:00:00', '项目深挖', 'teacher_zhao'),
			('r6', 'm6', '2026-11-29 02:00:00', '项目深挖', 'teacher_zhao'),
			('r7', 'm7', '2026-10-01 02:00:00', 'Offer后续', 'teacher_wang'),
			('r8', 'm8', '2026-12-02 02:00:00', '面试模拟', 'teacher_wang')`,
		`INSERT INTO recording_students (recording_id, student_id, student_name) VALUES
			('r1', 'S001', '李同学'), ('r2', 'S001', '李同学'), ('r8', 'S001', '李同学'),
			('r3', 'S002', '韩梅梅'), ('r4', 'S002', '韩梅梅'), ('r5', 'S002', '韩梅梅'), ('r6', 'S002', '韩梅梅'),
			('r7', 'S003', '王同学')`,
		`INSERT INTO scorecards (recording_id, criterion, phase, score, min_score, max_score, evidence) VALUES
			('r1', '自我介绍', '面试模拟', 4, 1, 5, 'q'), ('r1', '表达', '面试模拟', 4, 1, 5, 'q'),
			('r2', '自我介绍', '面试模拟', 3, 1, 5, 'q'), ('r2', '表达', '面试模拟', 3, 1, 5, 'q')`,
		`INSERT INTO action_items (id, student_id, recording_id, owner, task, due_date, evidence, status, closed_in) VALUES
			('a1', 'S001', 'r2', 'student', '写 STAR 项目经历', '2026-11-10', 'q', 'open', NULL),
			('a2', 'S002', 'r5', 'student', '画架构图', '2026-12-05', 'q', 'open', NULL),
			('a3', 'S002', 'r3', 'student', '补充数据', '2026-11-21', 'q', 'done', 'r4'),
			('a4', 'S001', 'r1', 'student', '改简历', '2026-11-05', 'q', 'done', 'r8')`,
		// Tencent named one teacher; the other is known by userid only.
		`INSERT INTO teacher_names (teacher_id, name) VALUES ('teacher_zhao', '赵老师')`,
		// The speakers table of issue 21 (sql/0003_speakers.sql), when it is not migrated here.
		`CREATE TABLE IF NOT EXISTS recording_speakers (
			recording_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
			speaker_key VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
			role VARCHAR(16) NOT NULL, student_id VARCHAR(128) NULL, source VARCHAR(16) NOT NULL,
			talk_ms BIGINT UNSIGNED NOT NULL, share DECIMAL(5,4) NOT NULL, questions INT UNSIGNED NOT NULL,
			turns INT UNSIGNED NOT NULL, longest_monologue_ms BIGINT UNSIGNED NOT NULL, chars INT UNSIGNED NOT NULL,
			PRIMARY KEY (recording_id, speaker_key))`,
		`INSERT INTO recording_speakers (recording_id, speaker_key, role, student_id, source, talk_ms, share, questions, turns, longest_monologue_ms, chars) VALUES
			('r2', 'teacher_wang', 'teacher', NULL, 'tencent', 2100000, 0.7, 0, 0, 0, 0),
			('r2', 'name:李同学', 'student', 'S001', 'tencent', 900000, 0.3, 0, 0, 0, 0)`,
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestStatusWarningsGolden evaluates the shipped rules of pipelines/meeting.yaml over the fixture at a
// fixed --until: the session of December 2 and the closing of a4 are after it and must not count.
func TestStatusWarningsGolden(t *testing.T) {
	dsn := storetest.DB(t)
	coachFixture(t, dsn)
	root := repoRoot(t)
	env := filepath.Join(t.TempDir(), "test.env")
	if err := os.WriteFile(env, []byte("DB_DSN="+dsn+"\nTEACHER_WHITELIST=teacher_wang\nTQM_SECRET_ID=x\nTQM_SECRET_KEY=y\n"+
		"ENTERPRISE_ID=1\nASR_BASE_URL=http://127.0.0.1:1/v1\nKIMI_API_KEY=k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runnerBinary(t), "status", "--warnings", "--env-file", env, "--pipeline", "pipelines/meeting.yaml",
		"--until", "2026-12-01T00:00:00Z", "--since", "7d", "--output", "json")
	cmd.Dir = root
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("status --warnings: %v\n%s", err, stderr.String())
	}
	var got struct {
		Warnings []coach.Warning `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	var lines []string
	for _, w := range got.Warnings {
		n := ""
		if w.New {
			n = " (new)"
		}
		lines = append(lines, w.StudentID+" "+w.Teacher+" "+w.Rule+n+": "+w.Message)
	}
	want := []string{
		"S001 teacher_wang 久未上课: 22.9 天没有上课（当前阶段 面试模拟）",
		"S001 teacher_wang 作业逾期: 2 项作业逾期（未关闭 2 项）",
		"S001 teacher_wang 模拟面试分数下降: 最近一次面试模拟均分 3，比上一次变化 -1",
		"S001 teacher_wang 老师说得太多: 上次面试模拟老师说话占 0.7（学生应多说）",
		"S002 赵老师 阶段停滞 (new): 在「项目深挖」已连续 4 次、10.9 天",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("warnings at 2026-12-01:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The text form names the same warnings.
	cmd = exec.Command(runnerBinary(t), "status", "--warnings", "--env-file", env, "--pipeline", "pipelines/meeting.yaml",
		"--until", "2026-12-01T00:00:00Z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "warnings at 2026-12-01 08:00 CST: 5") || !strings.Contains(string(out), "韩梅梅") {
		t.Errorf("text: %v\n%s", err, out)
	}
}
