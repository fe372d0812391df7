package emulator

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
)

// The coaching extraction (issue 22). A request that declares fields beyond phase, summary and confidence
// (in its json_schema, or as <schema>…</schema> in the system prompt when the model is in JSON mode)
// gets them answered, deterministically from the transcript, the way a model tends to answer:
//   - an array whose elements have owner, task and due: one item per transcript sentence that names a due
//     date (quoted verbatim), plus one invented item whose quote is nowhere in the transcript (models
//     invent action items) when MoonshotOptions.InventItem is set;
//   - criterion and score: a score per criterion of the enum, derived from a hash of the transcript, with
//     a transcript sentence as evidence (MoonshotOptions.ScoresOutOfRange answers that many requests with
//     a score 2 above the schema's maximum; whether Moonshot's structured output enforces minimum/maximum
//     is not documented [U], so the emulator does not enforce it);
//   - id and status: each open item id of the enum is "done", quoting the sentence, when the transcript
//     says 完成/做完/写好/改好/发给你了, else "not_mentioned".

// InventedQuote is the quote of the emulator's invented action item: it is in no transcript.
const InventedQuote = "我会把整理好的面试题库发到群里"

var dueRE = regexp.MustCompile(`(下下?(?:个)?(?:周|星期|礼拜)[一二三四五六日天末]|(?:这|本)?周[一二三四五六日天末]|明天|后天|[0-9一二两三四五六七八九十]+天[内后]?|[一二两三0-9]+周内|月底|[0-9]{1,2}月[0-9]{1,2}[日号])(之前|以前|前)?`)

var doneRE = regexp.MustCompile(`完成|做完|写好|改好|发给你了|已经发`)

// requestSchema is the schema a request asks its answer to follow, from response_format or the prompt.
func requestSchema(b *chatBody) map[string]any {
	if b.ResponseFormat != nil && b.ResponseFormat.Type == "json_schema" && b.ResponseFormat.JSONSchema != nil {
		return b.ResponseFormat.JSONSchema.Schema
	}
	for _, m := range b.Messages {
		if m.Role != "system" {
			continue
		}
		i := strings.Index(m.Content, "<schema>")
		j := strings.Index(m.Content, "</schema>")
		if i >= 0 && j > i {
			var s map[string]any
			if json.Unmarshal([]byte(m.Content[i+len("<schema>"):j]), &s) == nil {
				return s
			}
		}
	}
	return nil
}

// sentences are the transcript's sentences without timestamps or speaker labels.
func sentences(prompt string) []string {
	text := prompt
	if i := strings.Index(text, "<transcript>"); i >= 0 {
		text = text[i+len("<transcript>"):]
	}
	if j := strings.Index(text, "</transcript>"); j >= 0 {
		text = text[:j]
	}
	text = regexp.MustCompile(`\[\d+:\d+(?::\d+)?\]`).ReplaceAllString(text, "\n")
	var out []string
	for _, s := range regexp.MustCompile(`[。！？!?\n]`).Split(text, -1) {
		s = strings.TrimSpace(s)
		if k := strings.IndexAny(s, "：:"); k >= 0 && k < 12 {
			s = strings.TrimSpace(s[k+len(string([]rune(s[k:])[0])):])
		}
		if len([]rune(s)) >= 4 {
			out = append(out, s)
		}
	}
	return out
}

func hashOf(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// extract adds the declared fields to the JSON answer ans.
func (s *MoonshotServer) extract(ans string, b *chatBody, prompt string) string {
	schema := requestSchema(b)
	props, _ := schema["properties"].(map[string]any)
	var m map[string]any
	if len(props) == 0 || json.Unmarshal([]byte(ans), &m) != nil {
		return ans
	}
	sents := sentences(prompt)
	system := ""
	if len(b.Messages) > 0 && b.Messages[0].Role == "system" {
		system = b.Messages[0].Content
	}
	added := false
	for name, raw := range props {
		if name == "phase" || name == "summary" || name == "confidence" {
			continue
		}
		p, _ := raw.(map[string]any)
		m[name] = s.fieldValue(name, p, sents, system)
		added = true
	}
	if !added {
		return ans
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func (s *MoonshotServer) fieldValue(name string, p map[string]any, sents []string, system string) any {
	switch p["type"] {
	case "array":
		items, _ := p["items"].(map[string]any)
		ip, _ := items["properties"].(map[string]any)
		switch {
		case ip["task"] != nil && ip["owner"] != nil:
			return s.homework(sents)
		case ip["criterion"] != nil && ip["score"] != nil:
			return s.scores(ip, sents, system)
		case ip["id"] != nil && ip["status"] != nil:
			return followups(ip, sents)
		}
		return []any{}
	case "string":
		if e := asSlice(p["enum"]); len(e) > 0 {
			return e[0]
		}
		if len(sents) > 0 {
			return sents[0]
		}
		return ""
	case "integer", "number":
		if f, ok := p["minimum"].(float64); ok {
			return f
		}
		return 0
	case "boolean":
		return false
	}
	return nil
}

func (s *MoonshotServer) homework(sents []string) []any {
	out := []any{}
	for _, st := range sents {
		m := dueRE.FindString(st)
		if m == "" {
			continue
		}
		task := strings.TrimSpace(strings.Replace(st, m, "", 1))
		task = strings.TrimLeft(task, "，, 把")
		out = append(out, map[string]any{"owner": "student", "task": task, "due": m, "quote": st})
	}
	if s.o.InventItem {
		out = append(out, map[string]any{"owner": "teacher", "task": "整理面试题库发到群里", "due": "", "quote": InventedQuote})
	}
	return out
}

// rangeRE finds a criterion's range as the prompt lists it: "- 自我介绍（1–5）".
var rangeRE = regexp.MustCompile(`(?m)^- (.+?)（([0-9.]+)–([0-9.]+)）`)

func (s *MoonshotServer) scores(ip map[string]any, sents []string, system string) []any {
	crit := asSlice(mapOf(ip["criterion"])["enum"])
	lo0, hi0 := 1.0, 5.0
	if f, ok := mapOf(ip["score"])["minimum"].(float64); ok {
		lo0 = f
	}
	if f, ok := mapOf(ip["score"])["maximum"].(float64); ok {
		hi0 = f
	}
	ranges := map[string][2]float64{}
	for _, m := range rangeRE.FindAllStringSubmatch(system, -1) {
		var lo, hi float64
		if _, err := fmt.Sscan(m[2], &lo); err == nil {
			if _, err := fmt.Sscan(m[3], &hi); err == nil {
				ranges[m[1]] = [2]float64{lo, hi}
			}
		}
	}
	s.mu.Lock()
	outOfRange := s.o.ScoresOutOfRange > s.outOfRange
	if outOfRange {
		s.outOfRange++
	}
	s.mu.Unlock()
	joined := strings.Join(sents, "。")
	out := []any{}
	for i, c := range crit {
		name, _ := c.(string)
		lo, hi := lo0, hi0
		if r, ok := ranges[name]; ok {
			lo, hi = r[0], r[1]
		}
		h := hashOf(joined, name)
		score := lo + float64(h%uint32(hi-lo+1))
		if i == 0 && outOfRange {
			score = hi + 2
		}
		quote := ""
		if len(sents) > 0 {
			quote = sents[int(h/7)%len(sents)]
		}
		out = append(out, map[string]any{"criterion": name, "score": score, "quote": quote})
	}
	return out
}

func followups(ip map[string]any, sents []string) []any {
	out := []any{}
	done := slices.IndexFunc(sents, doneRE.MatchString)
	for _, id := range asSlice(mapOf(ip["id"])["enum"]) {
		f := map[string]any{"id": id, "status": "not_mentioned", "quote": ""}
		if done >= 0 {
			f["status"], f["quote"] = "done", sents[done]
		}
		out = append(out, f)
	}
	return out
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
