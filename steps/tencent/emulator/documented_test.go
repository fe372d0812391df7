package emulator

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

// By default the emulator answers as documented: /v1/records lists only the meetings the operator
// created, even for an admin (1095/51189, 2026-01), and names the HOST in host_user_id (GO/PY records
// model: 主持人用户 ID); /v1/corp/records names the creator in userid (1095/53224); /v1/users/{userid}
// knows the enterprise's users and answers 20001 for others.
func TestRecordsAndUsersAsDocumented(t *testing.T) {
	fx := testFixture()
	fx.Meetings[0].Creator = "assistant_he"
	s := newServer(t, Options{Fixture: fx})
	day := base.Add(-time.Hour)
	listed := func(op string, corp bool) map[string][2]any {
		t.Helper()
		uri := recordsURI(op, day, day.Add(24*time.Hour), "")
		if corp {
			uri = "/v1/corp" + uri[len("/v1"):]
		}
		st, out := call{uri: uri}.do(t, s)
		if st != 200 {
			t.Fatalf("%s: HTTP %d %v", uri, st, out)
		}
		got := map[string][2]any{}
		for _, r := range out["record_meetings"].([]any) {
			rm := r.(map[string]any)
			got[rm["meeting_record_id"].(string)] = [2]any{rm["host_user_id"], rm["userid"]}
		}
		return got
	}
	if got := listed("admin", false); len(got) != 0 {
		t.Errorf("/v1/records for an admin who created nothing: %v", got)
	}
	host := fx.Meetings[0].Host
	if got := listed("assistant_he", false); got["rec-done"] != [2]any{host, nil} {
		t.Errorf("/v1/records for the creator: %v, want rec-done with host_user_id %s", got, host)
	}
	if got := listed(host, false); slices.Contains(keys(got), "rec-done") {
		t.Errorf("/v1/records for the host who did not create it: %v", got)
	}
	if got := listed("admin", true); got["rec-done"] != [2]any{nil, "assistant_he"} {
		t.Errorf("/v1/corp/records: %v, want the creator as userid and no host_user_id", got)
	}
	for user, want := range map[string]int{"assistant_he": 200, host: 200, "nobody": 400} {
		st, out := call{uri: "/v1/users/" + url.PathEscape(user) + "?operator_id=admin&operator_id_type=1"}.do(t, s)
		if st != want || want == 400 && errorCode(out) != 20001 || want == 200 && out["userid"] != user {
			t.Errorf("/v1/users/%s: HTTP %d %v", user, st, out)
		}
	}
}

func keys(m map[string][2]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
