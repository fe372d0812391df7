package media

import (
	"context"
	"strings"
	"testing"

	"meetpipe/runner/finding"
)

func TestCheckToolMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f, path := CheckTool(context.Background(), "aria2c")
	if path != "" || f.Status != finding.StatusFail || !strings.Contains(f.Remedy, "apt-get install aria2") {
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
