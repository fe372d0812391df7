package tencent

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meetpipe/steps/tencent/emulator"
)

// downloadURLs decodes what Resolve returned, as aria2_download will.
func downloadURLs(t *testing.T, f map[string]any) map[string]string {
	t.Helper()
	if _, ok := f[AudioURLsField]; len(f) != 2 || !ok {
		t.Fatalf("Resolve returned fields %v, want download_urls and audio_urls only", f)
	}
	it, err := newItem("x", f)
	if err != nil {
		t.Fatal(err)
	}
	var urls map[string]string
	if err := it.Get(DownloadURLsField, &urls); err != nil {
		t.Fatal(err)
	}
	return urls
}

// listDay lists the coaching day and returns the lister and what it emitted.
func listDay(t *testing.T, s *emulator.Server, c *Client, cfg ListerConfig) (*Lister, *sink) {
	t.Helper()
	l := newLister(t, c, cfg)
	out := newSink()
	if err := l.List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	return l, out
}

func TestResolve(t *testing.T) {
	const id = "1964787070499246080"
	t.Run("addresses of every file", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l, out := listDay(t, s, c, ListerConfig{})
		f, err := l.Resolve(context.Background(), out.items[id])
		if err != nil {
			t.Fatal(err)
		}
		urls := downloadURLs(t, f)
		if len(urls) != 2 || !strings.HasPrefix(urls["1964787070499246081"], s.URL()+"/media/") || !strings.HasPrefix(urls["1964787070499246082"], s.URL()+"/media/") {
			t.Errorf("download_urls %v", urls)
		}
		reqs := s.Requests(emulator.EndpointAddresses)
		if len(reqs) != 1 || !strings.Contains(reqs[0].URI, "meeting_record_id="+id) || !strings.Contains(reqs[0].URI, "operator_id=admin") {
			t.Errorf("address requests %v, want one for the recording, as the listing's operator", reqs)
		}
		if n := s.Count(emulator.EndpointParticipants) + s.Count(emulator.EndpointMeeting) + s.Count(emulator.EndpointCorpRecords); n != 0 {
			t.Errorf("Resolve made %d other calls", n)
		}
	})
	t.Run("item listed by an earlier process", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		_, out := listDay(t, s, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_li", "teacher_wang"}})
		fresh := newLister(t, c, ListerConfig{Mode: ModePerTeacher, Teachers: []string{"teacher_li", "teacher_wang"}})
		if _, err := fresh.Resolve(context.Background(), out.items[id]); err != nil {
			t.Fatal(err)
		}
		if reqs := s.Requests(emulator.EndpointAddresses); len(reqs) != 1 || !strings.Contains(reqs[0].URI, "operator_id=teacher_wang") {
			t.Errorf("address requests %v, want one as the host teacher", reqs)
		}
	})
	t.Run("a listed file without an address", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l, out := listDay(t, s, c, ListerConfig{})
		var files []File
		out.items[id].Get("files", &files)
		files = append(files, File{FileID: "file-not-yet-addressed", Size: 1})
		it, _ := newItem(id, map[string]any{"id": id, "files": files})
		_, err := l.Resolve(context.Background(), it)
		if kind, _ := kindOf(err); err == nil || kind != kindTransient ||
			!strings.Contains(err.Error(), "file-not-yet-addressed") || !strings.Contains(err.Error(), "1 of 3") {
			t.Fatalf("got %v (%v), want a transient error naming the file", err, kind)
		}
		if strings.Contains(err.Error(), "sign") {
			t.Errorf("error shows an address: %v", err)
		}
	})
	t.Run("errors classified like the client's", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			fault emulator.Fault
			kind  kind
			want  string
		}{
			{"deleted recording", emulator.ErrorFault(400, CodeRecordDeleted, "record deleted"), kindPermanent, "deleted"},
			{"no permission", emulator.ErrorFault(400, CodeNoPermission, "no permission"), kindPermanent, "permission"},
			{"gateway", emulator.Fault{Kind: emulator.FaultGateway}, kindTransient, "503"},
			{"rate limited", emulator.ErrorFault(400, CodeTooFrequent, "too frequent"), kindTransient, "frequent"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s, c := newEnv(t, emulator.Options{})
				l, out := listDay(t, s, c, ListerConfig{})
				s.FailNext(emulator.EndpointAddresses, 1, tt.fault)
				_, err := l.Resolve(context.Background(), out.items[id])
				kind, _ := kindOf(err)
				if err == nil || kind != tt.kind || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), id) {
					t.Fatalf("got %v (%v), want %v naming %q and the recording", err, kind, tt.kind, tt.want)
				}
				// One request: the engine retries a transient failure, under the downloading step's retry:.
				if n := s.Count(emulator.EndpointAddresses); n != 1 {
					t.Errorf("%d address requests for one Resolve, want 1", n)
				}
			})
		}
	})
	t.Run("no files", func(t *testing.T) {
		s, c := newEnv(t, emulator.Options{})
		l := newLister(t, c, ListerConfig{})
		it, _ := newItem("r", map[string]any{"id": "r", "files": []File{}})
		f, err := l.Resolve(context.Background(), it)
		if err != nil || len(downloadURLs(t, f)) != 0 || s.Count(emulator.EndpointAddresses) != 0 {
			t.Fatalf("got %v, %v, %d calls; want an empty map and no call", f, err, s.Count(emulator.EndpointAddresses))
		}
	})
}

// Resolve may run while the listing goes on: the engine starts downloads of emitted items at once.
func TestResolveDuringList(t *testing.T) {
	s, c := newEnv(t, emulator.Options{Latency: time.Millisecond})
	l := newLister(t, c, ListerConfig{})
	out := &resolvingSink{sink: newSink(), l: l}
	if err := l.List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	out.wg.Wait()
	if len(out.errs) != 0 {
		t.Fatal(out.errs)
	}
	if got, want := s.Count(emulator.EndpointAddresses), len(out.order); got != want || want != 3 {
		t.Errorf("%d address calls for %d items", got, want)
	}
}

// resolvingSink resolves every item as it is emitted, concurrently with the listing.
type resolvingSink struct {
	*sink
	l    *Lister
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (s *resolvingSink) Emit(ctx context.Context, id string, f map[string]any) error {
	if err := s.sink.Emit(ctx, id, f); err != nil {
		return err
	}
	s.sink.mu.Lock()
	it := s.sink.items[id]
	s.sink.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.l.Resolve(ctx, it); err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	}()
	return nil
}

// /v1/addresses' audio_address is resolved as audio_urls, beside the MP4's download address.
func TestResolveAudioAddresses(t *testing.T) {
	fx := coachingFixture()
	dir := t.TempDir()
	audio := filepath.Join(dir, "a.m4a")
	os.WriteFile(audio, []byte("m4a bytes"), 0o600)
	fx.Meetings[0].Records[0].Files[0].AudioPath = audio
	s, c := newEnv(t, emulator.Options{Fixture: fx})
	out := newSink()
	l := newLister(t, c, ListerConfig{})
	if err := l.List(context.Background(), day, out); err != nil {
		t.Fatal(err)
	}
	f, err := l.Resolve(context.Background(), out.items["1964787070499246080"])
	if err != nil {
		t.Fatal(err)
	}
	it, _ := newItem("x", f)
	var urls, mp4 map[string]string
	it.Get(AudioURLsField, &urls)
	it.Get(DownloadURLsField, &mp4)
	if len(urls) != 1 || urls["1964787070499246081"] == "" || len(mp4) != 2 {
		t.Fatalf("audio_urls %v download_urls %v: want the first file's audio and both MP4s", urls, mp4)
	}
	resp, err := http.Get(urls["1964787070499246081"])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "m4a bytes" {
		t.Errorf("audio address served HTTP %d %q", resp.StatusCode, b)
	}
	_ = s
}
