package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/internal/kinds"
	"github.com/bake-tool/bake/internal/redact"
	"github.com/bake-tool/bake/templates"
)

// Checkout is a pipeline's template on disk: the path to hand `bake build`
// and the var files, resolved; Close removes a git checkout.
type Checkout struct {
	Template string
	VarFiles []string
	// Commit is the git commit the template came from ("" for a path).
	Commit string
	dir    string
}

// Close removes the checkout's directory, if it made one.
func (c *Checkout) Close() error {
	if c.dir == "" {
		return nil
	}
	return os.RemoveAll(c.dir)
}

// Fetch makes p's template available: a path is used as it is; a git
// source is fetched with the system git (shallow, the one ref) into a new
// directory under workDir.
func Fetch(ctx context.Context, p *Pipeline, workDir string) (*Checkout, error) {
	if p.Git == nil {
		return &Checkout{Template: p.Template, VarFiles: p.VarFiles}, nil
	}
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(workDir, "git-"+p.Name+"-")
	if err != nil {
		return nil, err
	}
	co := &Checkout{dir: dir}
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return strings.TrimSpace(string(out)), nil
	}
	steps := [][]string{
		{"init", "-q"},
		{"fetch", "-q", "--depth", "1", "--", p.Git.URL, p.Git.Ref},
		{"checkout", "-q", "--detach", "FETCH_HEAD"},
	}
	for _, s := range steps {
		if _, err := git(s...); err != nil {
			co.Close()
			return nil, fmt.Errorf("fetch pipeline %s from %s@%s: %w", p.Name, p.Git.URL, p.Git.Ref, err)
		}
	}
	if co.Commit, err = git("rev-parse", "HEAD"); err != nil {
		co.Close()
		return nil, err
	}
	root := filepath.Join(dir, filepath.FromSlash(p.Git.Subdir))
	co.Template = filepath.Join(root, filepath.FromSlash(p.Template))
	if rel, err := filepath.Rel(dir, co.Template); err != nil || strings.HasPrefix(rel, "..") {
		co.Close()
		return nil, fmt.Errorf("pipeline %s: template %q leaves the checkout", p.Name, p.Template)
	}
	for _, f := range p.VarFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(root, f)
		}
		co.VarFiles = append(co.VarFiles, f)
	}
	return co, nil
}

// CheckOptions are what checking a pipeline's template needs from the
// process: bake's version and environment.
type CheckOptions struct {
	Version string
	Env     []string
	WorkDir string // where git checkouts go; "" means os.TempDir()
}

// CheckResult is one pipeline's template check: the diagnostics
// `bake validate` gives, with the files to render them against.
type CheckResult struct {
	Pipeline string
	Files    map[string]*hcl.File
	Diags    hcl.Diagnostics
	Redact   func(string) string
}

// CheckPipeline validates p's template (fetched first when it comes from
// git) with its variables, var files and -only, as `bake validate` does.
func CheckPipeline(ctx context.Context, p *Pipeline, o CheckOptions) CheckResult {
	res := CheckResult{Pipeline: p.Name, Redact: func(s string) string { return s }}
	wd := o.WorkDir
	if wd == "" {
		wd = os.TempDir()
	}
	co, err := Fetch(ctx, p, wd)
	if err != nil {
		res.Diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "template not fetched", Detail: err.Error(), Subject: p.DeclRange.Ptr()}}
		return res
	}
	defer co.Close()
	plan, diags := templates.Load(co.Template, templates.LoadOptions{
		Kinds: kinds.All(), Vars: p.varArgs(), VarFiles: co.VarFiles, Env: o.Env, Context: ctx, Version: o.Version,
	})
	if plan != nil {
		res.Files = plan.Files
		res.Redact = redact.New(plan.SensitiveValues()).String
	}
	if !diags.HasErrors() && len(p.Only) > 0 {
		_, d := plan.Select(p.Only, nil)
		diags = append(diags, d...)
	}
	res.Diags = diags
	return res
}
