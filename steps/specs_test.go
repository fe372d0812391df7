package steps

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"meetpipe/runner"
	"meetpipe/runner/step"
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

// A count or a size without an upper bound is a promise of memory or time that a typo can break: every
// numeric setting of every built-in step says how far it may go, and the loader enforces it.
func TestEveryNumericSettingIsBounded(t *testing.T) {
	var walk func(step, prefix string, ss []step.Setting)
	walk = func(step, prefix string, ss []step.Setting) {
		for _, s := range ss {
			switch s.Type {
			case "int", "number", "duration":
				if s.Max == "" {
					t.Errorf("%s: setting %s%s (%s) has no max", step, prefix, s.Name, s.Type)
				}
			}
			walk(step, prefix+s.Name+".", s.Fields)
		}
	}
	for _, name := range step.Builtins.Names() {
		d, _ := step.Builtins.Lookup(name)
		walk(name, "", d.Spec.Settings)
	}
}

// `runner schema` gives an editor the loader's bounds: every int or number setting of a built-in step
// has its minimum and maximum there, and every duration the loader's grammar.
func TestSchemaCarriesBounds(t *testing.T) {
	raw, err := runner.Schema(step.Builtins)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Steps struct {
				Items struct {
					AllOf []struct {
						If struct {
							Properties struct {
								Uses struct{ Const string } `json:"uses"`
							} `json:"properties"`
						} `json:"if"`
						Then struct {
							Properties struct {
								With struct {
									Properties map[string]map[string]any `json:"properties"`
								} `json:"with"`
							} `json:"properties"`
						} `json:"then"`
					} `json:"allOf"`
				} `json:"items"`
			} `json:"steps"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range doc.Properties.Steps.Items.AllOf {
		stp := c.If.Properties.Uses.Const
		def, _ := step.Builtins.Lookup(stp)
		for _, s := range def.Spec.Settings {
			p := c.Then.Properties.With.Properties[s.Name]
			switch s.Type {
			case "int", "number":
				seen++
				if _, ok := p["maximum"].(float64); !ok {
					t.Errorf("%s.%s: schema %v has no maximum", stp, s.Name, p)
				}
				if _, ok := p["minimum"].(float64); !ok && s.Min != "" {
					t.Errorf("%s.%s: schema %v has no minimum", stp, s.Name, p)
				}
			case "duration":
				if p["pattern"] == nil {
					t.Errorf("%s.%s: schema %v has no duration pattern", stp, s.Name, p)
				}
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d numeric settings in the schema", seen)
	}
}

// A built-in step's effective configuration is part of the memo key of every item it processed. A change
// in what it encodes to re-spends ASR minutes and model tokens on every stored recording, so a fixed
// configuration of each step must keep encoding to the same bytes. These were computed on the code before
// the memo membership of settings moved from json:"-" tags to memo:"-" tags.
func TestMemoConfigPinned(t *testing.T) {
	cases := []struct{ step, with, want string }{
		// The source's configuration keys no memo (a listing is read every run), so its pin moved when the
		// retries default went from 3 to 1 with the one retry layer; nothing stored is re-spent by that.
		{"tencent_list", "secret_id: id\nsecret_key: key\nenterprise_id: ent\nmode: per_teacher\nteachers: t1,t2\n", "964fabf15d351ac281bdb363e29030660c39a6aa279b1f9340d1c862a8668f37"},
		{"aria2_download", "connections: 8\nsplit: 8\n", "8bd51911f0fa2aad9fcb5e5f15473b0d1c528974c067c2e28cf726c763f9dff9"},
		{"ffmpeg_audio", "codec: flac\nchunk_minutes: 10\n", "cf20b9e7ecc7f54dca27b48b39fe3c90cd4947fcf9e4bd60511ec9f04dfbf401"},
		{"kimi_asr", "base_url: http://asr:8000/v1\napi_key: k\nmodel: moonshotai/Kimi-Audio-7B-Instruct\ntimeout: 10m\n", "c02c234cdde78d3f1336f6f14e570ddbd40bb9ff46e7e4b955663c5848c4c20f"},
		{"kimi_classify", "base_url: https://api.moonshot.cn/v1\napi_key: k\nmodel: moonshot-v1-128k\n" +
			"price_per_mtok_input: 12\ncurrency: CNY\ntimeout: 5m\n" +
			"phases:\n  - {name: a, description: first}\n  - {name: b, description: second}\n" +
			"fallback_phase: b\npre_rules:\n  - {name: r, when: \"true\", phase: a}\n", "c9dab9ffbc6f2cdaf6b870842ba72e21b1cc15b0cec3c23685f2f8ef8af6c621"},
		{"mysql_upsert", "host: 127.0.0.1\nport: 3306\nuser: root\npassword: pw\ndatabase: meet\n", "c3ab3394c24a02665c6e9a28590c799a4367cf006da6815c7048f8826973ee27"},
	}
	for _, c := range cases {
		t.Run(c.step, func(t *testing.T) {
			_, cfg := steptest.BuildWith(t, c.step, c.with, steptest.Options{DryRun: true})
			raw, err := step.MemoJSON(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(raw)
			if got := hex.EncodeToString(sum[:]); got != c.want {
				t.Errorf("memo configuration of %s encodes to %s (sha256 %s), want sha256 %s", c.step, raw, got, c.want)
			}
		})
	}
}
