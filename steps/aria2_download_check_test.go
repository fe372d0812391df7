package steps

import (
	"context"
	"strings"
	"testing"

	"meetpipe/runner/disk"
	"meetpipe/runner/step"
	"meetpipe/steps/media"
)

func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	free, ok := disk.Free(dir)
	if !ok {
		t.Skip("no free-space figure for the temporary folder")
	}
	if f := checkSpace(dir+"/not/yet/made", 1); f.Status != step.StatusOK || !strings.Contains(f.Detail, "1 recording(s)") {
		t.Errorf("one recording: %+v", f)
	}
	many := int(free/media.NightBytes) + 5
	if f := checkSpace(dir, many); f.Status != step.StatusWarn || !strings.Contains(f.Remedy, "keep_media: false") {
		t.Errorf("%d recordings: %+v", many, f)
	}
}

// A media finding reaches the doctor as the client made it (one Finding type, no conversion), beside the
// step's own disk-space finding.
func TestMediaFindingsReachTheDoctor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	want, _ := media.CheckTool(context.Background(), "aria2c")
	fs := (&aria2Download{dir: t.TempDir()}).Check(context.Background(), step.CheckOptions{})
	if len(fs) != 2 || fs[0] != want || fs[0].Status != step.StatusFail || !strings.Contains(fs[0].Remedy, "apt-get install aria2") ||
		fs[1].Subject != "disk space for media" {
		t.Errorf("findings %+v, want first %+v", fs, want)
	}
}
