package tencent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// DownloadURLsField is the lazy item field Resolve fills: record_file_id → signed download address.
const DownloadURLsField = "download_urls"

// AudioURLsField is the lazy item field of audio-only renditions: record_file_id → signed m4a address,
// for the files /v1/addresses gives an audio_address (tencent-meeting-api.md correction 6). An hour of
// screen-share MP4 can be hundreds of MB while its audio is tens.
const AudioURLsField = "audio_urls"

// remember keeps what Resolve needs of an emitted recording: the operator that listed it, and the
// addresses the listing carried (the corp listing has them).
func (l *Lister) remember(id, op string, files []RecordFile) {
	var addrs map[string]string
	for _, f := range files {
		if f.DownloadAddress != "" {
			if addrs == nil {
				addrs = map[string]string{}
			}
			addrs[f.ID] = f.DownloadAddress
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listed[id] = listed{operator: op, addrs: addrs}
}

// Resolve returns the download addresses of the item's recording (GET /v1/addresses), as the lazy field
// download_urls: record_file_id → signed URL, valid 6 hours. The engine asks for it only when a step that
// reads it is about to run, so that reruns whose downloads are memoized cost no address call. Every
// listed file must have an address. It makes one try: the engine retries it with the item, under the
// consuming step's `retry:`.
func (l *Lister) Resolve(ctx context.Context, in Item) (map[string]any, error) {
	id := in.ID()
	if in.Has("id") {
		if err := in.Get("id", &id); err != nil || id == "" {
			return nil, permanent(fmt.Errorf("tencent: item %s has no usable id (meeting_record_id): %v", in.ID(), err))
		}
	}
	var files []File
	if in.Has("files") {
		if err := in.Get("files", &files); err != nil {
			return nil, permanent(fmt.Errorf("tencent: item %s: files: %w", id, err))
		}
		if len(files) == 0 {
			return map[string]any{DownloadURLsField: map[string]string{}, AudioURLsField: map[string]string{}}, nil
		}
	}
	l.mu.Lock()
	seen, ok := l.listed[id]
	l.mu.Unlock()
	op := seen.operator
	if !ok {
		op = l.operatorOf(in)
	}
	addrs, err := l.c.Addresses(ctx, id, op)
	if err != nil {
		return nil, err
	}
	urls := make(map[string]string, len(addrs))
	audio := map[string]string{}
	for _, a := range addrs {
		if a.DownloadAddress != "" {
			urls[a.FileID] = a.DownloadAddress
		}
		if a.AudioAddress != "" {
			audio[a.FileID] = a.AudioAddress
		}
	}
	for f, u := range seen.addrs {
		if urls[f] == "" {
			urls[f] = u
		}
	}
	if in.Has("files") {
		want := make(map[string]string, len(files))
		var missing []string
		for _, f := range files {
			if u := urls[f.FileID]; u != "" {
				want[f.FileID] = u
			} else {
				missing = append(missing, f.FileID)
			}
		}
		if len(missing) > 0 {
			// Transient: the addresses of a just-finished recording can lag behind the listing. When they
			// never come, downloading may be disabled for the recording (企业设置 → 允许下载).
			return nil, transient(fmt.Errorf("tencent: recording %s: /v1/addresses has no download address for %d of %d file(s) (%s); "+
				"the addresses may lag behind the listing, or downloading is not allowed for this recording",
				id, len(missing), len(files), strings.Join(missing, ", ")))
		}
		urls = want
	}
	if l.cfg.Secret != nil {
		for _, u := range urls {
			l.cfg.Secret(u)
		}
		for _, u := range audio {
			l.cfg.Secret(u)
		}
	}
	l.logger(ctx).LogAttrs(ctx, slog.LevelDebug, "download addresses resolved", slog.String("item", id), slog.Int("files", len(urls)))
	return map[string]any{DownloadURLsField: urls, AudioURLsField: audio}, nil
}

// operatorOf is the operator for an item this process did not list: the admin in corp mode, else its
// creator. Never its host: /v1/records lists a meeting for its creator only (1095/51189) and
// /v1/addresses answers only its creator, a super admin or a user with 录制管理 rights (1095/51174).
func (l *Lister) operatorOf(in Item) string {
	if l.cfg.Mode == ModeCorp {
		return l.cfg.Operator
	}
	var creator string
	in.Get("creator_userid", &creator) //nolint:errcheck // optional
	if slices.Contains(l.cfg.Teachers, creator) {
		return creator
	}
	return l.cfg.Teachers[0]
}

// logger is the configured logger, else the run's (WithLogger).
func (l *Lister) logger(ctx context.Context) *slog.Logger {
	if l.log != nil {
		return l.log
	}
	return loggerFrom(ctx)
}
