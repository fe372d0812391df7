package steps

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
)

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
