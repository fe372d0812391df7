package steps

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"meetpipe/runner/step"
)

// Where the source offers an audio-only rendition, it is downloaded instead of the MP4 (as .m4a, checked
// to be no bigger than its MP4); without one, or with audio: false, the MP4 is. A rerun keeps the file.
func TestAria2DownloadPrefersAudio(t *testing.T) {
	t.Parallel() // its own servers and files
	mp4, m4a := randomBytes(t, 200_000), randomBytes(t, 20_000)
	var hits = map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits[r.URL.Path]++
		body := mp4
		if strings.HasSuffix(r.URL.Path, ".m4a") {
			body = m4a
		}
		if strings.HasPrefix(r.URL.Path, "/big") {
			body = append(mp4, mp4...)
		}
		http.ServeContent(w, r, r.URL.Path, time.Time{}, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	item := func(audio string) *step.Item {
		f := step.Fields{"files": []listedFile{{FileID: "f1", Size: int64(len(mp4))}},
			"download_urls": map[string]string{"f1": srv.URL + "/f1.mp4?sign=S"}}
		if audio != "" {
			f["audio_urls"] = map[string]string{"f1": srv.URL + audio}
		}
		it, err := step.NewItem("rec", f)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}

	s, _, _ := newTestDownload(t, "connections: 1")
	out, err := s.Process(context.Background(), item("/f1.m4a?sign=S"))
	if err != nil {
		t.Fatal(err)
	}
	got := mediaOut(t, out)
	if len(got) != 1 || !strings.HasSuffix(got[0].Path, ".m4a") || got[0].Bytes != int64(len(m4a)) {
		t.Fatalf("media %+v, want the 20 kB m4a", got)
	}
	if b, _ := os.ReadFile(got[0].Path); !bytes.Equal(b, m4a) {
		t.Error("the audio file's content differs")
	}
	if hits["/f1.mp4"] != 0 {
		t.Error("the MP4 was downloaded although an audio rendition was offered")
	}
	n := hits["/f1.m4a"]
	if _, err := s.Process(context.Background(), item("/f1.m4a?sign=S")); err != nil || hits["/f1.m4a"] != n {
		t.Errorf("rerun downloaded again (%d requests, %v)", hits["/f1.m4a"]-n, err)
	}

	// No audio offered: the MP4, size-checked as before.
	s2, _, _ := newTestDownload(t, "connections: 1")
	out, err = s2.Process(context.Background(), item(""))
	if err != nil || !strings.HasSuffix(mediaOut(t, out)[0].Path, ".mp4") {
		t.Fatalf("without audio: %v %+v", err, out)
	}
	// audio: false keeps the MP4.
	s3, _, _ := newTestDownload(t, "connections: 1\naudio: false")
	out, err = s3.Process(context.Background(), item("/f1.m4a?sign=S"))
	if err != nil || !strings.HasSuffix(mediaOut(t, out)[0].Path, ".mp4") {
		t.Fatalf("audio: false: %v %+v", err, out)
	}
	// An "audio" file bigger than its MP4 is not the file's audio.
	s4, _, _ := newTestDownload(t, "connections: 1\nsize_retries: 0")
	_, err = s4.Process(context.Background(), item("/big.m4a?sign=S"))
	if k, _ := step.Classify(err); err == nil || k != step.KindTransient || !strings.Contains(err.Error(), "audio rendition") {
		t.Errorf("oversized audio: %v (%v)", err, k)
	}
}
