package main

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"
)

// checkBoardInBrowser opens the report in headless Chromium and reads the student board as a person
// sees it: it is the first section of the page, one row per student of the database with the current
// phase, and the scored mock interview shows its criteria.
func checkBoardInBrowser(t *testing.T, page string, db *sql.DB) {
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1100, 1400))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	type board struct {
		First    string   `json:"first"`
		Heading  string   `json:"heading"`
		Rows     []string `json:"rows"`
		Li       string   `json:"li"`
		Visible  bool     `json:"visible"`
		Homework bool     `json:"homework"`
		Scores   []string `json:"scores"`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitVisible("#board-table")); err != nil {
		t.Fatalf("chromium: open %s: %v", page, err)
	}
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[board](`(() => {
			const q = s => document.querySelector(s), qa = s => Array.from(document.querySelectorAll(s));
			const r = q('#board').getBoundingClientRect();
			return {
				first: q('main > section').id,
				heading: q('#board h2').innerText,
				rows: qa('#board-table tbody tr[data-student]').map(r => r.dataset.student),
				li: (q('#board-table tr[data-student="stu_li"]') || {innerText: ''}).innerText,
				visible: r.width > 500 && r.height > 60,
				homework: !!q('#homework-table'),
				scores: qa('#board-table tbody tr[data-student]').map(r => r.cells[8].innerText),
			};
		})()`))
	if err != nil {
		t.Fatalf("chromium: read the board: %v", err)
	}
	var students int
	if err := db.QueryRow(`SELECT COUNT(DISTINCT student_id) FROM recording_students`).Scan(&students); err != nil {
		t.Fatal(err)
	}
	if seen.First != "board" || seen.Heading != "学员看板" || !seen.Visible {
		t.Errorf("the page opens with section %q (%q, visible %v), want the student board", seen.First, seen.Heading, seen.Visible)
	}
	if len(seen.Rows) != students {
		t.Errorf("board rows %q, want one per student (%d)", seen.Rows, students)
	}
	if !strings.Contains(seen.Li, "李同学") || !strings.Contains(seen.Li, "Offer后续") {
		t.Errorf("李同学's board row reads %q, want the current phase Offer后续", seen.Li)
	}
	var scored bool
	for _, s := range seen.Scores {
		scored = scored || strings.Contains(s, "自我介绍")
	}
	if !scored || !seen.Homework {
		t.Errorf("board scores %q (want the mock interview's criteria), homework table %v", seen.Scores, seen.Homework)
	}
}

// checkCoachSheets reads the workbook's coaching sheets back: 作业, 评分 (the scored mock interview's
// trend) and 预警, each with its header.
func checkCoachSheets(t *testing.T, book string) {
	f, err := excelize.OpenFile(book)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct{ sheet, head string }{{"作业", "作业"}, {"评分", "均分走势"}, {"预警", "预警"}} {
		rows, err := f.GetRows(c.sheet)
		if err != nil || len(rows) == 0 || !slices.Contains(rows[0], c.head) {
			t.Errorf("sheet %s: %q %v", c.sheet, rows, err)
		}
	}
	rows, _ := f.GetRows("评分")
	if !slices.ContainsFunc(rows, func(r []string) bool { return len(r) > 1 && r[1] == "面试模拟" }) {
		t.Errorf("评分 sheet: %q, want the mock interview's trend", rows)
	}
}
