package roster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"　Ｌｉ　Ｌｅｉ ": "li lei",
		"李  同学":    "李 同学",
		"ALICE":    "alice",
		"  ":       "",
		"王\t老师":    "王 老师",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if GuestID("　李同学") != "name:李同学" || GuestID(" ") != "" {
		t.Error("GuestID")
	}
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	csv := write(t, "roster.csv", "\ufeffid,name,aliases,userid\nS001,李雷,Li Lei|小李,\nS002,韩梅梅,,stu_han\n")
	yml := write(t, "roster.yaml", "- id: S001\n  name: 李雷\n  aliases: [Li Lei, 小李]\n- id: S002\n  name: 韩梅梅\n  userid: stu_han\n")
	for _, p := range []string{csv, yml} {
		r, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		for src, want := range map[string]string{"name:李雷": "S001", "name:li lei": "S001", "name:小李": "S001", "stu_han": "S002", "name:韩梅梅": "S002", "S001": "S001"} {
			if got, ok := r.Resolve(src); !ok || got != want {
				t.Errorf("%s: Resolve(%q) = %q %v, want %q", filepath.Base(p), src, got, ok, want)
			}
		}
		if got, ok := r.Resolve("name:路人"); ok || got != "name:路人" {
			t.Errorf("unknown guest resolved to %q %v", got, ok)
		}
		if r.Len() != 2 || r.Hash() == "" {
			t.Errorf("len %d hash %q", r.Len(), r.Hash())
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for name, tt := range map[string]struct{ file, body, want string }{
		"alias claimed twice": {"r.csv", "id,name,aliases\nS1,李雷,小李\nS2,李明,小李\n", "line 3"},
		"duplicate id":        {"r.csv", "id,name\nS1,a\nS1,b\n", "listed twice"},
		"no id column":        {"r.csv", "name\na\n", "id column"},
		"empty id":            {"r.yaml", "- name: a\n", "no id"},
		"unknown key":         {"r.yaml", "- id: S1\n  nmae: a\n", "nmae"},
		"reserved prefix":     {"r.yaml", "- id: name:x\n", "may not start"},
		"extension":           {"r.txt", "", ".csv"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tt.file, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
