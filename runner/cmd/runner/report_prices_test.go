package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meetpipe/runner"
	"meetpipe/steps"
	"meetpipe/steps/kimi"
)

// Prices are kimi_classify's; 0, its default, means none were configured, and CNY is shown as 元.
func TestPricesOf(t *testing.T) {
	tests := []struct {
		name   string
		prices kimi.Prices
		want   string // Known, input, output, cached, currency
	}{
		{"unset", kimi.Prices{}, "false 0 0 0 "},
		{"zero as shipped", kimi.Prices{Currency: "CNY"}, "false 0 0 0 "},
		{"priced", kimi.Prices{Input: 4, Output: 16, Cached: 1, Currency: "CNY"}, "true 4 16 1 元"},
		{"dollars", kimi.Prices{Input: 0.6, Output: 2.5, Currency: "USD"}, "true 0.6 2.5 0 USD"},
	}
	for _, tt := range tests {
		p := pricesOf(tt.prices)
		if got := fmt.Sprintf("%v %v %v %v %s", p.Known, p.Input, p.Output, p.CachedInput, p.Currency); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// What the report reads of the shipped pipeline (prices, phases, the database, the robot) comes from the
// steps' own decoded settings: were one of them renamed in its step or manifest, the pipeline's key would
// be refused at load or the view would fail here, instead of a column going silently empty.
func TestReportReadsThePipelinesSettings(t *testing.T) {
	root := repoRoot(t)
	pipeline := filepath.Join(root, "pipelines", "meeting.yaml")
	env, err := runner.ReadDotEnv(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"KIMI_PRICE_INPUT": "4", "KIMI_PRICE_OUTPUT": "16", "KIMI_PRICE_CACHED": "1",
		"KIMI_CURRENCY": "USD", "DB_PASS": "pw-report-77", "WECOM_WEBHOOK_KEY": "robot-key-77"} {
		env[k] = v
	}
	reg, err := registry("", pipeline)
	if err != nil {
		t.Fatal(err)
	}
	p, err := runner.Load(pipeline, runner.LoadOptions{Registry: reg, Env: env, DryRun: true, Now: time.Now(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	view, ok := steps.ClassifyViewOf(p)
	pr := pricesOf(view.Prices)
	if got := fmt.Sprintf("%v %v %v %v %s", pr.Known, pr.Input, pr.Output, pr.CachedInput, pr.Currency); !ok || got != "true 4 16 1 USD" {
		t.Errorf("prices = %s (step found: %v), want true 4 16 1 USD", got, ok)
	}
	if got := strings.Join(view.Phases, ","); got != "简历优化,项目深挖,面试模拟,Offer后续,其他" {
		t.Errorf("phases = %s", got)
	}
	db, err := dbConfigOf(p, nil)
	if err != nil || db.Database != env["DB_NAME"] || db.User != env["DB_USER"] || db.Password != "pw-report-77" || db.Port != 3306 {
		t.Errorf("database = %s %s port %d (password given: %v), %v", db.Database, db.User, db.Port, db.Password == "pw-report-77", err)
	}
	robot, _, err := sendTargets(p, map[string]string{})
	if err != nil || robot == nil || robot.Key != "robot-key-77" || robot.BaseURL == "" {
		t.Errorf("robot = %+v, %v; want wecom_notify's key and base_url", robot, err)
	}
}
