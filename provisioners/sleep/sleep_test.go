package sleep

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
	"github.com/bake-tool/bake/templates"
)

func prepare(t *testing.T, src string) (*Config, hcl.Diagnostics) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "t.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cfg := &Config{}
	b, diags := templates.Decode(f.Body, nil, "sleep", hcl.Range{Filename: "t.pkr.hcl"}, cfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return cfg, cfg.Prepare(b)
}

func TestPrepare(t *testing.T) {
	for src, want := range map[string]string{
		``:                   `"duration"`,
		`duration = "soon"`:  "not a duration",
		`duration = "-1s"`:   "negative",
		`duration = "250ms"`: "",
	} {
		_, diags := prepare(t, src)
		if want == "" && diags.HasErrors() || want != "" && !strings.Contains(diags.Error(), want) {
			t.Errorf("%s: diags %v, want %q", src, diags, want)
		}
	}
}

// TestSleep: the step waits, and a cancel ends the wait with the cause.
func TestSleep(t *testing.T) {
	cfg, _ := prepare(t, `duration = "50ms"`)
	p, err := NewProvisioner(cfg, provisioners.BuildInfo{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Provision(context.Background(), testui.New(t), nil, provisioners.BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("returned before the duration")
	}

	cfg, _ = prepare(t, `duration = "1h"`)
	p, _ = NewProvisioner(cfg, provisioners.BuildInfo{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Provision(ctx, testui.New(t), nil, provisioners.BuildInfo{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep: %v", err)
	}
}
