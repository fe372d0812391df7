package steps

import (
	"strings"
	"testing"

	"meetpipe/steps/steptest"
)

// Every refusal of a step's configuration names the place: the value at fault (with:LINE:COL), or, for a
// setting that is not written, the `with:` block. Checks made after decoding (a parse of the value, a
// rule across settings) are held to it as much as the spec's own.
func TestStepConfigErrorsAtTheirKey(t *testing.T) {
	tests := []struct{ step, with, want, pos string }{
		{"aria2_download", "connections: 8\nsplit: 0", "split: want 1..64, got 0", "with:2:8:"},
		{"aria2_download", "min_split_mb: 2048", "min_split_mb: want 1..1024", "with:1:15:"},
		{"ffmpeg_audio", "codec: opus\nbitrate: fast", `bitrate: "fast"`, "with:2:10:"},
		{"ffmpeg_audio", "codec: opus\nsample_rate: 44100", "sample_rate 44100 is not one opus takes", "with:2:14:"},
		{"ffmpeg_audio", "sample_rate: 11025\ncodec: opus", "sample_rate 11025 is not one opus takes", "with:1:14:"},
		{"ffmpeg_audio", "codec: mp3\nbitrate: 512k\nmax_chunk_bytes: 100000", "max_chunk_bytes 100000 leaves chunks", "with:3:18:"},
		{"ffmpeg_audio", "keep_media: true\nsilence_noise: loud", `silence_noise "loud"`, "with:2:16:"},
		{"kimi_asr", "model: x\nbase_url: ' '", "base_url is empty; set ASR_BASE_URL", "with:2:11:"},
		{"kimi_asr", "model: x", `step kimi_asr: missing required setting "base_url"`, "with:1:1:"},
		{"kimi_asr", "base_url: http://asr/v1\nchunk_concurrency: 0", "chunk_concurrency: want 1..64, got 0", "with:2:20:"},
		{"kimi_asr", "base_url: http://asr/v1\ncarry_over: -1", "carry_over: want 0..10000, got -1", "with:2:13:"},
		{"kimi_asr", "base_url: http://asr/v1\ndiarize: both", `diarize: "both" is not one of`, "with:2:10:"},
		{"kimi_asr", "model: x\nbase_url: gpu:8000/v1", `base URL "gpu:8000/v1" is not an absolute http(s) URL`, "with:2:11:"},
		{"kimi_asr", "base_url: 127.0.0.1:8000", `base URL "127.0.0.1:8000" is not`, "with:1:11:"},
		{"kimi_classify", "api_key: k\nbase_url: api.moonshot.cn/v1", "set KIMI_BASE_URL", "with:2:11:"},
		{"kimi_classify", "api_key: k\nuser: '{{.subject}} {{range .phases}}{{.name}}{{end}} {{$.nope}}'", "{{.nope}} names no field", "with:2:7:"},
		{"kimi_classify", "api_key: k\nmap_user: '{{.text}} {{.subjct}}'", "map_user template: {{.subjct}}", "with:2:11:"},
		// The client names the setting it refuses (tencent.SettingError): the empty one, not the first written.
		{"tencent_transcript", "secret_id: a\nsecret_key: ' '\nenterprise_id: c", "tencent: missing secret_key", "with:2:13:"},
		{"tencent_transcript", "secret_id: a\nsecret_key: b\nenterprise_id: c\nbase_url: ftp://x", "not an http(s) URL", "with:4:11:"},
		{"mysql_upsert", "host: h\nmax_open: 2", "set dsn (DB_DSN) or database (DB_NAME)", "with:1:1:"},
		{"mysql_upsert", "database: d\nroster: /nonexistent/roster.csv", "roster", "with:2:9:"},
		{"mysql_upsert", "database: d\nmax_open: 0", "max_open: want 1..256, got 0", "with:2:11:"},
		{"aria2_download", "connections: 17", "connections: want 1..16, got 17", "with:1:14:"},
		{"ffmpeg_audio", "chunk_minutes: 0", "chunk_minutes: want 0.1..120, got 0", "with:1:16:"},
		{"kimi_classify", "api_key: k\nprice_per_mtok_cached: -1", "price_per_mtok_cached: want 0..1000000, got -1", "with:2:24:"},
	}
	for _, tt := range tests {
		t.Run(tt.step+" "+tt.with, func(t *testing.T) {
			err := steptest.Err(t, tt.step, tt.with)
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), tt.pos) {
				t.Errorf("got %v, want an error mentioning %q at %s", err, tt.want, tt.pos)
			}
		})
	}
}
