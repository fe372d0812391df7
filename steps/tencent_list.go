package steps

import (
	"fmt"
	"path/filepath"
	"time"

	"meetpipe/runner/step"
	"meetpipe/steps/tencent"
)

type tencentListConfig struct {
	SecretID     string    `yaml:"secret_id" doc:"SecretId of the 企业自建应用 (AK/SK auth), e.g. ${TQM_SECRET_ID}" secret:"true" required:"true"`
	SecretKey    string    `yaml:"secret_key" doc:"SecretKey of the app; signs every request and is never sent" secret:"true" required:"true"`
	EnterpriseID string    `yaml:"enterprise_id" doc:"enterprise (企业) ID, sent as the AppId header" required:"true"`
	SdkID        string    `yaml:"sdk_id" doc:"the app's SdkId, sent as the SdkId header (empty for old accounts that have none)"`
	BaseURL      string    `yaml:"base_url" doc:"API base URL; point it at an emulator for tests and demos"`
	Mode         string    `yaml:"mode" doc:"corp: one enterprise-wide listing (/v1/corp/records, 10 calls/min, an admin operator_id); per_teacher: /v1/records with each teacher as operator" enum:"corp,per_teacher"`
	OperatorID   string    `yaml:"operator_id" required_if:"mode=corp" doc:"admin userid used as operator in corp mode"`
	Teachers     string    `yaml:"teachers" required_if:"mode=per_teacher" doc:"teacher userids, as a JSON array ([\"teacher_001\",\"teacher_002\"]) or comma-separated"`
	Whitelist    string    `yaml:"whitelist" memo:"-" doc:"teachers a recording with no known host may be credited to, in the forms teachers takes (default: teachers)"`
	Students     step.Expr `yaml:"students" doc:"rule picking students among a recording's participants; sees p (userid, uuid, name, role, join, left, seconds), teacher_id, host_userid and creator_userid"`
	RecordType   int       `yaml:"record_type" min:"0" max:"5" doc:"query_record_type: 0 all, 1 cloud recordings, 2 uploaded"`
	PageSize     int       `yaml:"page_size" min:"1" max:"20" doc:"records per page, at most 20"`
	MaxPages     int       `yaml:"max_pages" min:"1" max:"10000" doc:"safety limit on pages followed for one 31-day span and operator"`

	RequestsPerSecond      float64       `yaml:"requests_per_second" min:"0.01" max:"1000" doc:"client-side limit on all requests; Tencent allows 300 calls a minute per app (1095/105276), and 4/s leaves a fifth of that to the app's other users"`
	CorpRecordsPerMinute   float64       `yaml:"corp_records_per_minute" min:"0.1" max:"60000" doc:"client-side limit on /v1/corp/records (documented: 10 per minute)"`
	Retries                int           `yaml:"retries" min:"-1" max:"10" doc:"retries of one listing request (a page, a meeting's details or participants) on 5xx, gateway errors, rate limiting, network errors and timeouts (-1: none)"`
	Backoff                time.Duration `yaml:"backoff" min:"1ms" max:"1m" doc:"first wait between retries of a listing request, doubled each time"`
	Timeout                time.Duration `yaml:"timeout" min:"1s" max:"10m" doc:"limit on one request"`
	Participants           bool          `yaml:"participants" doc:"read participants (for teacher fallback and student_ids); false saves requests"`
	MeetingDetails         bool          `yaml:"meeting_details" doc:"find each recording's meeting occurrence, whose sub_meeting_id a recurring meeting's participants need (false: every meeting is read as one-off)"`
	Cache                  bool          `yaml:"cache" doc:"keep the participants and meeting details of settled recordings under state_dir/tencent-cache and read them on later runs (false: always ask)"`
	ParticipantsCacheAfter time.Duration `yaml:"participants_cache_after" min:"1s" max:"87600h" doc:"a finished recording whose end is this far in the past is settled: nobody joins any more, so its participants and meeting details are cached"`
}

// SettingDetails is what `runner steps tencent_list` prints under a setting, beyond its doc.
func (tencentListConfig) SettingDetails() map[string]string {
	return map[string]string{
		"teachers": "In per_teacher mode they are the operators; in corp mode, when set, only recordings they host are " +
			"listed. Quote it when interpolated: '${TEACHER_WHITELIST}'.",
		"whitelist": "A recording with no host_user_id and no participant with a host role keeps its creator as teacher " +
			"only when the creator is on it; otherwise it is flagged needs_review with the reason, never credited to anyone.",
		"students": "p.role is Tencent's user_role: 0 member, 1 creator, 2 host, 3 creator+host, 4 guest, 5 guest+host, " +
			"6 co-host, 7 creator+co-host.",
		"retries": "The listing has no item for the engine to retry. Download addresses are tried once per attempt of " +
			"the step that reads them: its retry: decides.",
		"meeting_details": "It is looked up in the ended-meeting listing of the window (/v1/corp/meetings in corp mode, " +
			"/v1/history/meetings per teacher), falling back to /v1/meetings/{id}.",
		"cache": "A dry run reads the cache but never writes it.",
	}
}

func init() {
	step.Register(step.Spec{
		Name:    "tencent_list",
		Summary: "list an enterprise's Tencent Meeting cloud recordings in the window, with files, host and participants",
		Version: "1",
		Writes: []step.Field{
			{Name: "id", Sample: "", Doc: "meeting_record_id, also the item id"},
			{Name: "meeting_id", Sample: "", Doc: "meeting id (a 19-digit number kept as text)"},
			{Name: "meeting_code", Sample: "", Doc: "9-digit meeting code"},
			{Name: "subject", Sample: "", Doc: "meeting subject"},
			{Name: "host_userid", Sample: "", Doc: "the host: /v1/records' host_user_id, else the participant whose " +
				"user_role is 3, 2 or 5 (with a userid), else empty (never the creator)"},
			{Name: "creator_userid", Sample: "", Doc: "who created the meeting: the teacher a per_teacher listing " +
				"was made for, or /v1/corp/records' userid (an assistant may schedule for a teacher)"},
			{Name: "start", Sample: time.Time{}, Doc: "meeting start (media_start_time), UTC"},
			{Name: "end", Sample: time.Time{}, Doc: "end of the last recording file, UTC"},
			{Name: "duration_min", Sample: 0, Doc: "end - start in whole minutes (rounded)"},
			{Name: "state", Sample: 0, Doc: "recording state; always 3 (done) on emitted items"},
			{Name: "files", Sample: []tencent.File{}, Doc: "recording files in order: file_id, start, end, size"},
			{Name: "participants", Sample: []tencent.Participant{}, Doc: "one per person, rejoins merged: userid, " +
				"uuid, name (decoded), role, join, left, seconds attended"},
			{Name: "teacher_id", Sample: "", Doc: "the teacher: host_userid; when nobody is known to have hosted, the creator if whitelisted, else empty"},
			{Name: "needs_review", Sample: false, Doc: "true when nothing says who hosted and the creator is not a whitelisted teacher"},
			{Name: "review_reason", Sample: "", Doc: "why needs_review is set (empty otherwise)"},
			{Name: "student_ids", Sample: []string{}, Doc: "participants the students rule picks: userid, or " +
				"name:<normalised display name> for guests (a guest's uuid holds for one meeting only); ext:<uuid> for a guest without a name"},
			{Name: tencent.DownloadURLsField, Sample: map[string]string{}, Doc: "lazy: record_file_id → signed " +
				"download address (valid 6 h), fetched from /v1/addresses only for a step that reads it and is about " +
				"to run; never stored, not in memo keys, not readable by expressions"},
			{Name: tencent.AudioURLsField, Sample: map[string]string{}, Doc: "lazy, like download_urls: " +
				"record_file_id → signed address of the file's audio-only rendition (m4a), for the files Tencent offers one"},
		},
		Volatile:    []string{tencent.DownloadURLsField, tencent.AudioURLsField},
		Lazy:        []string{tencent.DownloadURLsField, tencent.AudioURLsField},
		SideEffects: false,
		Source:      true,
		Label:       []string{"start", "teacher_id", "student_ids", "subject"},
		OrderBy:     "start",
	}, tencentListConfig{
		BaseURL:                tencent.DefaultBaseURL,
		Mode:                   tencent.ModeCorp,
		Students:               step.NewExpr(tencent.DefaultStudentRule),
		RecordType:             1,
		PageSize:               tencent.MaxPageSize,
		MaxPages:               1000,
		RequestsPerSecond:      tencent.DefaultRequestsPerSecond,
		CorpRecordsPerMinute:   10,
		Retries:                1,
		Backoff:                time.Second,
		Timeout:                30 * time.Second,
		Participants:           true,
		MeetingDetails:         true,
		Cache:                  true,
		ParticipantsCacheAfter: tencent.DefaultCacheAfter,
	}, newTencentList)
}

func newTencentList(cfg tencentListConfig, b *step.Build) (any, error) {
	b.Secret(cfg.SecretKey)
	b.Secret(cfg.SecretID)
	teachers, err := step.ParseList(cfg.Teachers)
	if err != nil {
		return nil, b.ErrorAt("teachers", "tencent_list: teachers: %v", err)
	}
	whitelist := teachers
	if cfg.Whitelist != "" {
		if whitelist, err = step.ParseList(cfg.Whitelist); err != nil {
			return nil, b.ErrorAt("whitelist", "tencent_list: whitelist: %v", err)
		}
	}
	var rule *step.Program
	if !cfg.Students.IsZero() {
		if rule, err = b.CompileBool(&cfg.Students, map[string]any{
			"p": tencent.Participant{}, "teacher_id": "", "host_userid": "", "creator_userid": "",
		}); err != nil {
			return nil, err
		}
	}
	shared, _ := b.Limiter()
	c, err := tencent.NewClient(tencent.Config{
		BaseURL: cfg.BaseURL, SecretID: cfg.SecretID, SecretKey: cfg.SecretKey,
		EnterpriseID: cfg.EnterpriseID, SdkID: cfg.SdkID,
		Timeout:           cfg.Timeout,
		RequestsPerSecond: cfg.RequestsPerSecond, CorpRecordsPerMinute: cfg.CorpRecordsPerMinute,
		NewLimiter: engineLimiter, Shared: shared, STSToken: stsSource(b.StateDir),
	})
	if err != nil {
		return nil, b.ErrorAt(tencentSetting(err), "tencent_list: %v", err)
	}
	lc := tencent.ListerConfig{
		Mode: cfg.Mode, Operator: cfg.OperatorID, Teachers: teachers, Whitelist: whitelist, PageSize: cfg.PageSize,
		MaxPages: cfg.MaxPages, RecordType: cfg.RecordType,
		SkipParticipants: !cfg.Participants, SkipMeetingDetails: !cfg.MeetingDetails,
		Secret: b.Secret, CacheAfter: cfg.ParticipantsCacheAfter, Retries: cfg.Retries, Backoff: cfg.Backoff,
	}
	if cfg.Cache && b.StateDir != "" {
		// The scope keeps an emulator's answers and another enterprise's apart in a shared state_dir.
		lc.Cache = tencent.NewCache(filepath.Join(b.StateDir, tencent.CacheDirName),
			cfg.BaseURL+"\x00"+cfg.EnterpriseID, b.DryRun, nil)
	}
	if rule != nil {
		lc.Students = func(p tencent.Participant, teacher, creator string) (bool, error) {
			ok, err := rule.Bool(nil, map[string]any{"p": p, "teacher_id": teacher, "host_userid": teacher, "creator_userid": creator})
			if err != nil {
				return false, fmt.Errorf("students rule: %w", err)
			}
			return ok, nil
		}
	}
	// The tags check the settings one by one; the lister checks what they cannot, such as teachers: '[]'
	// in per_teacher mode (required_if sees text, and this text names nobody).
	l, err := tencent.NewLister(c, lc)
	if err != nil {
		return nil, b.ErrorAt(tencentSetting(err), "tencent_list: %v", err)
	}
	return &tencentSource{lister: l, client: c, operator: cfg.OperatorID, check: tencent.CheckConfig{Mode: cfg.Mode, Operator: cfg.OperatorID,
		Teachers: teachers, Whitelist: whitelist, RequestsPerSecond: cfg.RequestsPerSecond, CorpRecordsPerMinute: cfg.CorpRecordsPerMinute}}, nil
}
