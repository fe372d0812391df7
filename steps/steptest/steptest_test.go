package steptest_test

import (
	"strings"
	"testing"

	"meetpipe/runner/step"
	"meetpipe/steps/steptest"
)

type echoConfig struct {
	Word  string `yaml:"word" json:"word" required:"true" doc:"a word"`
	Times int    `yaml:"times" min:"1" max:"3" json:"times" doc:"how often"`
}

type echo struct{ cfg echoConfig }

func registry() *step.Registry {
	reg := step.NewRegistry()
	reg.Register(step.Define(step.Spec{Name: "echo", Version: "1"}, echoConfig{Times: 1},
		func(c echoConfig, b *step.Build) (any, error) { return &echo{c}, nil }))
	return reg
}

func TestBuild(t *testing.T) {
	impl, cfg := steptest.BuildWith(t, "echo", "word: hi", steptest.Options{Registry: registry()})
	if e := impl.(*echo); e.cfg.Word != "hi" || e.cfg.Times != 1 || cfg.(echoConfig).Times != 1 {
		t.Errorf("built %+v, config %+v", e.cfg, cfg)
	}
	err := steptest.ErrWith(t, "echo", "word: hi\ntimes: 9", steptest.Options{Registry: registry()})
	if !strings.Contains(err.Error(), "with:2:8:") || !strings.Contains(err.Error(), "times") {
		t.Errorf("error %v does not name the setting", err)
	}
	err = steptest.ErrWith(t, "echo", "", steptest.Options{Registry: registry()})
	if !strings.Contains(err.Error(), "word") {
		t.Errorf("error %v does not name the missing setting", err)
	}
}
