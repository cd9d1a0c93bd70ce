package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValid(t *testing.T) {
	env := map[string]string{"BAKE_TEST_DSN": "postgres://u:pw@localhost/bake", "HOOK_SECRET": "s3cret"}
	cfg, _, diags := LoadConfig("testdata/config/valid.hcl", func(k string) string { return env[k] })
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	dir, _ := filepath.Abs("testdata/config")
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.MaxRuns != 3 || cfg.Server.Database.Reveal() != env["BAKE_TEST_DSN"] {
		t.Errorf("server = %+v", cfg.Server)
	}
	if len(cfg.Server.Tokens) != 1 || cfg.Server.Tokens[0].Role != RoleOperator {
		t.Errorf("tokens = %+v", cfg.Server.Tokens)
	}
	p := cfg.Pipeline("nightly")
	if p == nil {
		t.Fatal("no pipeline nightly")
	}
	if p.Template != filepath.Join(dir, "templates/docker.pkr.hcl") || p.SignKey != filepath.Join(dir, "keys/release.key") {
		t.Errorf("paths not resolved against the config file: %q %q", p.Template, p.SignKey)
	}
	if p.Timeout != 30*time.Minute || p.Concurrency != 1 || p.Promote != "nightly" || p.Publish != "127.0.0.1:5000/golden" {
		t.Errorf("pipeline = %+v", p)
	}
	from := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	if got := p.Next(from); !got.Equal(time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next = %v", got)
	}
	if got := strings.Join(p.varArgs(), ","); got != "tag=x" {
		t.Errorf("vars = %q", got)
	}
	if len(p.Webhooks) != 1 || p.Webhooks[0].Secret.Reveal() != "s3cret" || !p.Webhooks[0].Wants(EventRunFailed) {
		t.Errorf("webhooks = %+v", p.Webhooks)
	}
	g := cfg.Pipeline("from-git")
	if g.Git == nil || g.Git.Ref != "main" || g.Git.Subdir != "base" || g.Template != "docker.pkr.hcl" {
		t.Errorf("git pipeline = %+v %+v", g, g.Git)
	}
}

// TestConfigInvalid checks that every problem is reported at once, each
// at its line.
func TestConfigInvalid(t *testing.T) {
	_, _, diags := LoadConfig("testdata/config/invalid.hcl", func(string) string { return "" })
	want := map[string]int{ // summary → line
		"invalid listen address": 2,
		"unsupported database":   3,
		"unknown role":           5,
		"invalid token hash":     6,
		"invalid schedule":       11,
		"invalid publish":        12,
		"invalid concurrency":    14,
		"invalid timeout":        15,
		"Unsupported argument":   16,
		"invalid webhook url":    18,
		"unknown webhook event":  19,
		"duplicate pipeline":     23,
		"missing template":       10,
	}
	got := map[string]int{}
	for _, d := range diags {
		if d.Subject != nil {
			got[d.Summary] = d.Subject.Start.Line
		}
	}
	for s, line := range want {
		if got[s] != line {
			t.Errorf("%q: at line %d, want %d (all: %v)", s, got[s], line, diags)
		}
	}
	for _, d := range diags {
		if strings.Contains(d.Detail, "hunter2") || (d.Summary == "unsupported database" && !strings.Contains(d.Detail, `"sqlite:PATH"`)) {
			t.Errorf("the database diagnostic repeats the DSN or does not name the accepted forms: %s", d.Detail)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2")
	for _, out := range []string{s.String(), s.GoString(), strings.TrimSpace(fmtAll(s))} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %q", out)
		}
	}
}

func FuzzConfig(f *testing.F) {
	for _, p := range []string{"testdata/config/valid.hcl", "testdata/config/invalid.hcl"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`server { listen = ":1" database = "postgres://x" }` + "\npipeline \"p\" { git { url = \"-x\" } }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, _, diags := ParseConfig(src, "/cfg/server.hcl", func(string) string { return "" })
		if !diags.HasErrors() && cfg == nil {
			t.Fatal("no config and no error")
		}
		if cfg != nil && !diags.HasErrors() {
			for _, p := range cfg.Pipelines {
				if p.Concurrency < 1 || p.Timeout <= 0 {
					t.Fatalf("accepted pipeline %+v", p)
				}
			}
		}
	})
}

func fmtAll(s Secret) string {
	return fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s)
}

// TestConfigDatabase: SQLite is the default (in the state directory), a
// relative sqlite: path is relative to the configuration file, and
// PostgreSQL is kept as written.
func TestConfigDatabase(t *testing.T) {
	for _, c := range []struct{ db, want string }{
		{"", "sqlite:/etc/bake/state/bake.db"},
		{`database = "sqlite:runs/bake.db"`, "sqlite:/etc/bake/runs/bake.db"},
		{`database = "sqlite:/var/lib/bake/bake.db"`, "sqlite:/var/lib/bake/bake.db"},
		{`database = "postgres://bake@db/bake"`, "postgres://bake@db/bake"},
	} {
		src := fmt.Sprintf("server {\n  listen = \"127.0.0.1:8080\"\n  state_dir = \"state\"\n  %s\n}\n", c.db)
		cfg, _, diags := ParseConfig([]byte(src), "/etc/bake/server.hcl", func(string) string { return "" })
		if diags.HasErrors() {
			t.Errorf("%s: %v", c.db, diags)
			continue
		}
		if got := cfg.Server.Database.Reveal(); got != c.want {
			t.Errorf("%s: database %q, want %q", c.db, got, c.want)
		}
	}
	_, _, diags := ParseConfig([]byte("server {\n  listen = \":1\"\n  database = \"sqlite:\"\n}\n"), "/etc/bake/server.hcl", nil)
	if !diags.HasErrors() || diags[0].Subject == nil || diags[0].Subject.Start.Line != 3 || !strings.Contains(diags[0].Detail, "needs a file path") {
		t.Errorf("sqlite: without a path: %v", diags)
	}
}
