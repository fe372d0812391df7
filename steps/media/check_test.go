package media

import (
	"context"
	"strings"
	"testing"

	"meetpipe/runner"
)

func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	free, ok := runner.FreeBytes(dir)
	if !ok {
		t.Skip("no free-space figure for the temporary folder")
	}
	if f := CheckSpace(dir+"/not/yet/made", 1); f.Status != runner.StatusOK || !strings.Contains(f.Detail, "1 recording(s)") {
		t.Errorf("one recording: %+v", f)
	}
	many := int(free/NightBytes) + 5
	if f := CheckSpace(dir, many); f.Status != runner.StatusWarn || !strings.Contains(f.Remedy, "keep_media: false") {
		t.Errorf("%d recordings: %+v", many, f)
	}
}

func TestCheckToolMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f, path := CheckTool(context.Background(), "aria2c")
	if path != "" || f.Status != runner.StatusFail || !strings.Contains(f.Remedy, "apt-get install aria2") {
		t.Errorf("%+v", f)
	}
	l := &Lazy{Tool: "aria2c"}
	if _, err := l.Path(); err == nil || !strings.Contains(err.Error(), "apt-get install aria2") {
		t.Errorf("lazy lookup: %v", err)
	}
}

func TestEncoderNames(t *testing.T) {
	out := "Encoders:\n V..... = Video\n A..... = Audio\n ------\n V....D a64multi             Multicolor\n A....D flac                 FLAC\n A..... libopus              libopus Opus (codec opus)\n"
	got := encoderNames([]byte(out))
	if !got["flac"] || !got["libopus"] || !got["a64multi"] || got["="] || got["Video"] || len(got) != 3 {
		t.Errorf("%v", got)
	}
}
