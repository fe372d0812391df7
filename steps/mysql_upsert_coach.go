package steps

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"meetpipe/steps/coach"
	"meetpipe/steps/store"
)

// saveCoaching writes the checked extraction kimi_classify left in classification.coaching (homework,
// followups, scores) for the recording's canonical students; a recording without one writes nothing.
func saveCoaching(ctx context.Context, db *sql.DB, rec store.Recording) error {
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
