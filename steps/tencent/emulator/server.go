// Package emulator is a local Tencent Meeting REST API for tests and demos, following
// docs/tencent-meeting-api.md: AK/SK signatures checked over the raw request, replay and clock checks,
// errors as HTTP 400/500 with error_info, the records, addresses, participants and meeting endpoints with
// their paging, and signed, expiring media URLs with range support and throttling. Like httptest, New
// starts a server on 127.0.0.1; knobs inject faults and counters let tests assert on traffic.
package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Default credentials, used when Options leaves them empty (demos; tests usually set their own).
const (
	DefaultSecretID  = "AKID_emulator"
	DefaultSecretKey = "SK_emulator"
	DefaultAppID     = "200000001"
)

// Endpoint names used by counters and faults.
const (
	EndpointRecords      = "records"       // GET /v1/records
	EndpointCorpRecords  = "corp_records"  // GET /v1/corp/records
	EndpointAddresses    = "addresses"     // GET /v1/addresses
	EndpointParticipants = "participants"  // GET /v1/meetings/{id}/participants
	EndpointMeeting      = "meeting"       // GET /v1/meetings/{id}
	EndpointCorpMeetings = "corp_meetings" // GET /v1/corp/meetings (ended meetings of the enterprise)
	EndpointHistory      = "history"       // GET /v1/history/meetings/{userid}
	EndpointMedia        = "media"         // GET /media/{file}: the download addresses
	EndpointUser         = "user"          // GET /v1/users/{userid}
	EndpointSTS          = "sts_token"     // POST /v1/app/sts-token [COMMUNITY] (push.go)
	EndpointOther        = "other"
	EndpointTranscripts  = "transcripts" // GET /v1/records/transcripts/details (transcripts.go)
	EndpointSpeakers     = "speakers"    // GET /v1/smart/speakers (transcripts.go)
)

// Options configure a Server. The zero value serves an empty enterprise with the default credentials.
type Options struct {
	Addr      string // listen address (default 127.0.0.1:0)
	SecretID  string // accepted X-TC-Key
	SecretKey string
	AppID     string // accepted AppId (enterprise id)
	SdkID     string // when set, SdkId must match
	Fixture   *Fixture

	// URLTTL is how long a download address stays valid (default 6h).
	URLTTL time.Duration
	// Throttle caps media bytes per second per request (a connection serves one request at a time), 0: none.
	Throttle int64
	// Latency is added before every answer.
	Latency time.Duration
	// FaultRate is the fraction of requests, on every endpoint, answered with a fault drawn from
	// FaultKinds (default gateway, rate_limit, reset).
	FaultRate  float64
	FaultKinds []FaultKind
	Seed       uint64
	// AllowedIPs, when set, is the app's IP whitelist: other callers get 500125.
	AllowedIPs []string
	// CorpRecordsPerMinute enforces the documented 10 calls/min of /v1/corp/records with error 190310
	// (0: not enforced).
	CorpRecordsPerMinute int
	// Quirks sends numbers as strings and ids as bare numbers where real responses have been seen to, so
	// that clients prove they tolerate both.
	Quirks bool
	// MaxSkew is the accepted difference between X-TC-Timestamp and the server clock (default 5m); the
	// same span guards against replayed nonces.
	MaxSkew time.Duration
	// DailyQuota, when positive, is the app's calls per day (documented: 200,000, 1095/105276): API
	// calls beyond it are answered 190311 until Advance moves the clock to another day.
	DailyQuota int
	// CorpMeetingsPerMinute enforces the account-level limit of /v1/corp/meetings (documented 100/min)
	// with 190313 (0: not enforced).
	CorpMeetingsPerMinute int
	// AnswerEndedMeetings makes /v1/meetings/{id} answer ended meetings. Tencent does not (1095/42418:
	// an ended one-off meeting, and a recurring one 30 days after its end, are no longer returned), so
	// this knob is the pre-correction behaviour, for tests of the fallback.
	AnswerEndedMeetings bool
	// StableUUIDs serves each person's fixture uuid in every meeting. Tencent's uuid is valid for one
	// meeting only (GO model comment; tencent-meeting-api.md correction 2), so by default the uuid served
	// is derived from the meeting id and the fixture's.
	StableUUIDs bool
	// Now is the server clock (default time.Now); Advance shifts it. The Date header follows it.
	Now    func() time.Time
	Logger *slog.Logger
	// NoRecordRights are operators without 录制管理 rights: their records listings get 500133.
	NoRecordRights []string
	// AddressesForHost lets a meeting's host read its /v1/addresses. Tencent answers only the creator, a
	// super admin or a user with 录制管理 rights (1095/51174), so this is the pre-correction behaviour.
	AddressesForHost bool
	// RecordsForAdmins makes /v1/records list every meeting for an admin operator. Tencent lists only the
	// operator's own meetings (1095/51189, 2026-01), so this is the pre-correction behaviour.
	RecordsForAdmins bool
	// Push configures the webhook receiver the emulator pushes events to (push.go); zero: none.
	Push PushOptions
	// RequireSTS, when set, is the STS token that transcripts/details demands in the STS-Token header, as
	// for apps created from 2026-01-16 (1095/65111, 1095/127651). "": an older app, no header.
	RequireSTS string
}

// Server is a running emulator.
type Server struct {
	opts   Options
	ln     net.Listener
	srv    *http.Server
	url    string
	done   chan struct{}
	urlKey []byte // signs media URLs
	log    *slog.Logger

	mu        sync.Mutex
	offset    time.Duration
	admins    map[string]bool
	users     map[string]bool // registered besides hosts and participants
	order     []*Meeting      // in the order added
	meetings  map[string]*Meeting
	records   map[string]*recordRef
	files     map[string]*fileRef
	nonces    map[string]time.Time
	corpCalls []time.Time
	meetCalls []time.Time
	dayCalls  map[string]int // API calls per server day, for DailyQuota
	queued    map[string][]Fault
	rng       *mrand.Rand
	counts    map[string]*counter
	bytes     int64
	requests  []Request
	sts       stsState
	smart     map[string]SmartTranscript // record_file_id → Tencent's transcript (transcripts.go)
}

type recordRef struct {
	m *Meeting
	r *Record
}

type fileRef struct {
	m *Meeting
	r *Record
	f *File
}

type counter struct{ requests, errors int }

// Request is what the server saw of one request, for tests.
type Request struct {
	Endpoint string
	Method   string
	URI      string // as received (the signed text); media query strings are cut
	Header   http.Header
	Body     []byte
	Status   int   // 0 for a reset connection
	Code     int64 // error_info.error_code of an error answer
	Fault    FaultKind
}

const maxRequestLog = 20000

// New starts a server and panics if it cannot listen, like httptest.NewServer.
func New(o Options) *Server {
	s, err := Start(o)
	if err != nil {
		panic("emulator: " + err.Error())
	}
	return s
}

// Start starts a server, reporting a bad fixture or address as an error.
func Start(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.SecretID == "" {
		o.SecretID = DefaultSecretID
	}
	if o.SecretKey == "" {
		o.SecretKey = DefaultSecretKey
	}
	if o.AppID == "" {
		o.AppID = DefaultAppID
	}
	if o.URLTTL <= 0 {
		o.URLTTL = 6 * time.Hour
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if len(o.FaultKinds) == 0 {
		o.FaultKinds = []FaultKind{FaultGateway, FaultRateLimit, FaultReset}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts: o, done: make(chan struct{}), urlKey: make([]byte, 32), log: log,
		meetings: map[string]*Meeting{}, records: map[string]*recordRef{}, files: map[string]*fileRef{},
		nonces: map[string]time.Time{}, queued: map[string][]Fault{}, counts: map[string]*counter{},
		rng: mrand.New(mrand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
	if _, err := rand.Read(s.urlKey); err != nil {
		return nil, err
	}
	s.admins, s.users = map[string]bool{}, map[string]bool{}
	if o.Fixture != nil {
		for _, a := range o.Fixture.Admins {
			s.admins[a] = true
		}
		for _, u := range o.Fixture.Users {
			s.users[u] = true
		}
		for _, m := range o.Fixture.Meetings {
			if err := s.AddMeeting(m); err != nil {
				return nil, err
			}
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", o.Addr, err)
	}
	s.ln = ln
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.url = "http://" + net.JoinHostPort(host, port)
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on Close
	return s, nil
}

// URL is the base URL of the API (and of the media it serves).
func (s *Server) URL() string { return s.url }

// Close stops the server and drops open connections, including hung ones.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.srv.Close()
}

// now is the server clock.
func (s *Server) now() time.Time {
	s.mu.Lock()
	off := s.offset
	s.mu.Unlock()
	return s.opts.Now().Add(off)
}

// Advance moves the server clock forward (download addresses expire; clients' timestamps look stale).
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// AddMeeting adds a meeting (and its records) to the enterprise.
func (s *Server) AddMeeting(m Meeting) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	meetings, records, files := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for id := range s.meetings {
		meetings[id] = true
	}
	for id := range s.records {
		records[id] = true
	}
	for id := range s.files {
		files[id] = true
	}
	m = cloneMeeting(m)
	if err := m.check(meetings, records, files); err != nil {
		return err
	}
	mp := &m
	s.order = append(s.order, mp)
	s.meetings[m.MeetingID] = mp
	for j := range mp.Records {
		r := &mp.Records[j]
		s.records[r.ID] = &recordRef{mp, r}
		for k := range r.Files {
			s.files[r.Files[k].ID] = &fileRef{mp, r, &r.Files[k]}
		}
	}
	return nil
}

func cloneMeeting(m Meeting) Meeting {
	m.SubMeetings = slices.Clone(m.SubMeetings)
	m.Participants = slices.Clone(m.Participants)
	for i := range m.Participants {
		m.Participants[i].Sessions = slices.Clone(m.Participants[i].Sessions)
	}
	m.Records = slices.Clone(m.Records)
	for i := range m.Records {
		m.Records[i].Files = slices.Clone(m.Records[i].Files)
	}
	return m
}

// AddAdmin registers userid as an enterprise admin.
func (s *Server) AddAdmin(userid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admins[userid] = true
}

// SetState changes a record's state (1 recording, 2 transcoding, 3 done), as Tencent does when
// transcoding finishes.
func (s *Server) SetState(recordID string, state int) error {
	if state < 1 || state > 3 {
		return fmt.Errorf("state %d is not 1, 2 or 3", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := s.records[recordID]
	if ref == nil {
		return fmt.Errorf("no record %s", recordID)
	}
	ref.r.State = state
	return nil
}

// DeleteRecord removes a record: listings stop showing it and /v1/addresses answers 4051.
func (s *Server) DeleteRecord(recordID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := s.records[recordID]
	if ref == nil {
		return fmt.Errorf("no record %s", recordID)
	}
	for _, f := range ref.r.Files {
		delete(s.files, f.ID)
	}
	delete(s.records, recordID)
	ref.m.Records = slices.DeleteFunc(ref.m.Records, func(r Record) bool { return r.ID == recordID })
	// Records moved inside the slice: re-point the survivors.
	for j := range ref.m.Records {
		r := &ref.m.Records[j]
		s.records[r.ID] = &recordRef{ref.m, r}
		for k := range r.Files {
			s.files[r.Files[k].ID] = &fileRef{ref.m, r, &r.Files[k]}
		}
	}
	return nil
}

// Count is the number of requests an endpoint received, faults and rejections included.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.counts[endpoint]; c != nil {
		return c.requests
	}
	return 0
}

// Errors is the number of requests of an endpoint answered with an error or a fault (a truncated body
// counts).
func (s *Server) Errors(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.counts[endpoint]; c != nil {
		return c.errors
	}
	return 0
}

// BytesServed is the number of media bytes written.
func (s *Server) BytesServed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Requests returns what the server saw of an endpoint's requests ("" for all), oldest first.
func (s *Server) Requests(endpoint string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if endpoint == "" || r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// Reset zeroes the counters and forgets the request log and queued faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]*counter{}
	s.bytes = 0
	s.requests = nil
	s.queued = map[string][]Fault{}
}

// FaultKind names a fault.
type FaultKind string

// Fault kinds.
const (
	// FaultError answers Fault.Status with error_info {Code, NewCode, Message}.
	FaultError FaultKind = "error"
	// FaultGateway answers 502, 503 or 504 with an HTML page and no error_info, as a gateway does.
	FaultGateway FaultKind = "gateway"
	// FaultRateLimit answers error 9061 or 190310 (too frequent), the service's 429.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultGarbage answers 200 with a truncated JSON body, as a misbehaving proxy does.
	FaultGarbage FaultKind = "garbage"
	// FaultPortal answers 200 with an HTML page, as a captive portal or a wrong base URL does.
	FaultPortal FaultKind = "portal"
	// FaultEmpty answers 200 with `{}`, as a misconfigured proxy does.
	FaultEmpty FaultKind = "empty"
	// FaultReset closes the connection without an answer.
	FaultReset FaultKind = "reset"
	// FaultHang never answers; the client must time out.
	FaultHang FaultKind = "hang"
	// FaultTruncate (media) stops the body half way through.
	FaultTruncate FaultKind = "truncate"
	// FaultExpired (media) answers 403 as for an expired address.
	FaultExpired FaultKind = "expired"
)

// Fault is one injected misbehaviour.
type Fault struct {
	Kind    FaultKind
	Status  int // FaultError: HTTP status (default 400)
	Code    int64
	NewCode int64
	Message string
}

// ErrorFault is a FaultError answering status with error_info {code, message}.
func ErrorFault(status int, code int64, message string) Fault {
	return Fault{Kind: FaultError, Status: status, Code: code, Message: message}
}

// FailNext makes the next n requests to endpoint fail with f (before any other check).
func (s *Server) FailNext(endpoint string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.queued[endpoint] = append(s.queued[endpoint], f)
	}
}

// nextFault returns the fault to apply to a request, if any: queued ones first, then by rate.
func (s *Server) nextFault(endpoint string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queued[endpoint]; len(q) > 0 {
		s.queued[endpoint] = q[1:]
		return q[0], true
	}
	if s.opts.FaultRate > 0 && s.rng.Float64() < s.opts.FaultRate {
		kinds := s.opts.FaultKinds
		return Fault{Kind: kinds[s.rng.IntN(len(kinds))]}, true
	}
	return Fault{}, false
}

func (s *Server) pick(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

func (s *Server) newTrace() string {
	b := make([]byte, 8)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	return hex.EncodeToString(b)
}

// arrive counts a request as it arrives, so that a test sees a hung request counted.
func (s *Server) arrive(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counter(endpoint).requests++
}

func (s *Server) counter(endpoint string) *counter {
	c := s.counts[endpoint]
	if c == nil {
		c = &counter{}
		s.counts[endpoint] = c
	}
	return c
}

// record logs an answered request and counts its error.
func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counter(req.Endpoint)
	if req.Status == 0 || req.Status >= 300 || req.Fault != "" {
		c.errors++
	}
	if len(s.requests) < maxRequestLog {
		s.requests = append(s.requests, req)
	}
}

// endpointOf classifies a path.
func endpointOf(path string) (endpoint, meetingID string) {
	switch {
	case path == "/v1/records":
		return EndpointRecords, ""
	case path == "/v1/corp/records":
		return EndpointCorpRecords, ""
	case path == "/v1/addresses":
		return EndpointAddresses, ""
	case path == "/v1/corp/meetings":
		return EndpointCorpMeetings, ""
	case path == "/v1/app/sts-token":
		return EndpointSTS, ""
	case path == "/v1/records/transcripts/details":
		return EndpointTranscripts, ""
	case path == "/v1/smart/speakers":
		return EndpointSpeakers, ""
	case strings.HasPrefix(path, "/v1/history/meetings/"):
		return EndpointHistory, strings.TrimPrefix(path, "/v1/history/meetings/")
	case strings.HasPrefix(path, "/media/"):
		return EndpointMedia, ""
	case strings.HasPrefix(path, "/v1/users/") && !strings.Contains(strings.TrimPrefix(path, "/v1/users/"), "/"):
		return EndpointUser, strings.TrimPrefix(path, "/v1/users/")
	case strings.HasPrefix(path, "/v1/meetings/"):
		rest := strings.TrimPrefix(path, "/v1/meetings/")
		if id, ok := strings.CutSuffix(rest, "/participants"); ok && id != "" && !strings.Contains(id, "/") {
			return EndpointParticipants, id
		}
		if rest != "" && !strings.Contains(rest, "/") {
			return EndpointMeeting, rest
		}
	}
	return EndpointOther, ""
}

// statusWriter remembers the status and error code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	code   int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (flush, hijack).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	endpoint, meetingID := endpointOf(r.URL.Path)
	s.arrive(endpoint)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	uri := r.RequestURI
	if endpoint == EndpointMedia {
		uri = r.URL.Path // the query is the URL's signature
	}
	sw := &statusWriter{ResponseWriter: w}
	req := Request{Endpoint: endpoint, Method: r.Method, URI: uri, Header: r.Header.Clone(), Body: body}
	recorded := false
	defer func() {
		req.Status, req.Code = sw.status, sw.code
		if !recorded {
			s.record(req)
		}
		s.log.Info("emulator request", "endpoint", endpoint, "path", r.URL.Path, "status", sw.status, "code", sw.code)
	}()
	if s.opts.Latency > 0 && !s.wait(r.Context(), s.opts.Latency) {
		return
	}
	if endpoint != EndpointMedia {
		sw.Header().Set("X-TC-Trace", s.newTrace())
		s.setDate(sw)
	}
	if f, ok := s.nextFault(endpoint); ok {
		if f.Kind == FaultReset || f.Kind == FaultHang {
			// Counted before the connection drops: a client that sees the reset may read the counters
			// before this handler returns.
			req.Fault, recorded = f.Kind, true
			s.record(req)
		}
		if s.fault(sw, r, endpoint, f) {
			req.Fault = f.Kind
			return
		}
	}
	if endpoint == EndpointMedia {
		s.serveMedia(sw, r)
		return
	}
	if err := s.authenticate(r, body); err != nil {
		s.writeError(sw, err)
		return
	}
	if endpoint == EndpointSTS {
		s.stsToken(sw, r, body)
		return
	}
	if r.Method != http.MethodGet {
		s.writeError(sw, badRequest(190004, "method %s not supported", r.Method))
		return
	}
	if e := s.limits(endpoint); e != nil {
		s.writeError(sw, e)
		return
	}
	var err *apiError
	switch endpoint {
	case EndpointRecords, EndpointCorpRecords:
		err = s.listRecords(sw, r, endpoint == EndpointCorpRecords)
	case EndpointAddresses:
		err = s.addresses(sw, r)
	case EndpointParticipants:
		err = s.participants(sw, r, meetingID)
	case EndpointMeeting:
		err = s.meeting(sw, r, meetingID)
	case EndpointCorpMeetings:
		err = s.endedMeetings(sw, r, "")
	case EndpointHistory:
		err = s.endedMeetings(sw, r, meetingID)
	case EndpointUser:
		err = s.user(sw, r, meetingID)
	case EndpointTranscripts:
		err = s.transcriptDetails(sw, r)
	case EndpointSpeakers:
		err = s.smartSpeakers(sw, r)
	default:
		err = &apiError{status: http.StatusNotFound, code: 190004, msg: "unknown API " + r.URL.Path}
	}
	if err != nil {
		s.writeError(sw, err)
	}
}

// wait sleeps d unless the request or the server ends first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

// fault applies f and reports whether the request is answered by it.
func (s *Server) fault(w *statusWriter, r *http.Request, endpoint string, f Fault) bool {
	switch f.Kind {
	case FaultError:
		st := f.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		s.writeError(w, &apiError{status: st, code: f.Code, newCode: f.NewCode, msg: f.Message})
	case FaultGateway:
		st := []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}[s.pick(3)]
		w.Header().Del("X-TC-Trace") // the answer never reached the service
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(st)
		fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center><hr><center>stgw</center></body></html>\n",
			st, http.StatusText(st), st, http.StatusText(st))
	case FaultRateLimit:
		if endpoint == EndpointMedia {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>")
			return true
		}
		if s.pick(2) == 0 {
			s.writeError(w, badRequest(9061, "query meetings too frequently"))
		} else {
			s.writeError(w, &apiError{status: http.StatusInternalServerError, code: 190310,
				msg: "API call frequency exceeds the per-minute limit"}) // HTTP 500 (1095/53805)
		}
	case FaultGarbage:
		if endpoint == EndpointMedia {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"total_count":1,"record_meetings":[{"meeting_record_id":"19647870`)
	case FaultPortal, FaultEmpty:
		if endpoint == EndpointMedia {
			return false
		}
		body, ct := `{}`, "application/json"
		if f.Kind == FaultPortal {
			body, ct = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Welcome to the guest network</body></html>", "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, body)
	case FaultReset:
		s.reset(w)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		s.reset(w)
	case FaultTruncate, FaultExpired:
		if endpoint != EndpointMedia {
			return false
		}
		s.serveMediaFault(w, r, f.Kind)
	default:
		return false
	}
	return true
}

// reset drops the connection without answering.
func (s *Server) reset(w *statusWriter) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST rather than FIN: a reset, not a polite close
	}
	conn.Close()
}

// errClosed is returned by media writers once the server is closing.
var errClosed = errors.New("emulator closed")

// limits applies the daily quota (190311) and the per-interface limit of /v1/corp/meetings (190313),
// both from 1095/105276.
func (s *Server) limits(endpoint string) *apiError {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.DailyQuota > 0 {
		if s.dayCalls == nil {
			s.dayCalls = map[string]int{}
		}
		day := now.UTC().Format("2006-01-02")
		if s.dayCalls[day] >= s.opts.DailyQuota {
			return badRequest(190311, "the app's daily call quota (%d) is used up", s.opts.DailyQuota)
		}
		s.dayCalls[day]++
	}
	if endpoint == EndpointCorpMeetings && s.opts.CorpMeetingsPerMinute > 0 {
		s.meetCalls = slices.DeleteFunc(s.meetCalls, func(t time.Time) bool { return now.Sub(t) >= time.Minute })
		if len(s.meetCalls) >= s.opts.CorpMeetingsPerMinute {
			return badRequest(190313, "/v1/corp/meetings: at most %d calls per minute", s.opts.CorpMeetingsPerMinute)
		}
		s.meetCalls = append(s.meetCalls, now)
	}
	return nil
}
