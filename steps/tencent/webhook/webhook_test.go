package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// officialData is the data of the example on 1095/51612 (签名校验, 验证示例), verbatim: unpadded base64
// of a legacy meeting.created event. The shared doc quotes its ends and the resulting signature; the full
// text was read from a community test that copies the page; its sha1 reproduces the page's signature.
const officialData = "eyJldmVudCI6Im1lZXRpbmcuY3JlYXRlZCIsInVuaXF1ZV9zZXF1ZW5jZSI6ImYyMDA5NmVlLThhYzgt" +
	"NGRmMi1hN2RlLTA1NzQ2NDlmMjExYiIsInBheWxvYWQiOlt7Im9wZXJhdGVfdGltZSI6IjIwMjAtMTIt" +
	"MjkgMTc6NDE6MDYiLCJvcGVyYXRvciI6eyJ1c2VyaWQiOiJ0ZXN0ZXIwMDAwNmJhNWJhYjMzOTg1OGMx" +
	"M2M5MzBjY2E5NTY4NCJ9LCJtZWV0aW5nX2luZm8iOnsibWVldGluZ19pZCI6IjYwNTg4OTAzODU0ODA5" +
	"MjEwNTIiLCJtZWV0aW5nX2NvZGUiOiI1MzA4MTI0NTIiLCJzdWJqZWN0IjoibWVkaWEgdGVzdGVyIG1l" +
	"ZXRpbmciLCJjcmVhdG9yX2lkIjoidGVzdGVyMDAwMDZiYTViYWIzMzk4NThjMTNjOTMwY2NhOTU2ODQi" +
	"LCJob3N0cyI6WyJ0ZXN0ZXIwMDAwNmJhNWJhYjMzOTg1OGMxM2M5MzBjY2E5NTY4NCJdLCJtZWV0aW5n" +
	"X3R5cGUiOjAsInN0YXJ0X3RpbWUiOiIyMDIwLTEyLTI5IDE3OjQxOjA0IiwiZW5kX3RpbWUiOiIyMDIw" +
	"LTEyLTI5IDE4OjAxOjA0In19XX0"

func TestOfficialSignatureVector(t *testing.T) {
	// 1095/51612: token, timestamp (ms), nonce and the expected signature.
	const token, ts, nonce, want = "bVPU6F8Htxl5XkAbp3jGV2xWp", "1609239040864", "14964161", "b11e507817336a91d7df0c8536ee2aca18bbbae8"
	if got := Signature(token, ts, nonce, officialData); got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	if !Verify(token, ts, nonce, officialData, strings.ToUpper(want)) {
		t.Fatal("Verify refused the official signature")
	}
	if Verify(token, ts, "14964162", officialData, want) {
		t.Fatal("Verify accepted a signature over another nonce")
	}
	// Without an EncodingAESKey the data is plain (here unpadded) base64 of the legacy layout.
	plain, err := (*Cipher)(nil).Open(officialData)
	if err != nil {
		t.Fatal(err)
	}
	js, err := EventJSON(plain)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "meeting.created" || ev.TraceID != "f20096ee-8ac8-4df2-a7de-0574649f211b" {
		t.Fatalf("event = %q trace %q", ev.Name, ev.TraceID)
	}
	m := ev.Payload[0].Meeting
	if m.MeetingID != "6058890385480921052" || m.CreatorUserID != "tester00006ba5bab339858c13c930cca95684" {
		t.Fatalf("meeting = %+v", m)
	}
	if want := time.Date(2020, 12, 29, 9, 41, 4, 0, time.UTC); !m.Start.Equal(want) {
		t.Fatalf("legacy start_time = %s, want %s (Beijing time)", m.Start, want)
	}
}

// The doc's locally computed vectors (tencent-meeting-api.md §6 and §10.1.3; computed, not official).
func TestAESVectorsBothWays(t *testing.T) {
	c, err := NewCipher("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ plain, data, sig, ts, nonce string }{
		{`{"event":"recording.completed","payload":[]}`, "GrTTf3F7pcUwilO/MnQ3W57NDbf3YhQDII+efhT8dhKDBdLaiNjVnWWbphjGfhNw", "ce91afe64afd5223cf1f1cca9107ddae5623f9d4", "1757276766", "838382"},
		{"hello-check-str", "8O0t7kCuSE2OtdA41VdOuA==", "6298ea5706bc49a15057a5d009f781928d46dfeb", "1757276766", "838382"},
	} {
		if got := c.Seal([]byte(v.plain)); got != v.data {
			t.Errorf("Seal(%s) = %s, want %s", v.plain, got, v.data)
		}
		got, err := c.Open(v.data)
		if err != nil || string(got) != v.plain {
			t.Errorf("Open(%s) = %q, %v; want %q", v.data, got, err, v.plain)
		}
		// Unpadded base64 opens too.
		if got, err := c.Open(strings.TrimRight(v.data, "=")); err != nil || string(got) != v.plain {
			t.Errorf("Open(unpadded %s) = %q, %v", v.data, got, err)
		}
		if s := Signature("TOKEN0123456789abcdefghij", v.ts, v.nonce, v.data); s != v.sig {
			t.Errorf("signature over %s = %s, want %s", v.data, s, v.sig)
		}
	}
	// A wrong key does not open the data (bad padding), and says nothing of the key.
	other, _ := NewCipher("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg")
	if _, err := other.Open("GrTTf3F7pcUwilO/MnQ3W57NDbf3YhQDII+efhT8dhKDBdLaiNjVnWWbphjGfhNw"); err == nil {
		t.Error("a wrong key opened the data")
	}
	if _, err := NewCipher("short"); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("bad key: err = %v (must refuse without echoing the key)", err)
	}
}

func TestEventJSONLayouts(t *testing.T) {
	js := `{"event":"recording.completed","trace_id":"t1","payload":[]}`
	for name, plain := range map[string][]byte{
		"bare":          []byte(js),
		"json+key":      []byte(js + "corpKEY123"),
		"wechat-framed": frame(js, "corp1"),
	} {
		got, err := EventJSON(plain)
		if err != nil || string(got) != js {
			t.Errorf("%s: EventJSON = %q, %v", name, got, err)
		}
	}
	if _, err := EventJSON([]byte("garbage")); err == nil {
		t.Error("garbage accepted")
	}
	if got := CheckReply(frame("abc", "corp")); string(got) != "abc" {
		t.Errorf("CheckReply(framed) = %q", got)
	}
	if got := CheckReply([]byte("plain-check")); string(got) != "plain-check" {
		t.Errorf("CheckReply(plain) = %q", got)
	}
}

func frame(msg, suffix string) []byte {
	var b bytes.Buffer
	b.WriteString("0123456789abcdef")
	binary.Write(&b, binary.BigEndian, uint32(len(msg))) //nolint:errcheck // bytes.Buffer
	b.WriteString(msg + suffix)
	return b.Bytes()
}

func TestParseRecordingCompletedBothShapes(t *testing.T) {
	// The 1095/53230 example (numbers; media_set_type a string; a repeated file id) and the
	// 1095/121282 table's shape (numeric strings), which must read the same.
	numbers := `{"event":"recording.completed","trace_id":"e7aa65dd-f7e6-4b62-912c-2035173b34a9",
	 "payload":[{"operate_time":1609313201465,
	   "recording_files":[{"record_file_id":"123242525"},{"record_file_id":"123242525"}],
	   "meeting_info":{"meeting_id":"13339451618278424869","meeting_code":"445999969","media_set_type":"2",
	     "subject":"t","creator":{"userid":"tester-2","user_name":"tester-2_name"},
	     "meeting_type":0,"start_time":1608522626,"end_time":1609415039}}]}`
	strs := `{"event":"recording.completed","trace_id":"e7aa65dd-f7e6-4b62-912c-2035173b34a9",
	 "payload":[{"operate_time":"1609313201465",
	   "recording_files":[{"record_file_id":123242525}],
	   "meeting_info":{"meeting_id":13339451618278424869,"meeting_code":"445999969","media_set_type":2,
	     "subject":"t","creator":{"userid":"tester-2"},
	     "meeting_type":"0","start_time":"1608522626000","end_time":"1609415039"}}]}`
	for name, js := range map[string]string{"numbers": numbers, "strings": strs} {
		ev, err := Parse([]byte(js))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := ev.Payload[0]
		if got := ev.RecordFileIDs(); len(got) != 1 || got[0] != "123242525" {
			t.Errorf("%s: files = %v", name, got)
		}
		if p.Meeting.MeetingID != "13339451618278424869" || p.Meeting.CreatorUserID != "tester-2" {
			t.Errorf("%s: meeting = %+v", name, p.Meeting)
		}
		if !p.Meeting.Start.Equal(time.Unix(1608522626, 0)) || !p.OperateTime.Equal(time.UnixMilli(1609313201465)) {
			t.Errorf("%s: start %s operate %s", name, p.Meeting.Start, p.OperateTime)
		}
	}
	if _, err := Parse([]byte(`{"event":"recording.completed","payload":[{"operate_time":"yesterday"}]}`)); err == nil ||
		!strings.Contains(err.Error(), "operate_time") {
		t.Errorf("bad time: err = %v, want it to name operate_time", err)
	}
}

func TestParseSTSToken(t *testing.T) {
	// 1095/127651's example shape.
	ev, err := Parse([]byte(`{"event":"common.sts-token","trace_id":"x","payload":[{"operate_time":1609313201465,
	  "operator":{"userid":"tester","user_name":"tester_name"},
	  "token_info":{"req_id":"11122233","sts_token":"1123344","expire_ts":1893456000}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tok := ev.Payload[0].Token
	if tok == nil || tok.ReqID != "11122233" || tok.Token != "1123344" || !tok.ExpireAt.Equal(time.Unix(1893456000, 0)) {
		t.Fatalf("token = %+v", tok)
	}
	if strings.Contains(tok.String(), "1123344") {
		t.Fatal("String shows the token")
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	c, _ := NewCipher("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
	for _, d := range []string{"!!!", base64.StdEncoding.EncodeToString([]byte("not sixteen")), ""} {
		if _, err := c.Open(d); err == nil {
			t.Errorf("Open(%q) accepted", d)
		}
	}
}
