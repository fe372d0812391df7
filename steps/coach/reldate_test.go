package coach

import (
	"testing"
	"time"
)

func TestResolveDue(t *testing.T) {
	sh := time.FixedZone("CST", 8*3600)
	// Wednesday 2026-12-02, 20:00 in Shanghai.
	wed := time.Date(2026, 12, 2, 20, 0, 0, 0, sh)
	sat := time.Date(2026, 12, 5, 10, 0, 0, 0, sh)
	for _, c := range []struct {
		text    string
		session time.Time
		want    string // "" : not resolved
	}{
		{"下周五之前", wed, "2026-12-11"},
		{"下个星期五前", wed, "2026-12-11"},
		{"下礼拜一", wed, "2026-12-07"},
		{"周五前", wed, "2026-12-04"},
		{"周五前", sat, "2026-12-11"}, // said after this week's Friday
		{"这周日", wed, "2026-12-06"},
		{"本周末", wed, "2026-12-06"},
		{"下下周三", wed, "2026-12-16"},
		{"明天", wed, "2026-12-03"},
		{"后天之前", wed, "2026-12-04"},
		{"3天内", wed, "2026-12-05"},
		{"三天后", wed, "2026-12-05"},
		{"两周内", wed, "2026-12-16"},
		{"十天", wed, "2026-12-12"},
		{"一个月后", wed, "2027-01-02"},
		{"月底", wed, "2026-12-31"},
		{"下个月底", wed, "2027-01-31"},
		{"12月20号", wed, "2026-12-20"},
		{"1月5日前", wed, "2027-01-05"},
		{"十二月二十日", wed, "2026-12-20"},
		{"２０２６－１２－２４", wed, "2026-12-24"}, // full width
		{"2026年12月24日", wed, "2026-12-24"},
		{"2月30日", wed, ""},
		{"尽快", wed, ""},
		{"", wed, ""},
		{"下周", wed, ""},
	} {
		got, ok := ResolveDue(c.text, c.session)
		s := ""
		if ok {
			s = got.Format("2006-01-02")
		}
		if s != c.want {
			t.Errorf("ResolveDue(%q, %s) = %q, want %q", c.text, c.session.Format("Mon 2006-01-02"), s, c.want)
		}
	}
}

func TestQuotesNormalise(t *testing.T) {
	q := NewQuotes("[00:12] 老师：好的，那你下周五之前把 STAR 结构的自我介绍写一版发给我。\n学生：好，没问题！")
	for _, c := range []struct {
		quote string
		want  bool
	}{
		{"下周五之前把STAR结构的自我介绍写一版发给我", true}, // spaces dropped
		{"下周五之前，把 ＳＴＡＲ 结构的自我介绍写一版", true}, // full width, extra comma
		{"好 没问题", true},
		{"下周五之前把简历发给我", false}, // invented
		{"好的", false},          // too short to prove anything
		{"", false},
	} {
		if got := q.Found(c.quote); got != c.want {
			t.Errorf("Found(%q) = %v, want %v", c.quote, got, c.want)
		}
	}
}

func TestItemKeyStable(t *testing.T) {
	a := ItemKey("r1", "把 STAR 自我介绍写一版。")
	if b := ItemKey("r1", "把STAR自我介绍写一版"); a != b {
		t.Errorf("keys differ by spacing: %s %s", a, b)
	}
	if c := ItemKey("r2", "把STAR自我介绍写一版"); a == c {
		t.Error("two recordings share a key")
	}
}
