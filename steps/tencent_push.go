package steps

import (
	"context"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/tencent"
	"meetpipe/steps/tencent/webhook"
)

// The push hooks of tencent_list, for `runner serve` (the host asks the pipeline's source; the engine
// knows nothing of them).

// Locate returns, as the engine's run targets, the recordings a recording.completed or smart.transcripts
// event names (tencent.Lister.Locate). None found is no error: the nightly run will list them.
func (s *tencentSource) Locate(ctx context.Context, ev *webhook.Event) ([]step.Pending, error) {
	var out []step.Pending
	seen := map[string]bool{}
	for _, p := range ev.Payload {
		m := p.Meeting
		ts, err := s.lister.Locate(runLog(ctx), tencent.Pushed{MeetingID: m.MeetingID, Creator: m.CreatorUserID,
			Start: m.Start, End: m.End, FileIDs: p.RecordFileIDs})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if !seen[t.ID] {
				seen[t.ID] = true
				out = append(out, step.Pending{ID: t.ID, Hint: t.Hint, Reason: "pushed by " + ev.Name})
			}
		}
	}
	return out, nil
}

// RequestSTSToken asks Tencent for an STS token as the configured admin operator (operator_id);
// [COMMUNITY] POST /v1/app/sts-token, see tencent.STSPath. The token arrives as a common.sts-token push.
func (s *tencentSource) RequestSTSToken(ctx context.Context, hours int) (string, error) {
	return s.client.RequestSTSToken(runLog(ctx), s.operator, hours)
}

// stsSource reads the stored STS token for the client's data-sensitive calls: the one `runner serve`
// keeps from common.sts-token events (tencent.STSStore). No state_dir, no token.
func stsSource(stateDir string) func() string {
	if stateDir == "" {
		return nil
	}
	store := tencent.NewSTSStore(stateDir)
	return func() string {
		if t, ok, err := store.Load(time.Now()); err == nil && ok {
			return t.Token
		}
		return ""
	}
}
