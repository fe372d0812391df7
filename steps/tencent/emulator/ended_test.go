package emulator

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// The emulator answers as documented: ended meetings absent from /v1/meetings/{id} (1095/42418) and
// served by /v1/corp/meetings (ms, userid = creator) and /v1/history/meetings (seconds); /v1/records
// lists a meeting for its creator only; uuids are per meeting.
func TestEndedMeetingsAsDocumented(t *testing.T) {
	fx := testFixture()
	fx.Meetings[0].Creator = "assistant_he"
	fx.Users = []string{"assistant_he"}
	s := newServer(t, Options{Fixture: fx})
	span := fmt.Sprintf("start_time=%d&end_time=%d", base.Add(-time.Hour).Unix(), base.Add(5*time.Hour).Unix())

	st, out := call{uri: "/v1/meetings/1739626437650178888?instanceid=1&operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 200 || len(out["meeting_info_list"].([]any)) != 0 || out["meeting_number"] != 0.0 {
		t.Errorf("ended meeting details: HTTP %d %v, want an empty meeting_info_list", st, out)
	}

	st, out = call{uri: "/v1/corp/meetings?meeting_state=1&operator_id=admin&operator_id_type=1&page=1&page_size=20&" + span}.do(t, s)
	list, _ := out["meeting_info_list"].([]any)
	if st != 200 || len(list) != 2 {
		t.Fatalf("corp ended meetings: HTTP %d %v, want both meetings", st, out)
	}
	m := list[0].(map[string]any)
	if m["userid"] != "assistant_he" || m["meeting_type"] != 0.0 || m["start_time"] != float64(base.UnixMilli()) {
		t.Errorf("corp ended meeting %v: want the creator and the media start in ms", m)
	}
	if st, out := (call{uri: "/v1/corp/meetings?meeting_state=1&operator_id=teacher_wang&operator_id_type=1&" + span}).do(t, s); st != 400 || errorCode(out) != 500133 {
		t.Errorf("corp ended meetings as a non-admin: HTTP %d %v", st, out)
	}

	st, out = call{uri: "/v1/history/meetings/teacher_wang?operator_id=teacher_wang&operator_id_type=1&page=1&page_size=20&" + span}.do(t, s)
	list, _ = out["meeting_info_list"].([]any)
	if st != 200 || len(list) != 1 || list[0].(map[string]any)["start_time"] != float64(base.Unix()) {
		t.Errorf("history of the host: HTTP %d %v, want the meeting it attended, times in seconds", st, out)
	}

	// /v1/records: the creator sees it, the host who did not create it does not.
	rec := func(op string) int {
		uri := fmt.Sprintf("/v1/records?operator_id=%s&operator_id_type=1&%s", op, span)
		st, out := call{uri: uri}.do(t, s)
		if st != 200 {
			t.Fatalf("records of %s: HTTP %d %v", op, st, out)
		}
		return len(out["record_meetings"].([]any))
	}
	if rec("assistant_he") != 1 || rec("teacher_wang") != 0 {
		t.Errorf("records of the creator %d, of the host %d; want 1 and 0", rec("assistant_he"), rec("teacher_wang"))
	}

	// A uuid holds for one meeting: the guest's uuid is not the fixture's and differs between meetings.
	st, out = call{uri: "/v1/meetings/1739626437650178888/participants?operator_id=admin&operator_id_type=1&start_time=" +
		strconv.FormatInt(base.Add(-time.Hour).Unix(), 10) + "&end_time=" + strconv.FormatInt(base.Add(2*time.Hour).Unix(), 10)}.do(t, s)
	for _, p := range out["participants"].([]any) {
		if u := p.(map[string]any)["uuid"]; u == "WMabc123" || u == "" {
			t.Errorf("participant uuid %v: want a per-meeting uuid", u)
		}
	}
	s2 := newServer(t, Options{Fixture: testFixture(), StableUUIDs: true})
	_, out = call{uri: "/v1/meetings/1739626437650178888/participants?operator_id=admin&operator_id_type=1&start_time=" +
		strconv.FormatInt(base.Add(-time.Hour).Unix(), 10) + "&end_time=" + strconv.FormatInt(base.Add(2*time.Hour).Unix(), 10)}.do(t, s2)
	if u := out["participants"].([]any)[0].(map[string]any)["uuid"]; u != "WMteacher" {
		t.Errorf("StableUUIDs: uuid %v", u)
	}
}

// The documented limits: 190311 once the day's quota is spent, 190313 past /v1/corp/meetings' own limit.
func TestDocumentedLimits(t *testing.T) {
	s := newServer(t, Options{Fixture: testFixture(), DailyQuota: 2, CorpMeetingsPerMinute: 1})
	uri := "/v1/corp/meetings?meeting_state=1&operator_id=admin&operator_id_type=1"
	if st, out := (call{uri: uri}).do(t, s); st != 200 {
		t.Fatalf("first call: HTTP %d %v", st, out)
	}
	if st, out := (call{uri: uri}).do(t, s); errorCode(out) != 190313 {
		t.Errorf("second corp meetings call in a minute: HTTP %d %v, want 190313", st, out)
	}
	if st, out := (call{uri: uri}).do(t, s); errorCode(out) != 190311 {
		t.Errorf("third call of the day: HTTP %d %v, want 190311", st, out)
	}
}
