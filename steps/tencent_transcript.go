package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/kimi"
	"meetpipe/steps/roster"
	"meetpipe/steps/talk"
	"meetpipe/steps/tencent"
)

// tencentTranscriptConfig is the `with:` block of tencent_transcript. The credentials are the listing's;
// connection settings are not part of the memo key.
type tencentTranscriptConfig struct {
	Transcript   string        `yaml:"transcript" enum:"auto,asr,tencent" doc:"where the transcript comes from: auto (Tencent's when it has one, else the ASR), asr or tencent"`
	STS          string        `yaml:"sts" enum:"required,none" doc:"whether the app must send the STS-Token header (1095/65111): required for an app created from 2026-01-16, none for an older one"`
	SecretID     string        `yaml:"secret_id" secret:"true" memo:"-" required:"true" doc:"as tencent_list's"`
	SecretKey    string        `yaml:"secret_key" secret:"true" memo:"-" required:"true" doc:"as tencent_list's"`
	EnterpriseID string        `yaml:"enterprise_id" memo:"-" required:"true" doc:"as tencent_list's"`
	SdkID        string        `yaml:"sdk_id" memo:"-" doc:"as tencent_list's"`
	BaseURL      string        `yaml:"base_url" memo:"-" doc:"as tencent_list's"`
	OperatorID   string        `yaml:"operator_id" memo:"-" doc:"userid the calls are made as (an admin); empty: the recording's creator, who may always read it (correction 8)"`
	Teachers     string        `yaml:"teachers" doc:"teacher userids (JSON array or comma-separated): a speaker with one of them is the teacher, besides the host"`
	Speakers     bool          `yaml:"smart_speakers" doc:"also read /v1/smart/speakers (1095/105659) to name speakers whose paragraphs carry only ms_open_id"`
	RPS          float64       `yaml:"requests_per_second" memo:"-" min:"0.01" max:"1000" doc:"client-side limit on these calls"`
	Timeout      time.Duration `yaml:"timeout" memo:"-" min:"1s" max:"10m" doc:"limit on one request"`
}

// SettingDetails is what `runner steps tencent_transcript` prints under a setting, beyond its doc.
func (tencentTranscriptConfig) SettingDetails() map[string]string {
	return map[string]string{
		"transcript": "auto: Tencent's transcript when it has one for every file of the recording (no download, no audio, " +
			"no ASR), else the ASR; asr: always the ASR (no call here); tencent: never the ASR, the recording waits as " +
			"not ready until Tencent's transcript exists (within pending_max_age).",
		"sts": "required: the token runner serve keeps in state_dir is sent, and without a valid one auto falls back " +
			"to the ASR (said once per run).",
	}
}

const (
	sourceTencent = "tencent"
	sourceASR     = "asr"
)

func init() {
	step.Register(step.Spec{
		Name: "tencent_transcript",
		Summary: "use Tencent Meeting's own speaker-attributed transcript (/v1/records/transcripts/details) when it has one for " +
			"every file of the recording, so that download, audio extraction and ASR are skipped for it",
		Version: "1",
		Reads:   []string{"files", "meeting_id", "creator_userid", "host_userid", "start"},
		Writes: []step.Field{
			{Name: "transcript", Sample: kimi.Transcript{}, Doc: "as kimi_asr's: text, segments[] {start, end, text, " +
				"speaker} (one per sentence, seconds from the recording's start); written only when the source is tencent"},
			{Name: "transcript_source", Sample: "", Doc: "tencent, or asr when the ASR steps are to make the " +
				"transcript (use if: transcript_source != \"tencent\" on them)"},
			{Name: "speakers", Sample: []talk.Speaker{}, Doc: "Tencent's speakers mapped to roles: key (userid, " +
				"name:<normalised name>, or open:<ms_open_id>), role (teacher: the host or a whitelisted teacher; " +
				"student), student_id as recording_students has it, name; empty for the ASR"},
		},
	}, tencentTranscriptConfig{Transcript: "auto", STS: "required", BaseURL: tencent.DefaultBaseURL, Speakers: true,
		RPS: tencent.DefaultRequestsPerSecond, Timeout: 30 * time.Second}, newTencentTranscript)
}

type tencentTranscript struct {
	cfg      tencentTranscriptConfig
	client   *tencent.Client
	sts      tencent.STSStore
	teachers []string
}

func newTencentTranscript(cfg tencentTranscriptConfig, b *step.Build) (any, error) {
	b.Secret(cfg.SecretID)
	b.Secret(cfg.SecretKey)
	teachers, err := step.ParseList(cfg.Teachers)
	if err != nil {
		return nil, b.ErrorAt("teachers", "tencent_transcript: teachers: %v", err)
	}
	s := &tencentTranscript{cfg: cfg, sts: tencent.NewSTSStore(b.StateDir), teachers: teachers}
	if cfg.Transcript == "asr" {
		return s, nil // no call is ever made: credentials may be left out
	}
	shared, _ := b.Limiter()
	c, err := tencent.NewClient(tencent.Config{BaseURL: cfg.BaseURL, SecretID: cfg.SecretID, SecretKey: cfg.SecretKey,
		EnterpriseID: cfg.EnterpriseID, SdkID: cfg.SdkID, Timeout: cfg.Timeout, RequestsPerSecond: cfg.RPS,
		CorpRecordsPerMinute: 10, NewLimiter: engineLimiter, Shared: shared})
	if err != nil {
		return nil, b.ErrorAt(tencentSetting(err), "tencent_transcript: %v", err)
	}
	s.client = c
	return s, nil
}

// noTokenOnce keys, in the run's scope, the once-per-run notice that no STS token is stored.
type noTokenOnce struct{ s *tencentTranscript }

// Close releases the client's idle connections.
func (s *tencentTranscript) Close() error {
	if s.client == nil {
		return nil
	}
	return s.client.Close()
}

func (s *tencentTranscript) Process(ctx context.Context, in *step.Item) (step.Fields, error) {
	asr := step.Fields{"transcript_source": sourceASR, "speakers": []talk.Speaker{}}
	if s.cfg.Transcript == "asr" {
		return asr, nil
	}
	log := step.Logger(ctx)
	token := ""
	if s.cfg.STS == "required" {
		tok, ok, err := s.sts.Load(time.Now())
		if err != nil {
			log.Warn("cannot read the STS token", "err", err)
		}
		if !ok {
			if s.cfg.Transcript == "auto" {
				step.RunValue(ctx, noTokenOnce{s}, func() *sync.Once { return new(sync.Once) }).Do(func() {
					log.Warn("no valid STS token in state_dir: Tencent's transcripts are not asked for this run, the " +
						"ASR makes them (runner doctor says how to get a token)")
				})
				return asr, nil
			}
			return nil, step.Deferred(errors.New("transcript: tencent: no valid STS token in state_dir; the " +
				"recording waits (runner doctor says how to get one)"))
		}
		token = tok.Token
	}
	var (
		files                    []tencent.File
		meetingID, creator, host string
		start                    time.Time
	)
	for _, f := range []struct {
		name string
		v    any
	}{{"files", &files}, {"meeting_id", &meetingID}, {"creator_userid", &creator}, {"host_userid", &host}, {"start", &start}} {
		if err := in.Get(f.name, f.v); err != nil {
			return nil, step.Permanent(err)
		}
	}
	if len(files) == 0 {
		return asr, nil
	}
	op := s.cfg.OperatorID
	if op == "" {
		op = creator
	}
	var segs []kimi.Segment
	var paras []tencent.TranscriptParagraph
	var opens map[string]tencent.SmartSpeaker
	for _, f := range files {
		q := tencent.TranscriptQuery{RecordFileID: f.FileID, MeetingID: meetingID, Operator: op, STSToken: token}
		ft, err := s.client.TranscriptDetails(runLog(ctx), q)
		if errors.Is(err, tencent.ErrNoTranscript) {
			if s.cfg.Transcript == "tencent" {
				return nil, step.Deferred(fmt.Errorf("transcript: %w", err))
			}
			log.Debug("no Tencent transcript; the ASR makes it", "item", in.ID(), "file", f.FileID)
			return asr, nil
		}
		if err != nil {
			return nil, err
		}
		if ft.AudioDetect == 0 {
			log.Info("Tencent's voiceprint split is not done; speaker labels may still change", "item", in.ID(), "file", f.FileID)
		}
		if s.cfg.Speakers {
			sp, err := s.client.SmartSpeakers(runLog(ctx), q)
			switch {
			case errors.Is(err, tencent.ErrNoTranscript):
			case err != nil:
				return nil, err
			}
			for _, x := range sp {
				if opens == nil {
					opens = map[string]tencent.SmartSpeaker{}
				}
				opens[tencent.DecodedOpenID(x.MsOpenID)] = x
			}
		}
		// Offsets are ms from the file's start (1095/65111); the transcript counts from the recording's.
		off := int64(0)
		if !f.Start.IsZero() && !start.IsZero() {
			off = f.Start.Sub(start).Milliseconds()
		}
		for _, p := range ft.Paragraphs {
			p.Speaker = fillSpeaker(p.Speaker, opens)
			paras = append(paras, p)
			key := speakerKey(p.Speaker)
			for _, sn := range p.Sentences {
				segs = append(segs, kimi.Segment{Start: float64(sn.Start+off) / 1000, End: float64(sn.End+off) / 1000,
					Text: sn.Text, Speaker: key})
			}
		}
	}
	texts := make([]string, len(segs))
	for i, sg := range segs {
		texts[i] = sg.Text
	}
	speakers := s.roles(paras, host)
	log.Info("Tencent transcript used", "item", in.ID(), "segments", len(segs), "speakers", len(speakers))
	return step.Fields{"transcript": kimi.Transcript{Text: kimi.JoinText(texts), Segments: segs},
		"transcript_source": sourceTencent, "speakers": speakers}, nil
}

// fillSpeaker completes a paragraph's speaker from /v1/smart/speakers by ms_open_id (compared raw and
// base64-decoded, doc §10 2.6): a type-1 speaker id is a userid.
func fillSpeaker(si tencent.SpeakerInfo, opens map[string]tencent.SmartSpeaker) tencent.SpeakerInfo {
	sp, ok := opens[si.MsOpenID]
	if !ok || si.MsOpenID == "" {
		return si
	}
	if si.UserID == "" && sp.IDType == tencent.SpeakerUserID {
		si.UserID = sp.ID
	}
	if si.Name == "" {
		si.Name = sp.Name
	}
	return si
}

// speakerKey is a paragraph speaker's key: the userid, else the normalised name (the id a guest has in
// student_ids), else the per-meeting ms_open_id.
func speakerKey(si tencent.SpeakerInfo) string {
	switch {
	case si.UserID != "":
		return si.UserID
	case roster.GuestID(si.Name) != "":
		return roster.GuestID(si.Name)
	case si.MsOpenID != "":
		return "open:" + si.MsOpenID
	}
	return "unknown"
}

// roles maps each speaker: the host or a whitelisted teacher is the teacher; anyone else with a userid or
// a name is a student with the id recording_students uses (the roster is applied by mysql_upsert).
func (s *tencentTranscript) roles(paras []tencent.TranscriptParagraph, host string) []talk.Speaker {
	seen := map[string]bool{}
	out := []talk.Speaker{}
	for _, p := range paras {
		key := speakerKey(p.Speaker)
		if seen[key] {
			continue
		}
		seen[key] = true
		sp := talk.Speaker{Key: key, Name: p.Speaker.Name, Role: talk.RoleUnknown}
		switch {
		case p.Speaker.UserID != "" && (p.Speaker.UserID == host || slices.Contains(s.teachers, p.Speaker.UserID)):
			sp.Role = talk.RoleTeacher
		case p.Speaker.UserID != "" || roster.GuestID(p.Speaker.Name) != "":
			sp.Role, sp.StudentID = talk.RoleStudent, key
		}
		out = append(out, sp)
	}
	return out
}

// Check tells how Tencent's transcripts will be used, and how to get the STS token they need.
func (s *tencentTranscript) Check(ctx context.Context, _ step.CheckOptions) []step.Finding {
	subject := "tencent transcripts"
	switch {
	case s.cfg.Transcript == "asr":
		return []step.Finding{step.OK(subject, "transcript: asr; every recording goes through the ASR")}
	case s.cfg.STS == "none":
		return []step.Finding{step.OK(subject, "transcript: "+s.cfg.Transcript+"; no STS token needed (sts: none)")}
	}
	tok, ok, err := s.sts.Load(time.Now())
	if ok {
		return []step.Finding{step.OK(subject, "STS token valid until "+tok.ExpireAt.UTC().Format(time.RFC3339))}
	}
	detail := "no STS token in state_dir (" + tencent.STSFile + ")"
	if err != nil {
		detail = err.Error()
	} else if tok.Token != "" {
		detail = "the STS token expired at " + tok.ExpireAt.UTC().Format(time.RFC3339)
	}
	what := "auto falls back to the ASR for every recording"
	if s.cfg.Transcript == "tencent" {
		what = "recordings wait as not ready"
	}
	return []step.Finding{{Status: "warn", Subject: subject, Detail: detail + "; " + what,
		Remedy: "apps created from 2026-01-16 must send STS-Token (1095/65111): configure the event subscription (common.sts-token, " +
			"1095/127651) in the 企管后台 and keep `runner serve` running with the same state_dir, which receives the token; " +
			"an older app needs none: set sts: none"}}
}
