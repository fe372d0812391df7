package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var base = time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)

func testFixture() *Fixture {
	return &Fixture{
		Admins: []string{"admin"},
		Meetings: []Meeting{
			{
				MeetingID: "1739626437650178888", MeetingCode: "118280844", Subject: "简历优化", Host: "teacher_wang",
				Start: base, End: base.Add(time.Hour),
				Participants: []Person{
					{UserID: "teacher_wang", UUID: "WMteacher", Name: "王老师", Role: 3, Sessions: []Session{{Join: base, Left: base.Add(time.Hour)}}},
					{UUID: "WMabc123", Name: "李同学", Sessions: []Session{
						{Join: base.Add(time.Minute), Left: base.Add(20 * time.Minute)},
						{Join: base.Add(25 * time.Minute), Left: base.Add(59 * time.Minute)},
					}},
					{UserID: "stu_zhang", UUID: "WMzhang", Name: "张同学", Sessions: []Session{{Join: base.Add(2 * time.Minute), Left: base.Add(50 * time.Minute)}}},
				},
				Records: []Record{{ID: "rec-done", Start: base, State: 3, Files: []File{
					{ID: "f1", Start: base, End: base.Add(30 * time.Minute), Size: 100_000},
					{ID: "f2", Start: base.Add(30 * time.Minute), End: base.Add(time.Hour), Size: 5000},
				}}},
			},
			{
				MeetingID: "1739626437650178999", MeetingCode: "118280845", Subject: "项目深挖", Host: "teacher_li",
				Start: base.Add(2 * time.Hour), End: base.Add(3 * time.Hour),
				Records: []Record{
					{ID: "rec-recording", Start: base.Add(2 * time.Hour), State: 1},
					{ID: "rec-transcoding", Start: base.Add(2*time.Hour + time.Minute), State: 2},
				},
			},
		},
	}
}

// call is one hand-signed request, so that the server's checks can be probed one by one.
type call struct {
	method, uri  string
	body         []byte
	signBody     []byte // signed instead of body when set
	key, secret  string
	appID        string
	nonce, ts    string
	lowerHeaders bool
}

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Fixture == nil {
		o.Fixture = testFixture()
	}
	s := New(o)
	t.Cleanup(s.Close)
	return s
}

var nonceSeq atomic.Int64

func (c call) do(t *testing.T, s *Server) (int, map[string]any) {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodGet
	}
	if c.key == "" {
		c.key = DefaultSecretID
	}
	if c.secret == "" {
		c.secret = DefaultSecretKey
	}
	if c.appID == "" {
		c.appID = DefaultAppID
	}
	if c.nonce == "" {
		c.nonce = strconv.FormatInt(1000+nonceSeq.Add(1), 10)
	}
	if c.ts == "" {
		c.ts = strconv.FormatInt(time.Now().Unix(), 10)
	}
	signed := c.body
	if c.signBody != nil {
		signed = c.signBody
	}
	m := hmac.New(sha256.New, []byte(c.secret))
	m.Write([]byte(c.method + "\nX-TC-Key=" + c.key + "&X-TC-Nonce=" + c.nonce + "&X-TC-Timestamp=" + c.ts + "\n" + c.uri + "\n"))
	m.Write(signed)
	sig := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
	req, err := http.NewRequest(c.method, s.URL()+c.uri, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{
		"X-TC-Key": c.key, "X-TC-Nonce": c.nonce, "X-TC-Timestamp": c.ts, "X-TC-Signature": sig,
		"AppId": c.appID, "SdkId": "", "Content-Type": "application/json", "X-TC-Registered": "1",
	}
	for k, v := range hdr {
		if c.lowerHeaders {
			req.Header[strings.ToLower(k)] = []string{v} // sent as written, not canonicalized
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: body is not JSON: %q", c.uri, b)
	}
	if resp.Header.Get("X-TC-Trace") == "" {
		t.Errorf("%s: no X-TC-Trace header", c.uri)
	}
	return resp.StatusCode, out
}

func errorCode(out map[string]any) int64 {
	info, _ := out["error_info"].(map[string]any)
	if info == nil {
		return 0
	}
	n, _ := info["error_code"].(float64)
	return int64(n)
}

func recordsURI(op string, from, to time.Time, extra string) string {
	return fmt.Sprintf("/v1/records?end_time=%d&operator_id=%s&operator_id_type=1&start_time=%d%s", to.Unix(), op, from.Unix(), extra)
}

func TestAuthentication(t *testing.T) {
	s := newServer(t, Options{})
	uri := recordsURI("admin", base.Add(-time.Hour), base.Add(24*time.Hour), "")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	tests := []struct {
		name     string
		c        call
		status   int
		code     int64
		msgMatch string
	}{
		{name: "valid", c: call{uri: uri}, status: 200},
		{name: "header names in lower case", c: call{uri: uri, lowerHeaders: true}, status: 200},
		{name: "GET with body null signed as null (official Go SDK)", c: call{uri: uri, body: []byte("null")}, status: 200},
		{name: "GET with body null signed as empty", c: call{uri: uri, body: []byte("null"), signBody: []byte{}}, status: 400, code: 200003},
		{name: "wrong secret key", c: call{uri: uri, secret: "nope"}, status: 400, code: 200003},
		{name: "unknown secret id", c: call{uri: uri, key: "AKID_other"}, status: 400, code: 190303},
		{name: "stale timestamp", c: call{uri: uri, ts: strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)}, status: 400, code: 190300, msgMatch: "expired"},
		{name: "future timestamp", c: call{uri: uri, ts: strconv.FormatInt(time.Now().Add(6*time.Minute).Unix(), 10)}, status: 400, code: 190300},
		{name: "wrong AppId", c: call{uri: uri, appID: "999"}, status: 400, code: 190004},
		{name: "nonce not a number", c: call{uri: uri, nonce: "abc"}, status: 400, code: 190004},
		{name: "signed URI differs from sent URI", c: call{uri: uri + "&page=2", signBody: nil, key: "", secret: ""}, status: 200},
		{name: "first use of a nonce", c: call{uri: uri, nonce: "777", ts: now}, status: 200},
		{name: "nonce and timestamp replayed", c: call{uri: uri, nonce: "777", ts: now}, status: 400, code: 190301},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := tt.c.do(t, s)
			if st != tt.status || errorCode(out) != tt.code {
				t.Fatalf("got HTTP %d code %d (%v), want HTTP %d code %d", st, errorCode(out), out, tt.status, tt.code)
			}
			if tt.msgMatch != "" && !strings.Contains(fmt.Sprint(out), tt.msgMatch) {
				t.Errorf("message %v does not mention %q", out, tt.msgMatch)
			}
		})
	}
}

// A URI signed one way and sent another must fail: the server signs what it received.
func TestSignatureCoversSentURI(t *testing.T) {
	s := newServer(t, Options{})
	uri := recordsURI("admin", base, base.Add(time.Hour), "")
	c := call{uri: uri, nonce: "4242"}
	// Sign the URI with its query in another order, then send the original.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(DefaultSecretKey))
	m.Write([]byte("GET\nX-TC-Key=" + DefaultSecretID + "&X-TC-Nonce=" + c.nonce + "&X-TC-Timestamp=" + ts + "\n" +
		fmt.Sprintf("/v1/records?operator_id=admin&operator_id_type=1&start_time=%d&end_time=%d", base.Unix(), base.Add(time.Hour).Unix()) + "\n"))
	req, _ := http.NewRequest(http.MethodGet, s.URL()+uri, nil)
	req.Header.Set("X-TC-Key", DefaultSecretID)
	req.Header.Set("X-TC-Nonce", c.nonce)
	req.Header.Set("X-TC-Timestamp", ts)
	req.Header.Set("X-TC-Signature", base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil)))))
	req.Header.Set("AppId", DefaultAppID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("a signature over a reordered query was accepted: HTTP %d", resp.StatusCode)
	}
}

func TestIPWhitelist(t *testing.T) {
	s := newServer(t, Options{AllowedIPs: []string{"10.1.2.3"}})
	st, out := call{uri: recordsURI("admin", base, base.Add(time.Hour), "")}.do(t, s)
	if st != 400 || errorCode(out) != 500125 {
		t.Fatalf("got HTTP %d %v, want 400 500125", st, out)
	}
}

func TestRecordsListing(t *testing.T) {
	// Paging and windows, with the admin seeing everything (the knob); TestRecordsAndUsersAsDocumented has the
	// documented default (a creator's own).
	s := newServer(t, Options{RecordsForAdmins: true})
	day := base.Add(-time.Hour)
	tests := []struct {
		name       string
		uri        string
		status     int
		code       int64
		wantIDs    []string
		totalPages float64
	}{
		{name: "admin sees all", uri: recordsURI("admin", day, day.Add(24*time.Hour), ""), status: 200,
			wantIDs: []string{"rec-done", "rec-recording", "rec-transcoding"}, totalPages: 1},
		{name: "host sees own", uri: recordsURI("teacher_li", day, day.Add(24*time.Hour), ""), status: 200,
			wantIDs: []string{"rec-recording", "rec-transcoding"}, totalPages: 1},
		{name: "page size 2", uri: recordsURI("admin", day, day.Add(24*time.Hour), "&page_size=2&page=2"), status: 200,
			wantIDs: []string{"rec-transcoding"}, totalPages: 2},
		{name: "page size capped at 20", uri: recordsURI("admin", day, day.Add(24*time.Hour), "&page_size=500"), status: 200,
			wantIDs: []string{"rec-done", "rec-recording", "rec-transcoding"}, totalPages: 1},
		{name: "window of exactly 31 days", uri: recordsURI("admin", day, day.Add(31*24*time.Hour), ""), status: 200,
			wantIDs: []string{"rec-done", "rec-recording", "rec-transcoding"}, totalPages: 1},
		{name: "window over 31 days", uri: recordsURI("admin", day, day.Add(31*24*time.Hour+time.Second), ""), status: 400, code: 190004},
		{name: "no window", uri: "/v1/records?operator_id=admin&operator_id_type=1", status: 400, code: 190004},
		{name: "unregistered operator", uri: recordsURI("ghost", day, day.Add(time.Hour), ""), status: 400, code: 190001},
		{name: "one meeting", uri: recordsURI("admin", day, day.Add(24*time.Hour), "&meeting_id=1739626437650178888"), status: 200,
			wantIDs: []string{"rec-done"}, totalPages: 1},
		{name: "corp listing needs an admin", uri: strings.Replace(recordsURI("teacher_li", day, day.Add(time.Hour), ""), "/v1/records", "/v1/corp/records", 1), status: 400, code: 500133},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := call{uri: tt.uri}.do(t, s)
			if st != tt.status || errorCode(out) != tt.code {
				t.Fatalf("got HTTP %d %v, want %d code %d", st, out, tt.status, tt.code)
			}
			if st != 200 {
				return
			}
			var ids []string
			for _, r := range out["record_meetings"].([]any) {
				rm := r.(map[string]any)
				ids = append(ids, rm["meeting_record_id"].(string))
				_, hasFiles := rm["record_files"]
				if done := rm["state"].(float64) == 3; done != hasFiles {
					t.Errorf("record %v: state %v but record_files present=%v", rm["meeting_record_id"], rm["state"], hasFiles)
				}
				if rm["host_user_id"] == nil {
					t.Errorf("record %v has no host_user_id", rm["meeting_record_id"])
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("ids %v, want %v", ids, tt.wantIDs)
			}
			if out["total_page"] != tt.totalPages {
				t.Errorf("total_page %v, want %v", out["total_page"], tt.totalPages)
			}
		})
	}
}

func TestCorpRecordsShape(t *testing.T) {
	s := newServer(t, Options{CorpRecordsPerMinute: 2})
	uri := strings.Replace(recordsURI("admin", base.Add(-time.Hour), base.Add(time.Hour), ""), "/v1/records", "/v1/corp/records", 1)
	st, out := call{uri: uri}.do(t, s)
	if st != 200 {
		t.Fatalf("HTTP %d %v", st, out)
	}
	rm := out["record_meetings"].([]any)[0].(map[string]any)
	if rm["userid"] != "teacher_wang" || rm["host_user_id"] != nil {
		t.Errorf("corp records name the host userid, got %v", rm)
	}
	f := rm["record_files"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(fmt.Sprint(f["download_address"]), s.URL()+"/media/") {
		t.Errorf("corp record file has no download_address: %v", f)
	}
	call{uri: uri}.do(t, s)
	st, out = call{uri: uri}.do(t, s)
	if st != 500 || errorCode(out) != 190310 {
		t.Errorf("third corp call in a minute: HTTP %d %v, want 190310 with HTTP 500 (1095/53805)", st, out)
	}
}

func TestQuirks(t *testing.T) {
	s := newServer(t, Options{Quirks: true, RecordsForAdmins: true})
	c := call{uri: recordsURI("admin", base.Add(-time.Hour), base.Add(time.Hour), "")}
	st, out := c.do(t, s)
	if st != 200 {
		t.Fatalf("HTTP %d", st)
	}
	rm := out["record_meetings"].([]any)[0].(map[string]any)
	if _, ok := rm["media_start_time"].(string); !ok {
		t.Errorf("quirks: media_start_time %T, want a string", rm["media_start_time"])
	}
	if _, ok := rm["meeting_id"].(float64); !ok {
		t.Errorf("quirks: meeting_id %T, want a bare number", rm["meeting_id"])
	}
}

func TestParticipantsPaging(t *testing.T) {
	s := newServer(t, Options{})
	from, to := base.Add(-time.Hour).Unix(), base.Add(2*time.Hour).Unix()
	var rows []map[string]any
	pos := 0.0
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		uri := fmt.Sprintf("/v1/meetings/1739626437650178888/participants?end_time=%d&operator_id=admin&operator_id_type=1&pos=%d&size=2&start_time=%d", to, int(pos), from)
		st, out := call{uri: uri}.do(t, s)
		if st != 200 {
			t.Fatalf("HTTP %d %v", st, out)
		}
		for _, p := range out["participants"].([]any) {
			rows = append(rows, p.(map[string]any))
		}
		if out["has_remaining"] != true {
			break
		}
		pos = out["next_pos"].(float64)
	}
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4 (one per session)", len(rows))
	}
	names := map[string]int{}
	for _, r := range rows {
		b, err := base64.StdEncoding.DecodeString(r["user_name"].(string))
		if err != nil {
			t.Fatalf("user_name %q is not base64", r["user_name"])
		}
		names[string(b)]++
		if _, ok := r["join_time"].(string); !ok {
			t.Errorf("join_time %T, want a string of seconds", r["join_time"])
		}
	}
	if names["李同学"] != 2 || names["王老师"] != 1 {
		t.Errorf("names %v: want 李同学 twice (a rejoin)", names)
	}

	// Without a time filter only the last 90 days are answered: these 2025 joins are gone "now" in 2026+.
	s.Advance(200 * 24 * time.Hour)
	uri := "/v1/meetings/1739626437650178888/participants?operator_id=admin&operator_id_type=1"
	st, out := call{uri: uri, ts: strconv.FormatInt(time.Now().Add(200*24*time.Hour).Unix(), 10)}.do(t, s)
	if st != 200 || len(out["participants"].([]any)) != 0 {
		t.Errorf("unfiltered participants of an old meeting: HTTP %d %v, want none", st, out)
	}
}

func TestRecurringParticipants(t *testing.T) {
	fx := testFixture()
	fx.Meetings = append(fx.Meetings, Meeting{
		MeetingID: "555", MeetingCode: "555", Subject: "weekly", Host: "teacher_wang", Recurring: true,
		Start: base, End: base.Add(8 * 24 * time.Hour),
		SubMeetings: []SubMeeting{{ID: "s1", Start: base, End: base.Add(time.Hour)}, {ID: "s2", Start: base.Add(7 * 24 * time.Hour), End: base.Add(7*24*time.Hour + time.Hour)}},
		Participants: []Person{{UserID: "stu_a", UUID: "u1", Name: "A", Sessions: []Session{
			{Join: base, Left: base.Add(time.Hour), SubMeetingID: "s1"},
			{Join: base.Add(7 * 24 * time.Hour), Left: base.Add(7*24*time.Hour + time.Hour), SubMeetingID: "s2"},
		}}},
	})
	s := newServer(t, Options{Fixture: fx})
	st, out := call{uri: "/v1/meetings/555/participants?operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 400 || errorCode(out) != 190004 {
		t.Fatalf("recurring meeting without sub_meeting_id: HTTP %d %v, want 190004", st, out)
	}
	st, out = call{uri: "/v1/meetings/555/participants?operator_id=admin&operator_id_type=1&sub_meeting_id=s2"}.do(t, s)
	if st != 200 || len(out["participants"].([]any)) != 1 {
		t.Fatalf("sub-meeting s2: HTTP %d %v, want one row", st, out)
	}
	// Over 30 days past its last occurrence, a recurring meeting is no longer answered (1095/42418).
	st, out = call{uri: "/v1/meetings/555?instanceid=1&operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 200 || len(out["meeting_info_list"].([]any)) != 0 {
		t.Fatalf("ended recurring meeting: HTTP %d %v, want an empty meeting_info_list", st, out)
	}
	s = newServer(t, Options{Fixture: fx, AnswerEndedMeetings: true})
	st, out = call{uri: "/v1/meetings/555?instanceid=1&operator_id=admin&operator_id_type=1"}.do(t, s)
	info := out["meeting_info_list"].([]any)[0].(map[string]any)
	if st != 200 || info["meeting_type"] != 1.0 || len(info["sub_meetings"].([]any)) != 2 {
		t.Fatalf("meeting detail: HTTP %d %v", st, out)
	}
	st, out = call{uri: "/v1/meetings/404?instanceid=1&operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 500 || errorCode(out) != 9003 {
		t.Fatalf("unknown meeting: HTTP %d %v, want 500 9003", st, out)
	}
}

func addressesOf(t *testing.T, s *Server, rid string) []map[string]any {
	t.Helper()
	st, out := call{uri: "/v1/addresses?meeting_record_id=" + rid + "&operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 200 {
		t.Fatalf("addresses: HTTP %d %v", st, out)
	}
	var files []map[string]any
	for _, f := range out["record_files"].([]any) {
		files = append(files, f.(map[string]any))
	}
	return files
}

func TestAddressesAndMedia(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	path := filepath.Join(dir, "a.mp4")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	fx := testFixture()
	fx.Meetings[0].Records[0].Files[0].Path = path
	fx.Meetings[0].Records[0].Files[0].Size = 0
	if err := fx.check(); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{})
	if err := s.AddMeeting(Meeting{MeetingID: "m-file", Host: "teacher_wang", Records: []Record{{ID: "rec-file", Start: base, State: 3,
		Files: []File{{ID: "file-on-disk", Start: base, End: base.Add(time.Minute), Path: path, Size: int64(len(content))}}}}}); err != nil {
		t.Fatal(err)
	}
	files := addressesOf(t, s, "rec-done")
	if len(files) != 2 || files[0]["record_file_id"] != "f1" || files[1]["record_file_id"] != "f2" {
		t.Fatalf("addresses %v: want f1, f2 in order", files)
	}
	if got := addressesOf(t, s, "rec-transcoding"); len(got) != 0 {
		t.Errorf("a transcoding record has addresses: %v", got)
	}
	st, out := call{uri: "/v1/addresses?meeting_record_id=nope&operator_id=admin&operator_id_type=1"}.do(t, s)
	if st != 400 || errorCode(out) != 4051 || out["error_info"].(map[string]any)["new_error_code"] != 108004051.0 {
		t.Errorf("unknown record: HTTP %d %v, want 4051/108004051", st, out)
	}

	u := addressesOf(t, s, "rec-file")[0]["download_address"].(string)
	get := func(t *testing.T, url, rng string) (*http.Response, []byte, error) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	t.Run("whole file", func(t *testing.T) {
		resp, b, err := get(t, u, "")
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, content) {
			t.Fatalf("HTTP %v err %v, %d bytes", resp.StatusCode, err, len(b))
		}
	})
	t.Run("range", func(t *testing.T) {
		resp, b, err := get(t, u, "bytes=100-199")
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(b, content[100:200]) {
			t.Fatalf("HTTP %v err %v, got %q", resp.StatusCode, err, b)
		}
	})
	t.Run("tampered signature", func(t *testing.T) {
		resp, _, err := get(t, strings.Replace(u, "sign=", "sign=0", 1), "")
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("HTTP %v err %v, want 403", resp.StatusCode, err)
		}
	})
	t.Run("fail twice then serve", func(t *testing.T) {
		s.FailNext(EndpointMedia, 2, Fault{Kind: FaultGateway})
		for i := range 2 {
			if resp, _, _ := get(t, u, ""); resp.StatusCode < 500 {
				t.Fatalf("attempt %d: HTTP %d, want a 5xx", i, resp.StatusCode)
			}
		}
		if resp, b, _ := get(t, u, ""); resp.StatusCode != 200 || len(b) != len(content) {
			t.Fatalf("third attempt: HTTP %d, %d bytes", resp.StatusCode, len(b))
		}
	})
	t.Run("truncate", func(t *testing.T) {
		s.FailNext(EndpointMedia, 1, Fault{Kind: FaultTruncate})
		resp, b, err := get(t, u, "")
		if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || resp.ContentLength != int64(len(content)) || len(b) >= len(content) {
			t.Fatalf("truncated download: err %v, %d of %d bytes", err, len(b), len(content))
		}
	})
	t.Run("expired on demand", func(t *testing.T) {
		s.FailNext(EndpointMedia, 1, Fault{Kind: FaultExpired})
		resp, b, _ := get(t, u, "")
		if resp.StatusCode != 403 || !bytes.Contains(b, []byte("expired")) {
			t.Fatalf("HTTP %d %q, want 403 expired", resp.StatusCode, b)
		}
	})
	t.Run("synthetic content", func(t *testing.T) {
		u2 := addressesOf(t, s, "rec-done")[1]["download_address"].(string)
		resp, b, err := get(t, u2, "")
		if err != nil || resp.StatusCode != 200 || len(b) != 5000 {
			t.Fatalf("HTTP %v err %v %d bytes, want 5000", resp.StatusCode, err, len(b))
		}
	})
	t.Run("counters", func(t *testing.T) {
		// whole + range + (2 failures, whole) + truncated half + expired + 5000 synthetic
		want := int64(len(content))*2 + 100 + int64(len(content))/2 + 5000
		if s.Count(EndpointMedia) != 9 || s.Errors(EndpointMedia) != 5 || s.BytesServed() != want {
			t.Errorf("media requests %d errors %d bytes %d; want 9, 5, %d", s.Count(EndpointMedia), s.Errors(EndpointMedia), s.BytesServed(), want)
		}
	})
	t.Run("expired after the TTL", func(t *testing.T) {
		s.Advance(6*time.Hour + time.Second)
		resp, b, _ := get(t, u, "")
		if resp.StatusCode != 403 || !bytes.Contains(b, []byte("expired")) {
			t.Fatalf("HTTP %d %q, want 403 expired", resp.StatusCode, b)
		}
	})
}

// A throttled download takes at least size/rate: the throttle holds bytes back, it does not just count.
func TestMediaThrottle(t *testing.T) {
	s := newServer(t, Options{Throttle: 64 << 10})
	u := addressesOf(t, s, "rec-done")[0]["download_address"].(string) // 100 000 bytes
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(b) != 100_000 {
		t.Fatalf("err %v, %d bytes", err, len(b))
	}
	if took := time.Since(start); took < 1200*time.Millisecond {
		t.Errorf("100 kB at 64 KiB/s took %s, want at least ~1.5s", took)
	}
}

func TestFaultsByRate(t *testing.T) {
	s := newServer(t, Options{FaultRate: 1, FaultKinds: []FaultKind{FaultReset}})
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/records", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a reset connection answered")
	}
	if s.Count(EndpointRecords) != 1 || s.Errors(EndpointRecords) != 1 {
		t.Errorf("count %d errors %d", s.Count(EndpointRecords), s.Errors(EndpointRecords))
	}
}

func TestStateChange(t *testing.T) {
	s := newServer(t, Options{})
	if got := addressesOf(t, s, "rec-transcoding"); len(got) != 0 {
		t.Fatal("files before transcoding finished")
	}
	if err := s.SetState("rec-transcoding", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState("nope", 3); err == nil {
		t.Error("SetState of an unknown record succeeded")
	}
	if err := s.SetState("rec-done", 4); err == nil {
		t.Error("SetState to 4 succeeded")
	}
}

func TestLoadFixture(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.mp4"), []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	fx := `{"admins":["admin"],"meetings":[{"meeting_id":"1","meeting_code":"2","subject":"s","host":"t",
	  "start":"2025-09-01T08:00:00Z","end":"2025-09-01T09:00:00Z","participants":[],
	  "records":[{"meeting_record_id":"r","start":"2025-09-01T08:00:00Z","state":3,
	    "files":[{"record_file_id":"f","start":"2025-09-01T08:00:00Z","end":"2025-09-01T09:00:00Z","path":"x.mp4"}]}]}]}`
	p := filepath.Join(dir, "fixture.json")
	if err := os.WriteFile(p, []byte(fx), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFixture(p)
	if err != nil {
		t.Fatal(err)
	}
	file := f.Meetings[0].Records[0].Files[0]
	if file.Path != filepath.Join(dir, "x.mp4") || file.Size != 5 {
		t.Errorf("file %+v: want the path resolved and the size read", file)
	}
	bad := strings.Replace(fx, `"state":3`, `"state":4`, 1)
	os.WriteFile(p, []byte(bad), 0o644)
	if _, err := LoadFixture(p); err == nil || !strings.Contains(err.Error(), "state 4") {
		t.Errorf("state 4 accepted: %v", err)
	}
	missing := strings.Replace(fx, "x.mp4", "missing.mp4", 1)
	os.WriteFile(p, []byte(missing), 0o644)
	if _, err := LoadFixture(p); err == nil {
		t.Error("a missing media file was accepted")
	}
}

type lineWriter struct {
	lines chan string
	buf   bytes.Buffer
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(b), nil
		}
		w.lines <- strings.TrimSpace(line)
	}
}

func TestRunCLI(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fixture.json")
	b, _ := json.Marshal(testFixture())
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 4)}
	done := make(chan error, 1)
	go func() { done <- RunCLI(ctx, []string{"--fixture", p, "--throttle", "1MB", "--latency", "1ms"}, out) }()
	var line string
	select {
	case line = <-out.lines:
	case err := <-done:
		t.Fatalf("RunCLI ended early: %v", err)
	}
	url, ok := strings.CutPrefix(line, "tencent emulator listening on ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("first line %q", line)
	}
	resp, err := http.Get(url + "/v1/records")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unsigned request: HTTP %d, want 400", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := RunCLI(context.Background(), []string{}, io.Discard); err == nil {
		t.Error("RunCLI without --fixture succeeded")
	}
}

// testdata/example.json documents the fixture format; it must keep loading.
func TestExampleFixture(t *testing.T) {
	fx, err := LoadFixture("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Options{Fixture: fx})
	uri := strings.Replace(recordsURI("admin", time.Date(2025, 9, 7, 0, 0, 0, 0, time.UTC), time.Date(2025, 9, 9, 0, 0, 0, 0, time.UTC), ""), "/v1/records", "/v1/corp/records", 1)
	st, out := call{uri: uri}.do(t, s)
	if st != 200 || out["total_count"] != 2.0 {
		t.Fatalf("HTTP %d %v, want both records", st, out)
	}
	files := addressesOf(t, s, "1964787070499246080")
	if len(files) != 2 {
		t.Fatalf("addresses %v", files)
	}
}
