package steps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"meetpipe/runner/disk"
	"meetpipe/runner/step"
	"meetpipe/steps/internal/fsx"
	"meetpipe/steps/media"
)

type aria2Config struct {
	Connections    int           `yaml:"connections" min:"1" max:"16" doc:"connections per file (aria2c -x)"`
	Split          int           `yaml:"split" min:"1" max:"64" doc:"pieces of a file fetched in parallel (aria2c -s)"`
	MinSplitMB     int           `yaml:"min_split_mb" min:"1" max:"1024" doc:"smallest piece in MiB; a file is split only into pieces at least this big"`
	ConnectTimeout time.Duration `yaml:"connect_timeout" min:"1s" max:"10m" doc:"limit on establishing one connection"`
	Timeout        time.Duration `yaml:"timeout" min:"1s" max:"1h" doc:"a connection that receives nothing this long is dropped and retried"`
	MaxTries       int           `yaml:"max_tries" min:"1" max:"20" doc:"aria2c's own tries per run on network errors; the step's retry policy retries the whole download"`
	RetryWait      time.Duration `yaml:"retry_wait" min:"0s" max:"10m" doc:"aria2c's pause between its tries"`
	SizeRetries    int           `yaml:"size_retries" min:"0" max:"10" doc:"times a file whose finished size differs from the listing is fetched again from scratch before the item fails"`
	Audio          bool          `yaml:"audio" doc:"download a file's audio-only rendition (m4a, the source's audio_urls) instead of its MP4 when the source offers one"`
}

// SettingDetails is what `runner steps aria2_download` prints under a setting, beyond its doc.
func (aria2Config) SettingDetails() map[string]string {
	return map[string]string{
		"audio": "The MP4 is the fallback. An audio file is checked to be non-empty and no bigger than its listed MP4.",
	}
}

func init() {
	step.Register(step.Spec{
		Name:    "aria2_download",
		Summary: "download every file of a recording with aria2c (several connections, resumable)",
		Version: "1",
		// download_urls is the source's lazy, volatile field: resolved just before this step runs, and
		// never part of its memo key.
		Reads: []string{"files", "download_urls", "audio_urls"},
		Writes: []step.Field{{Name: "media", Sample: []media.File{},
			Doc: "downloaded files in recording order: file_id, path (under state_dir/media), bytes"}},
		SideEffects: true,
	}, aria2Config{Connections: 8, Split: 8, MinSplitMB: 1, ConnectTimeout: 30 * time.Second,
		Timeout: 60 * time.Second, MaxTries: 3, RetryWait: 2 * time.Second, SizeRetries: 1, Audio: true},
		newAria2Download)
}

// listedFile is what aria2_download needs of an element of tencent_list's `files`, with its address
// from `download_urls`.
type listedFile struct {
	FileID string `json:"file_id"`
	Size   int64  `json:"size"`
	URL    string `json:"-"`
	Audio  bool   `json:"-"` // URL is the audio-only rendition: Size is its MP4's, an upper bound
}

type aria2Download struct {
	aria2    *media.Aria2 // Bin filled from tool on first use
	tool     *media.Lazy
	dir      string // state_dir/media
	retries  int
	audio    bool
	lim      *step.Limiter
	progress func(int64)
	secret   func(string)
}

func newAria2Download(cfg aria2Config, b *step.Build) (any, error) {
	dir, err := filepath.Abs(filepath.Join(b.StateDir, "media"))
	if err != nil {
		return nil, b.ErrorAt("", "aria2_download: state_dir: %v", err)
	}
	lim, _ := b.Limiter()
	return &aria2Download{
		tool: &media.Lazy{Tool: "aria2c"},
		aria2: &media.Aria2{Connections: cfg.Connections, Split: cfg.Split,
			MinSplitSize: int64(cfg.MinSplitMB) << 20, ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout,
			MaxTries: cfg.MaxTries, RetryWait: cfg.RetryWait},
		dir: dir, retries: max(cfg.SizeRetries, 0), audio: cfg.Audio, lim: lim, progress: b.Progress, secret: b.Secret,
	}, nil
}

func (s *aria2Download) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	bin, err := s.tool.Path()
	if err != nil {
		// Not the recording's fault: it waits for the next run, once aria2c is installed.
		return nil, step.Deferred(err)
	}
	a := *s.aria2
	a.Bin = bin
	var files []listedFile
	if err := in.Get("files", &files); err != nil {
		return nil, step.Permanent(err)
	}
	var urls map[string]string
	if in.Has("download_urls") {
		if err := in.Get("download_urls", &urls); err != nil {
			return nil, step.Permanent(fmt.Errorf("download_urls: %w", err))
		}
	}
	var audio map[string]string
	if s.audio && in.Has("audio_urls") {
		if err := in.Get("audio_urls", &audio); err != nil {
			return nil, step.Permanent(fmt.Errorf("audio_urls: %w", err))
		}
	}
	for i := range files {
		files[i].URL = urls[files[i].FileID]
		if u := audio[files[i].FileID]; u != "" {
			files[i].URL, files[i].Audio = u, true
		}
	}
	dir := filepath.Join(s.dir, media.SafeName(in.ID()))
	out := make([]media.File, 0, len(files))
	for i, f := range files {
		ext := ".mp4"
		if f.Audio {
			ext = ".m4a"
		}
		path := filepath.Join(dir, media.FileName(i, f.FileID, ext))
		n, err := s.fetch(ctx, &a, in.ID(), i, f, path)
		if err != nil {
			return nil, fmt.Errorf("file %d of %d (%s): %w", i+1, len(files), f.FileID, err)
		}
		out = append(out, media.File{FileID: f.FileID, Path: path, Bytes: n})
	}
	return step.Fields{"media": out}, nil
}

// fetch makes path a complete copy of f and returns its size. A complete file is kept as it is.
func (s *aria2Download) fetch(ctx context.Context, a *media.Aria2, item string, i int, f listedFile, path string) (int64, error) {
	log := step.Logger(ctx).With("file", i+1) // the run's logger carries run, step and item
	exact := f.Size                           // the size the finished file must have; 0: only bounded (audio)
	if f.Audio {
		exact = 0
	}
	if done, err := media.Complete(path, exact); err != nil {
		return 0, err
	} else if done {
		log.DebugContext(ctx, "already downloaded", "path", path)
		return fileSize(path)
	}
	if err := media.CheckControlFile(path); err != nil {
		// aria2c would fail on it forever; the partial file beside it cannot be trusted either.
		log.WarnContext(ctx, "discarding a partial download", "path", path, "reason", err.Error())
		if err := media.RemovePartial(path); err != nil {
			return 0, err
		}
	}
	if fi, err := os.Stat(path); err == nil {
		_, cerr := os.Stat(media.ControlFile(path))
		// Without its control file a partial file may have holes (pieces arrive out of order), and one
		// bigger than the listing is not a prefix of the file we want: neither can be resumed.
		if cerr != nil || (f.Size > 0 && fi.Size() > f.Size) {
			if err := media.RemovePartial(path); err != nil {
				return 0, err
			}
		}
	}
	if f.URL == "" {
		// Transient: a just-finished recording's addresses can lag behind its listing.
		return 0, step.Transient(errors.New("no download address for this file in download_urls"))
	}
	s.secret(f.URL)
	for attempt := 0; ; attempt++ {
		log.InfoContext(ctx, "download", "url", fsx.RedactURL(f.URL), "size", f.Size, "attempt", attempt+1)
		release, err := s.lim.Acquire(ctx)
		if err != nil {
			return 0, err
		}
		err = a.Download(ctx, f.URL, path, s.progress)
		release()
		if errors.Is(err, media.ErrScheme) {
			return 0, step.Permanent(err) // the listing's address itself is wrong
		}
		if de := (*media.DownloadError)(nil); errors.As(err, &de) && de.DiskFull() {
			// The disk, not the recording, is at fault, and every download would fail the same way: the
			// item stays pending and the run stops. The next run resumes or, if the control file was cut
			// short, starts over.
			return 0, step.Environmental(fmt.Errorf("disk full under %s: free space; the recording stays pending: %w", s.dir, err))
		}
		if err != nil {
			if de := (*media.DownloadError)(nil); errors.As(err, &de) && de.Expired() {
				// Retrying now would use the same stale address: leave the item to the next run, which
				// lists fresh ones (the source's hint finds it even after the window has moved on).
				return 0, step.Deferred(fmt.Errorf("download address expired or refused (HTTP 403); "+
					"the next run lists fresh addresses: %w", err))
			}
			return 0, step.Transient(err)
		}
		n, err := fileSize(path)
		if err != nil {
			return 0, err
		}
		if f.Size <= 0 || n == f.Size || (f.Audio && n > 0 && n <= f.Size) {
			log.InfoContext(ctx, "downloaded", "path", path, "bytes", n, "audio_only", f.Audio)
			return n, nil
		}
		// The server sent another file than the listing describes: start over, then give up.
		if err := media.RemovePartial(path); err != nil {
			return 0, err
		}
		mismatch := fmt.Errorf("downloaded %d bytes, listing says %d", n, f.Size)
		if f.Audio {
			mismatch = fmt.Errorf("downloaded an audio rendition of %d bytes; its MP4 is listed at %d", n, f.Size)
		}
		if attempt >= s.retries {
			// Transient, not permanent: a stale listing or a proxy that cuts bodies heals by itself, and
			// the item then stays on the pending list for later runs instead of being lost.
			return 0, step.Transient(mismatch)
		}
		log.WarnContext(ctx, "size mismatch, downloading again", "err", mismatch)
	}
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Verify checks that the downloaded files are still there, complete.
func (s *aria2Download) Verify(ctx context.Context, out *step.Item) error {
	var files []media.File
	if err := out.Get("media", &files); err != nil {
		return err
	}
	for _, f := range files {
		done, err := media.Complete(f.Path, f.Bytes)
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("media file %s is missing or incomplete", f.Path)
		}
	}
	return nil
}

// Estimate says how much a dry run would download.
func (s *aria2Download) Estimate(in *step.Item) string {
	var files []listedFile
	if err := in.Get("files", &files); err != nil {
		return ""
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	return fmt.Sprintf("%d files, %.1f MB", len(files), float64(total)/1e6)
}

// Check reports whether aria2c is installed and state_dir has room for a night's downloads (with no run
// history yet, ten recordings are assumed).
func (s *aria2Download) Check(ctx context.Context, o step.CheckOptions) []step.Finding {
	f, _ := media.CheckTool(ctx, "aria2c")
	n := o.RecentItems
	if n == 0 {
		n = 10
	}
	return []step.Finding{f, checkSpace(s.dir, n)}
}

// checkSpace compares the free space of dir with what a night of recordings needs: items recordings (at
// least one) of media.NightBytes each.
func checkSpace(dir string, items int) step.Finding {
	const subject = "disk space for media"
	free, ok := disk.Free(dir)
	if !ok {
		return step.Warn(subject, "cannot read the free space of "+dir, "check that the file system of state_dir has room for a night's recordings")
	}
	n := max(items, 1)
	need := uint64(n) * media.NightBytes
	detail := fmt.Sprintf("%s free under %s; a night of %d recording(s) needs about %s", disk.Human(free), dir, n, disk.Human(need))
	switch {
	case free < media.NightBytes:
		return step.Fail(subject, detail, "free space on the disk of state_dir, or point MEETPIPE_STATE_DIR at a larger one")
	case free < need:
		return step.Warn(subject, detail, "free space on the disk of state_dir, or set keep_media: false so media is deleted once used")
	}
	return step.OK(subject, detail)
}
