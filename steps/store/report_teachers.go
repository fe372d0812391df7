package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// readTeacherNames gives the window's recordings and talk rows their teacher's name from teacher_names
// (filled by mysql_upsert from the host participant), where Tencent gave one. A database the coaching
// migration (0004) has not reached has no names: the report then shows userids.
func (d *ReportData) readTeacherNames(ctx context.Context, db *sql.DB) error {
	ids := map[string]bool{}
	for _, r := range d.Recordings {
		if r.Teacher != "" {
			ids[r.Teacher] = true
		}
	}
	for _, t := range d.Talk {
		if t.Teacher != "" {
			ids[t.Teacher] = true
		}
	}
	names := map[string]string{}
	all := slices.Sorted(maps.Keys(ids))
	for len(all) > 0 { // in chunks: the window's teachers are few, but a placeholder list stays bounded
		chunk := all[:min(len(all), 500)]
		all = all[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.QueryContext(ctx, `SELECT teacher_id, name FROM teacher_names WHERE teacher_id IN (`+
			placeholders(len(chunk))+`)`, args...)
		if MissingTable(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("teacher_names: %w", err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return fmt.Errorf("teacher_names: %w", err)
			}
			if name = strings.TrimSpace(name); name != "" {
				names[id] = name
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("teacher_names: %w", err)
		}
	}
	for i := range d.Recordings {
		d.Recordings[i].TeacherName = names[d.Recordings[i].Teacher]
	}
	for i := range d.Talk {
		d.Talk[i].TeacherName = names[d.Talk[i].Teacher]
	}
	return nil
}
