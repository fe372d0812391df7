package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"meetpipe/runner/step"
	"meetpipe/steps/coach"
	"meetpipe/steps/store"
	"meetpipe/steps/tencent"
)

// saveCoaching writes the checked extraction kimi_classify left in classification.coaching (homework,
// followups, scores) for the recording's canonical students (a recording without one writes none), and
// the teacher's name where Tencent gives one.
func saveCoaching(ctx context.Context, db *sql.DB, rec store.Recording, in *step.Item) error {
	var parts []tencent.Participant
	if rec.TeacherID != "" && in.Get("participants", &parts) == nil {
		for _, p := range parts {
			if p.UserID == rec.TeacherID && strings.TrimSpace(p.Name) != "" {
				if err := store.SaveTeacherName(ctx, db, rec.TeacherID, strings.TrimSpace(p.Name)); err != nil {
					return err
				}
				break
			}
		}
	}
	if len(rec.Classification) == 0 || string(rec.Classification) == "null" {
		return nil
	}
	var cls struct {
		Coaching *coach.Extraction `json:"coaching"`
	}
	if err := json.Unmarshal(rec.Classification, &cls); err != nil {
		return fmt.Errorf("item %s field \"classification\": %w", rec.ID, err)
	}
	if cls.Coaching == nil {
		return nil
	}
	students := make([]string, len(rec.Students))
	for i, s := range rec.Students {
		students[i] = s.StudentID
	}
	return store.SaveCoaching(ctx, db, rec.ID, students, cls.Coaching)
}
