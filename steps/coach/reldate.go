package coach

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// ResolveDue turns a due date as said in a session ("下周五之前", "3天内", "月底", "12月20号", "2026-12-20")
// into a calendar date, counted from the session's day (its date in session's location). Weeks start on
// Monday; "周末" is the Sunday; "周五前" said after that Friday means the next one. ok is false when the text
// names no date this resolver knows: the item is then stored without one, never with a guess.
func ResolveDue(text string, session time.Time) (time.Time, bool) {
	s := strings.TrimSpace(norm.NFKC.String(text))
	s = strings.NewReplacer(" ", "", "礼拜", "周", "星期", "周", "週", "周", "号", "日").Replace(s)
	s = strings.NewReplacer("下个周", "下周", "这个周", "本周", "这周", "本周").Replace(s)
	for _, suf := range []string{"之前", "以前", "前", "为止", "截止", "之内", "以内", "内", "左右"} {
		s = strings.TrimSuffix(s, suf)
	}
	if s == "" {
		return time.Time{}, false
	}
	day := time.Date(session.Year(), session.Month(), session.Day(), 0, 0, 0, 0, session.Location())
	if d, ok := absolute(s, day); ok {
		return d, true
	}
	switch s {
	case "今天", "今晚", "当天", "课后", "下课后":
		return day, true
	case "明天", "明晚":
		return day.AddDate(0, 0, 1), true
	case "后天":
		return day.AddDate(0, 0, 2), true
	case "大后天":
		return day.AddDate(0, 0, 3), true
	case "月底", "本月底", "这个月底":
		return endOfMonth(day, 0), true
	case "下个月底", "下月底":
		return endOfMonth(day, 1), true
	case "下个月", "下月", "一个月后", "一个月":
		return day.AddDate(0, 1, 0), true
	}
	if m := relRE.FindStringSubmatch(s); m != nil {
		n, ok := number(m[1])
		if !ok {
			return time.Time{}, false
		}
		switch m[2] {
		case "天", "日":
			return day.AddDate(0, 0, n), true
		case "周", "个周", "星期", "个星期":
			return day.AddDate(0, 0, 7*n), true
		case "个月", "月":
			return day.AddDate(0, n, 0), true
		}
	}
	if m := weekRE.FindStringSubmatch(s); m != nil {
		wd, ok := weekday(m[2])
		if !ok {
			return time.Time{}, false
		}
		monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		switch m[1] {
		case "下下":
			return monday.AddDate(0, 0, 14+wd-1), true
		case "下":
			return monday.AddDate(0, 0, 7+wd-1), true
		case "本":
			return monday.AddDate(0, 0, wd-1), true
		default: // "周五": this week's, or the next one when it has passed
			d := monday.AddDate(0, 0, wd-1)
			if d.Before(day) {
				d = d.AddDate(0, 0, 7)
			}
			return d, true
		}
	}
	return time.Time{}, false
}

var (
	relRE  = regexp.MustCompile(`^([0-9]+|[一二两三四五六七八九十半]+)(天|日|个周|周|个星期|星期|个月|月)(后|之后|以后)?$`)
	weekRE = regexp.MustCompile(`^(下下|下|本|)周([一二三四五六日天末1-7])$`)
	isoRE  = regexp.MustCompile(`^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$`)
	mdRE   = regexp.MustCompile(`^(\d{1,2}|[一二三四五六七八九十]+)月(\d{1,2}|[一二三四五六七八九十]+)日?$`)
)

func absolute(s string, day time.Time) (time.Time, bool) {
	if m := isoRE.FindStringSubmatch(s); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		return valid(y, mo, d, day.Location())
	}
	if m := mdRE.FindStringSubmatch(s); m != nil {
		mo, ok1 := number(m[1])
		d, ok2 := number(m[2])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		t, ok := valid(day.Year(), mo, d, day.Location())
		// "1月5日" said in December is next January's.
		if ok && t.Before(day.AddDate(0, -2, 0)) {
			t, ok = valid(day.Year()+1, mo, d, day.Location())
		}
		return t, ok
	}
	return time.Time{}, false
}

func valid(y, m, d int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false // 2月30日
	}
	return t, true
}

func endOfMonth(day time.Time, plus int) time.Time {
	first := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, day.Location())
	return first.AddDate(0, plus+1, -1)
}

func weekday(s string) (int, bool) {
	switch s {
	case "一", "1":
		return 1, true
	case "二", "2":
		return 2, true
	case "三", "3":
		return 3, true
	case "四", "4":
		return 4, true
	case "五", "5":
		return 5, true
	case "六", "6":
		return 6, true
	case "日", "天", "末", "7":
		return 7, true
	}
	return 0, false
}

// number reads 0–99 in digits or Chinese numerals (一, 两, 十, 十二, 二十三); "半" is not a whole count.
func number(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, true
	}
	digit := map[rune]int{'一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}
	r := []rune(s)
	switch {
	case len(r) == 1 && r[0] == '十':
		return 10, true
	case len(r) == 1:
		n, ok := digit[r[0]]
		return n, ok
	case len(r) == 2 && r[0] == '十':
		n, ok := digit[r[1]]
		return 10 + n, ok
	case len(r) == 2 && r[1] == '十':
		n, ok := digit[r[0]]
		return 10 * n, ok
	case len(r) == 3 && r[1] == '十':
		a, ok1 := digit[r[0]]
		b, ok2 := digit[r[2]]
		return 10*a + b, ok1 && ok2
	}
	return 0, false
}
