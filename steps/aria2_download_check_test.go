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

// A media finding keeps its status, subject, detail and remedy in the doctor's terms.
func TestMediaFindingsReachTheDoctor(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f, _ := media.CheckTool(context.Background(), "aria2c")
	got := engineFinding(f)
	if got.Status != step.StatusFail || got.Subject != "aria2c" || !strings.Contains(got.Remedy, "apt-get install aria2") || got.Detail != f.Detail {
		t.Errorf("%+v from %+v", got, f)
	}
	for _, s := range []string{media.StatusOK, media.StatusWarn, media.StatusFail} {
		if engineFinding(media.Finding{Status: s}).Status != map[string]string{media.StatusOK: step.StatusOK,
			media.StatusWarn: step.StatusWarn, media.StatusFail: step.StatusFail}[s] {
			t.Errorf("status %s not the doctor's", s)
		}
	}
}
