package emulator

import "net/http"

// Knobs for `runner doctor` tests: an ASR server that lists its models (vLLM answers GET /v1/models with
// {"object":"list","data":[{"id","object":"model","created","owned_by":"vllm",…}]}: docs.vllm.ai
// serving/openai_compatible_server; the answer quoted in cuongpiger/vllm-labs others/server-llama3.1/README.md)
// and a Moonshot account with nothing left to spend.

// asrModels serves GET /v1/models when ASROptions.Models is set; servers that list nothing (whisper.cpp,
// SiliconFlow's SenseVoice) answer 404, which is also the emulator's default.
func (s *ASRServer) asrModels(w http.ResponseWriter, r *http.Request) {
	if ok, _ := bearer(r, s.o.APIKey); !ok {
		s.count(func(c *ASRCounters) { c.Unauthorized++ })
		s.fail(w, http.StatusUnauthorized, "invalid_request_error", "", "Incorrect API key provided")
		return
	}
	data := make([]any, 0, len(s.o.Models))
	for _, m := range s.o.Models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1741252964, "owned_by": "vllm"})
	}
	writeJSON(w, map[string]any{"object": "list", "data": data})
}

// balanceOf is the balance the Moonshot emulator reports: the figures of the API reference's example
// (platform.moonshot.ai/docs/api/balance; docs/kimi-asr-api.md §2), or zeros with MoonshotOptions.EmptyBalance.
func (s *MoonshotServer) balanceOf() map[string]any {
	if s.o.EmptyBalance {
		return map[string]any{"available_balance": 0.0, "voucher_balance": 0.0, "cash_balance": 0.0}
	}
	return map[string]any{"available_balance": 49.58894, "voucher_balance": 46.58893, "cash_balance": 3.00001}
}
