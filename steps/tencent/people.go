package tencent

import (
	"slices"
	"time"
)

// MergeAttendance folds attendance rows into one Participant per person, ordered by first join. Rows are
// the same person when their userid matches or, for rows without a userid, their uuid matches (external
// people have only a uuid). Seconds is the length of the union of the person's sessions: rejoins add up,
// while a person connected from two devices at once is not counted twice.
func MergeAttendance(rows []Attendance) []Participant {
	type person struct {
		p        Participant
		first    int
		sessions [][2]time.Time
	}
	var people []*person
	byUser := map[string]*person{}
	byUUID := map[string]*person{}
	for i, r := range rows {
		var pp *person
		switch {
		case r.UserID != "":
			pp = byUser[r.UserID]
			if pp == nil && r.UUID != "" {
				// The same uuid seen before without a userid is this person signed out.
				if q := byUUID[r.UUID]; q != nil && q.p.UserID == "" {
					pp = q
				}
			}
		case r.UUID != "":
			pp = byUUID[r.UUID]
		case r.MsOpenID != "":
			pp = byUUID["ms:"+r.MsOpenID]
		default:
			pp = byUUID["name:"+r.Name]
		}
		if pp == nil {
			pp = &person{first: i}
			people = append(people, pp)
		}
		p := &pp.p
		if p.UserID == "" {
			p.UserID = r.UserID
		}
		if p.UUID == "" {
			p.UUID = r.UUID
		}
		if p.Name == "" {
			p.Name = r.Name
		}
		if p.Role == 0 {
			p.Role = r.Role
		}
		if !r.Join.IsZero() && (p.Join.IsZero() || r.Join.Before(p.Join)) {
			p.Join = r.Join
		}
		if r.Left.After(p.Left) {
			p.Left = r.Left
		}
		if !r.Join.IsZero() && r.Left.After(r.Join) {
			pp.sessions = append(pp.sessions, [2]time.Time{r.Join, r.Left})
		}
		if r.UserID != "" {
			byUser[r.UserID] = pp
		}
		switch {
		case r.UUID != "":
			byUUID[r.UUID] = pp
		case r.MsOpenID != "":
			byUUID["ms:"+r.MsOpenID] = pp
		case r.UserID == "":
			byUUID["name:"+r.Name] = pp
		}
	}
	slices.SortStableFunc(people, func(a, b *person) int {
		switch {
		case a.p.Join.Equal(b.p.Join):
			return a.first - b.first
		case a.p.Join.IsZero():
			return 1
		case b.p.Join.IsZero():
			return -1
		}
		return a.p.Join.Compare(b.p.Join)
	})
	out := make([]Participant, 0, len(people))
	for _, pp := range people {
		pp.p.Seconds = unionSeconds(pp.sessions)
		out = append(out, pp.p)
	}
	return out
}

// unionSeconds is the total length of the union of the intervals, in whole seconds.
func unionSeconds(iv [][2]time.Time) int64 {
	if len(iv) == 0 {
		return 0
	}
	slices.SortFunc(iv, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	cur := iv[0]
	for _, s := range iv[1:] {
		if s[0].After(cur[1]) {
			total += cur[1].Sub(cur[0])
			cur = s
			continue
		}
		if s[1].After(cur[1]) {
			cur[1] = s[1]
		}
	}
	total += cur[1].Sub(cur[0])
	return int64(total / time.Second)
}

// hostRoles are user_role values that mark the host, strongest first: creator+host, host, guest+host
// (tencent-meeting-api.md correction 3; 1 and 7 are creator roles, not host roles).
var hostRoles = []int{3, 2, 5}

// HostID is the host among a recording's participants: the enterprise participant whose user_role marks
// the host, else "" (nobody says who hosted). The creator is never taken for the host: an assistant
// may schedule a meeting that a teacher hosts (tencent-meeting-api.md correction 3).
func HostID(people []Participant) string {
	for _, role := range hostRoles {
		for _, p := range people {
			if p.Role == role && p.UserID != "" {
				return p.UserID
			}
		}
	}
	return ""
}

// DefaultStudentRule is the expression tencent_list uses to pick students when none is configured, and
// IsStudent is its Go twin: members (role 0) and guests (role 4) other than the teacher and the creator.
// Hosts, co-hosts and the creator are staff.
const DefaultStudentRule = `p.role in [0, 4] && (p.userid == "" || (p.userid != teacher_id && p.userid != creator_userid))`

// IsStudent evaluates DefaultStudentRule.
func IsStudent(p Participant, teacherID, creator string) bool {
	return (p.Role == 0 || p.Role == 4) && (p.UserID == "" || (p.UserID != teacherID && p.UserID != creator))
}
