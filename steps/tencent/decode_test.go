package tencent

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFlexibleScalars(t *testing.T) {
	ints := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"123", 123, false}, {`"123"`, 123, false}, {`" 42 "`, 42, false}, {`""`, 0, false}, {"null", 0, false},
		{"1.0e3", 1000, false}, {"true", 1, false}, {`"abc"`, 0, true}, {"[]", 0, true}, {"1e300", 0, true},
		{"1757270336123", 1757270336123, false},
	}
	for _, tt := range ints {
		var n flexInt
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err != nil) != tt.bad || (!tt.bad && int64(n) != tt.want) {
			t.Errorf("flexInt %s = %d, %v; want %d (error %v)", tt.in, n, err, tt.want, tt.bad)
		}
	}
	strs := []struct{ in, want string }{
		{`"x"`, "x"}, {"1739626437650178888", "1739626437650178888"}, {"null", ""}, {"-5", "-5"}, {"true", "true"},
	}
	for _, tt := range strs {
		var s flexString
		if err := json.Unmarshal([]byte(tt.in), &s); err != nil || string(s) != tt.want {
			t.Errorf("flexString %s = %q, %v; want %q", tt.in, s, err, tt.want)
		}
	}
	for in, want := range map[string]bool{"true": true, `"true"`: true, "1": true, `"0"`: false, "false": false, "null": false} {
		var b flexBool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("flexBool %s = %v, %v", in, b, err)
		}
	}
}

func TestDecodeDocExamples(t *testing.T) {
	p, err := decodeRecords([]byte(`{"total_count":1,"current_size":1,"current_page":1,"total_page":1,"record_meetings":[{"meeting_record_id":"1964787070499246080","meeting_id":"1739626437650178888","meeting_code":"118280844","host_user_id":"teacher_wang","media_start_time":1757270336123,"subject":"高一(3)班 数学","state":3,"record_type":0,"record_files":[{"record_file_id":"1964787070499246081","record_start_time":1757270340000,"record_end_time":1757276740000,"record_size":523452345,"sharing_state":0}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{MeetingRecordID: "1964787070499246080", MeetingID: "1739626437650178888", MeetingCode: "118280844",
		HostUserID: "teacher_wang", MediaStart: time.UnixMilli(1757270336123).UTC(), Subject: "高一(3)班 数学", State: 3,
		MeetingType: -1, Files: []RecordFile{{ID: "1964787070499246081", Start: time.UnixMilli(1757270340000).UTC(),
			End: time.UnixMilli(1757276740000).UTC(), Size: 523452345}}}
	if p.TotalPage != 1 || len(p.Records) != 1 || !reflect.DeepEqual(p.Records[0], want) {
		t.Errorf("decoded %+v\nwant %+v", p.Records, want)
	}

	// Corp listings name the creator as userid (never read as the host); ids may come as bare numbers;
	// missing lists are empty.
	p, err = decodeRecords([]byte(`{"record_meetings":[{"meeting_record_id":1964787070499246080,"meeting_id":1739626437650178888,"userid":"teacher_li","state":"2","record_files":null}]}`))
	if err != nil || p.Records[0].MeetingID != "1739626437650178888" || p.Records[0].CreatorUserID != "teacher_li" || p.Records[0].HostUserID != "" || p.Records[0].State != 2 || p.Records[0].Files != nil {
		t.Errorf("corp quirks: %+v %v", p, err)
	}
	if p, err := decodeRecords([]byte(`{}`)); err != nil || len(p.Records) != 0 {
		t.Errorf("empty answer: %+v %v", p, err)
	}

	pp, err := decodeParticipants([]byte(`{"has_remaining":false,"next_pos":3,"participants":[{"userid":"teacher_wang","uuid":"WMLpMlho8GkeoNz","user_name":"546L6ICB5biI","join_time":"1757270336","left_time":"1757276748","instanceid":1,"user_role":3},{"userid":"","uuid":"WMabc123","user_name":"5p2O5ZCM5a2m","join_time":"1757270400","left_time":"1757272000","instanceid":4,"user_role":0},{"userid":"","uuid":"WMabc123","user_name":"5p2O5ZCM5a2m","join_time":"1757272100","left_time":"1757276700","instanceid":4,"user_role":0}]}`))
	if err != nil {
		t.Fatal(err)
	}
	people := MergeAttendance(pp.Rows)
	if len(people) != 2 || people[0].Name != "王老师" || people[1].Name != "李同学" || people[1].StudentID() != "name:李同学" ||
		people[1].Seconds != (1757272000-1757270400)+(1757276700-1757272100) || people[0].Join != time.Unix(1757270336, 0).UTC() {
		t.Errorf("merged %+v", people)
	}

	m, err := decodeMeeting([]byte(`{"meeting_number":1,"meeting_info_list":[{"meeting_id":"1","meeting_type":1,"start_time":"1757269800","sub_meetings":[{"sub_meeting_id":"a","start_time":"100","end_time":"200"},{"sub_meeting_id":"b","start_time":"1000","end_time":"2000"}]}]}`))
	if err != nil || m.MeetingType != 1 || pickSubMeeting(m, time.Unix(1500, 0)) != "b" || pickSubMeeting(m, time.Unix(150, 0)) != "a" ||
		pickSubMeeting(m, time.Unix(900, 0)) != "b" {
		t.Errorf("meeting %+v %v", m, err)
	}

	info := decodeErrorInfo([]byte(`{"error_info":{"error_code":"4051","new_error_code":108004051,"message":"deleted"}}`))
	if info == nil || info.ErrorCode != 4051 || info.NewErrorCode != 108004051 {
		t.Errorf("error info %+v", info)
	}
	if decodeErrorInfo([]byte(`<html>502</html>`)) != nil || decodeErrorInfo([]byte(`{"total_count":0}`)) != nil {
		t.Error("error_info found where there is none")
	}
}

func TestDecodeName(t *testing.T) {
	for in, want := range map[string]string{"546L6ICB5biI": "王老师", "5p2O5ZCM5a2m": "李同学", "": "", "not base64!": "not base64!",
		"dGVzdA": "test", "AAEC": "AAEC"} {
		if got := decodeName(in); got != want {
			t.Errorf("decodeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeAttendance(t *testing.T) {
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	rows := []Attendance{
		{UserID: "t", UUID: "u-t", Name: "T", Role: 3, Join: at(0), Left: at(60)},
		{UUID: "u-x", Name: "X", Join: at(5), Left: at(10)},
		{UserID: "s", UUID: "u-s", Name: "S", Join: at(3), Left: at(30)},
		{UUID: "u-x", Name: "X", Join: at(20), Left: at(40)},               // rejoin
		{UserID: "s", UUID: "u-s2", Name: "S", Join: at(20), Left: at(45)}, // second device, overlapping
		{UUID: "u-s", Join: at(50), Left: at(55)},                          // S again, signed out (same uuid)
		{MsOpenID: "m", Name: "Phone", Join: at(1), Left: at(2)},           // PSTN: no userid nor uuid
		{UUID: "u-y", Name: "Y", Join: at(30)},                             // still in the meeting: no left time
	}
	got := MergeAttendance(rows)
	want := []Participant{
		{UserID: "t", UUID: "u-t", Name: "T", Role: 3, Join: at(0), Left: at(60), Seconds: 3600},
		{Name: "Phone", Join: at(1), Left: at(2), Seconds: 60},
		{UserID: "s", UUID: "u-s", Name: "S", Join: at(3), Left: at(55), Seconds: (42 + 5) * 60},
		{UUID: "u-x", Name: "X", Join: at(5), Left: at(40), Seconds: 25 * 60},
		{UUID: "u-y", Name: "Y", Join: at(30)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged\n got %+v\nwant %+v", got, want)
	}
	// The host is the role-3 participant; with no host role among them, nobody (never the creator).
	if HostID(got) != "t" || HostID(got[1:]) != "" {
		t.Error("HostID")
	}
	// Guests are known by their normalised name (a uuid holds for one meeting only).
	if got[1].StudentID() != "name:phone" || got[3].StudentID() != "name:x" || (Participant{UUID: "u"}).StudentID() != "ext:u" {
		t.Errorf("student ids %q %q", got[1].StudentID(), got[3].StudentID())
	}
}

func TestSplitWindow(t *testing.T) {
	s := base
	for _, tt := range []struct {
		span time.Duration
		n    int
	}{{0, 1}, {time.Hour, 1}, {MaxWindow, 1}, {MaxWindow + time.Second, 2}, {3 * MaxWindow, 3}, {70 * 24 * time.Hour, 3}} {
		got := SplitWindow(s, s.Add(tt.span))
		if len(got) != tt.n || got[0][0] != s || got[len(got)-1][1] != s.Add(tt.span) {
			t.Errorf("span %s: %v, want %d spans", tt.span, got, tt.n)
		}
		for i, sp := range got {
			if sp[1].Sub(sp[0]) > MaxWindow || (i > 0 && sp[0] != got[i-1][1]) {
				t.Errorf("span %s: bad piece %v", tt.span, sp)
			}
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every response decoder. Decoders must not panic, and what they
// accept must make sense: UTC times, merged attendance no longer than the sessions it sums.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := decodeRecords(b); err == nil {
			for _, r := range p.Records {
				utc(t, r.MediaStart)
				for _, fl := range r.Files {
					utc(t, fl.Start)
					utc(t, fl.End)
				}
				if _, err := json.Marshal(r); err != nil && !strings.Contains(err.Error(), "year outside") {
					t.Errorf("record does not marshal: %v", err)
				}
			}
		}
		if p, err := decodeParticipants(b); err == nil {
			people := MergeAttendance(p.Rows)
			if len(people) > len(p.Rows) {
				t.Fatalf("%d people from %d rows", len(people), len(p.Rows))
			}
			for _, pp := range people {
				utc(t, pp.Join)
				if pp.Seconds < 0 {
					t.Fatalf("negative attendance %+v", pp)
				}
				if !pp.Join.IsZero() && pp.Left.After(pp.Join) {
					if span := pp.Left.Sub(pp.Join).Seconds(); float64(pp.Seconds) > math.Ceil(span) {
						t.Fatalf("%d s attended within a %v s span", pp.Seconds, span)
					}
				}
				if pp.StudentID() == "" {
					t.Fatal("empty student id")
				}
			}
		}
		// No decoder accepts what is not JSON (a gateway's HTML page must become an error, not an empty page).
		if _, err := decodeAddresses(b); err == nil && !json.Valid(b) {
			t.Fatalf("addresses decoded from invalid JSON %q", b)
		}
		if m, err := decodeMeeting(b); err == nil {
			if !json.Valid(b) {
				t.Fatalf("meeting decoded from invalid JSON %q", b)
			}
			if m != nil {
				checkSubMeeting(t, m, m.Start)
			}
		}
		if info := decodeErrorInfo(b); info != nil {
			if !json.Valid(b) {
				t.Fatalf("error info decoded from invalid JSON %q", b)
			}
			if info.ErrorCode == 0 && info.NewErrorCode == 0 && info.Message == "" {
				t.Fatalf("an empty error_info %+v counts as an error", info)
			}
		}
	})
}

// checkSubMeeting holds pickSubMeeting to its contract: it names a sub-meeting of the meeting (or the
// current one, or none), and one that contains t when any does.
func checkSubMeeting(t *testing.T, m *MeetingInfo, at time.Time) {
	t.Helper()
	got := pickSubMeeting(m, at)
	contains := func(s SubMeeting) bool { return !at.Before(s.Start) && (s.End.IsZero() || !at.After(s.End)) }
	known, anyContains := got == "" || got == m.CurrentSubMeetingID, false
	for _, s := range m.SubMeetings {
		known = known || s.ID == got
		anyContains = anyContains || contains(s)
	}
	if !known {
		t.Fatalf("pickSubMeeting chose %q, not a sub-meeting of %+v", got, m)
	}
	if anyContains && !slices.ContainsFunc(m.SubMeetings, func(s SubMeeting) bool { return s.ID == got && contains(s) }) {
		t.Fatalf("pickSubMeeting chose %q at %v, though a sub-meeting of %+v holds that time", got, at, m.SubMeetings)
	}
}

func utc(t *testing.T, tm time.Time) {
	t.Helper()
	if !tm.IsZero() && tm.Location() != time.UTC {
		t.Fatalf("time %v is not UTC", tm)
	}
}
