package redact

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// shipped compiles the patterns of pipelines/meeting.yaml, so the tests hold for what is deployed.
func shipped(t *testing.T) *Redactor {
	t.Helper()
	src, err := os.ReadFile("../../pipelines/meeting.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Redact struct {
			Patterns []Rule `yaml:"patterns"`
		} `yaml:"redact"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Redact.Patterns) == 0 {
		t.Fatal("pipelines/meeting.yaml declares no redact patterns")
	}
	r, errs := Compile(doc.Redact.Patterns)
	if errs != nil {
		t.Fatal(errs)
	}
	return r
}

// Each pattern: what it catches (want the replacement, counted once under its name) and what it leaves.
func TestShippedPatterns(t *testing.T) {
	r := shipped(t)
	cases := []struct {
		rule, in, want string
	}{
		// mobile
		{"mobile", "我的电话是13800138000，谢谢", "我的电话是[手机号]，谢谢"},
		{"mobile", "电话 138 0013 8000 打我", "电话 [手机号] 打我"},
		{"mobile", "电话138-0013-8000。", "电话[手机号]。"},
		{"mobile", "拨 +86 138 0013 8000", "拨 +[手机号]"},
		{"mobile", "+8613912345678", "+[手机号]"},
		{"mobile", "号码是一三八零零一三八零零零", "号码是[手机号]"},
		{"mobile", "第一13800138000", "第一[手机号]"},
		{"mobile", "2024-06-15 15912345678", "2024-06-15 [手机号]"},
		{"", "订单号2024061513800138000", ""}, // a longer number that contains a mobile-shaped run
		{"", "订单号 10238001380 已发货", ""},    // 11 digits, but no 1[3-9] prefix
		{"", "面试定在2024-06-15 14:30", ""},   // a date and a time
		{"", "日期 2024 06 15，共 13 人", ""},   // spoken date
		{"", "12800138000", ""},            // 12x is no mobile prefix
		{"", "1380013800", ""},             // 10 digits
		{"", "会议号 138 001 380", ""},        // 9 digits spoken: a meeting code
		// cn_id
		{"cn_id", "身份证号110101199001010015", "身份证号[身份证号]"},
		{"cn_id", "身份证 11010519491231002X。", "身份证 [身份证号]。"},
		{"cn_id", "身份证 11010519491231002x", "身份证 [身份证号]"},
		{"cn_id", "号码 440304 19900307 1248", "号码 [身份证号]"},
		{"cn_id", "号码 440304-19900307-1248", "号码 [身份证号]"},
		{"", "110101199001010016", ""},  // wrong check digit (and not Luhn)
		{"", "110101199013010015", ""},  // month 13
		{"", "1101011990010100150", ""}, // 19 digits with a valid id inside
		// bank_card
		{"bank_card", "卡号6222021001123456789", "卡号[银行卡号]"},
		{"bank_card", "卡号 6222 0210 0112 3456 789", "卡号 [银行卡号]"},
		{"bank_card", "card 4111-1111-1111-1111", "card [银行卡号]"},
		{"", "订单号 6222021001123456788", ""}, // Luhn fails: an order number
		{"", "流水号 1234567890123456", ""},    // Luhn fails
		{"", "会议 1964787070499246104", ""},  // a Tencent record id: Luhn holds, but no card issuer starts with 1
		{"", "1739626437650178104", ""},     // a meeting id
		{"", "订单 6222021001123456788", ""},  // an issuer prefix, but Luhn fails
		// email
		{"email", "邮箱 zhang.san+job@example.com.cn 发简历", "邮箱 [邮箱] 发简历"},
		{"email", "写信到li_si@qq.com。", "写信到[邮箱]。"},
		{"", "at @example 或 a@b", ""},
		{"", "version 1.2.3 and v2@home", ""},
	}
	for _, c := range cases {
		name := c.rule
		if name == "" {
			name = "leaves"
		}
		t.Run(name+"/"+c.in, func(t *testing.T) {
			got, counts := r.String(c.in)
			if c.rule == "" {
				if got != c.in || len(counts) != 0 {
					t.Fatalf("changed %q to %q (%v); want it left alone", c.in, got, counts)
				}
				return
			}
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			if len(counts) != 1 || counts[c.rule] != 1 {
				t.Fatalf("counts %v, want {%s:1}", counts, c.rule)
			}
		})
	}
}

func TestSeveralInOneText(t *testing.T) {
	r := shipped(t)
	in := "手机13800138000，备用 139-1234-5678，身份证110101199001010015，邮箱a@b.cn"
	got, counts := r.String(in)
	want := "手机[手机号]，备用 [手机号]，身份证[身份证号]，邮箱[邮箱]"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if counts["mobile"] != 2 || counts["cn_id"] != 1 || counts["email"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	// Redacted text holds nothing more to redact.
	if again, c := r.String(got); again != got || len(c) != 0 {
		t.Fatalf("second pass changed %q to %q", got, again)
	}
}

func TestJSONRedactsEveryString(t *testing.T) {
	r := shipped(t)
	raw := []byte(`{"text":"电话13800138000","segments":[{"start":1.5,"end":2,"text":"138 0013 8000"}],"n":12345678901234567890}`)
	out, counts, err := r.JSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "138") || !strings.Contains(string(out), "12345678901234567890") {
		t.Fatalf("got %s", out)
	}
	if counts["mobile"] != 2 {
		t.Fatalf("counts %v", counts)
	}
	clean := []byte(`{"b":1,  "a":"nothing"}`)
	if out, c, _ := r.JSON(clean); string(out) != string(clean) || c != nil {
		t.Fatalf("a clean document changed: %s", out)
	}
}

func TestCompileReportsEveryBadRule(t *testing.T) {
	_, errs := Compile([]Rule{
		{Name: "a", Match: `1[3-9`, Replace: "x"},
		{Name: "a", Match: `\d*`, Replace: "x"},
		{Name: "c", Match: `\d+`, Validate: "iban"},
	})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"rule 1: match: error parsing regexp", "rule 2: name: duplicate", "rule 2: match: matches the empty text",
		"rule 3: replace: missing", `rule 3: validate: unknown validator "iban"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("want %q in:\n%s", want, joined)
		}
	}
}

func TestValidators(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{{"110101199001010015", true}, {"11010519491231002X", true}, {"110101199001010016", false}, {"11010119900101001", false}} {
		if ValidCNID(c.id) != c.ok {
			t.Errorf("ValidCNID(%s) = %v", c.id, !c.ok)
		}
	}
	for _, c := range []struct {
		n  string
		ok bool
	}{{"4111111111111111", true}, {"6222021001123456789", true}, {"4111111111111112", false}, {"0", false}} {
		if ValidLuhn(c.n) != c.ok {
			t.Errorf("ValidLuhn(%s) = %v", c.n, !c.ok)
		}
	}
}
