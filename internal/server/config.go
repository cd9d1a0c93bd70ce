package server

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/robfig/cron/v3"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Roles a token may carry, weakest first. A role may do everything the
// roles before it may.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// roleRank orders roles; an unknown role ranks below viewer.
func roleRank(r string) int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Webhook events a pipeline's webhook may ask for.
const (
	EventRunStarted   = "run.started"
	EventRunSucceeded = "run.succeeded"
	EventRunFailed    = "run.failed"
	EventRunCancelled = "run.cancelled"
	EventRunPromoted  = "run.promoted"
)

var webhookEvents = []string{EventRunStarted, EventRunSucceeded, EventRunFailed, EventRunCancelled, EventRunPromoted}

// Config is a `bake serve` configuration file.
type Config struct {
	// Path is the file it was read from; relative paths in it are relative
	// to its directory.
	Path      string
	Server    ServerConfig
	Pipelines []*Pipeline
}

// Pipeline returns the pipeline called name, or nil.
func (c *Config) Pipeline(name string) *Pipeline {
	for _, p := range c.Pipelines {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// ServerConfig is the server block.
type ServerConfig struct {
	Listen  string
	TLSCert string
	TLSKey  string
	// Database is "sqlite:PATH" (PATH absolute) or a PostgreSQL DSN; by
	// default SQLite at STATE_DIR/bake.db.
	Database Secret
	// MaxRuns is the global limit on runs going at once.
	MaxRuns int
	// StateDir holds each run's working directory (manifests, git
	// checkouts); default: a directory beside the config file.
	StateDir string
	// MetricsToken, when true, makes /metrics ask for a viewer token.
	ProtectMetrics bool
	Tokens         []ConfigToken
}

// ConfigToken is a token declared in the config file by its SHA-256, so
// the file holds no usable secret.
type ConfigToken struct {
	Name   string
	Role   string
	SHA256 string
}

// Pipeline is one pipeline block.
type Pipeline struct {
	Name string
	// Template is a template path (absolute, resolved against the config
	// file's directory) when Git is nil, else a path inside the checkout.
	Template    string
	Git         *GitSource
	Variables   map[string]string
	VarFiles    []string
	Only        []string
	Schedule    string
	schedule    cron.Schedule
	SignKey     string
	Publish     string
	Promote     string
	Concurrency int
	Timeout     time.Duration
	Webhooks    []Webhook
	DeclRange   hcl.Range
}

// Next returns the next scheduled time after t, or the zero time when the
// pipeline has no schedule.
func (p *Pipeline) Next(t time.Time) time.Time {
	if p.schedule == nil {
		return time.Time{}
	}
	return p.schedule.Next(t)
}

// GitSource is a template fetched with the system git.
type GitSource struct {
	URL    string
	Ref    string
	Subdir string
}

// Webhook is a URL told about a pipeline's runs.
type Webhook struct {
	URL    string
	Events []string
	Secret Secret
}

// Wants reports whether w asked for event.
func (w Webhook) Wants(event string) bool {
	for _, e := range w.Events {
		if e == event {
			return true
		}
	}
	return false
}

// Secret is a string that prints as <sensitive>, in every verb and
// encoding, so it cannot reach a log or an error by accident.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s} }

// Reveal returns the secret text, for the one place that uses it.
func (s Secret) Reveal() string { return s.v }

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "<sensitive>"
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return s.String() }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

var (
	configSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "server"},
		{Type: "pipeline", LabelNames: []string{"name"}},
	}}
	serverSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "listen"}, {Name: "tls_cert"}, {Name: "tls_key"}, {Name: "database"},
			{Name: "max_concurrent_runs"}, {Name: "state_dir"}, {Name: "protect_metrics"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "token", LabelNames: []string{"name"}}},
	}
	tokenSchema    = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "role", Required: true}, {Name: "sha256", Required: true}}}
	pipelineSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "template"}, {Name: "variables"}, {Name: "var_files"}, {Name: "only"},
			{Name: "schedule"}, {Name: "sign_key"}, {Name: "publish"}, {Name: "promote"},
			{Name: "concurrency"}, {Name: "timeout"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "git"}, {Type: "webhook"}},
	}
	gitSchema     = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}, {Name: "ref"}, {Name: "subdir"}}}
	webhookSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "url", Required: true}, {Name: "events"}, {Name: "secret"}}}
)

// LoadConfig reads the configuration file at path. getenv backs the env()
// function (secrets kept out of the file); nil means os.Getenv.
func LoadConfig(path string, getenv func(string) string) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "cannot read configuration", Detail: err.Error()}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return ParseConfig(src, abs, getenv)
}

// ParseConfig parses src as the configuration file at path (an absolute
// path, the base of the relative paths in it).
func ParseConfig(src []byte, path string, getenv func(string) string) (*Config, map[string]*hcl.File, hcl.Diagnostics) {
	if getenv == nil {
		getenv = os.Getenv
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	files := map[string]*hcl.File{path: f}
	if diags.HasErrors() {
		return nil, files, diags
	}
	d := &decoder{dir: filepath.Dir(path), ctx: evalContext(getenv)}
	cfg := &Config{Path: path}
	content, ds := f.Body.Content(configSchema)
	d.diags = append(diags, ds...)
	seenServer := false
	for _, b := range content.Blocks {
		switch b.Type {
		case "server":
			if seenServer {
				d.errorf(b.DefRange.Ptr(), "duplicate server block", "a configuration has one server block")
				continue
			}
			seenServer = true
			d.server(b, &cfg.Server)
		case "pipeline":
			p := d.pipeline(b)
			if prev := cfg.Pipeline(p.Name); prev != nil {
				d.errorf(b.LabelRanges[0].Ptr(), "duplicate pipeline", fmt.Sprintf("pipeline %q is already declared at %s", p.Name, prev.DeclRange))
				continue
			}
			cfg.Pipelines = append(cfg.Pipelines, p)
		}
	}
	if !seenServer {
		d.errorf(&hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}, "missing server block", `a configuration needs a server block with at least listen`)
	}
	return cfg, files, d.diags
}

type decoder struct {
	dir   string
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (d *decoder) errorf(r *hcl.Range, summary, detail string) {
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: r})
}

// str decodes attribute name of attrs as a string; "" when absent.
func (d *decoder) str(attrs hcl.Attributes, name string) string {
	var s string
	d.decode(attrs, name, &s)
	return s
}

// decode decodes attribute name into v (a pointer for gocty) and reports
// whether it was set.
func (d *decoder) decode(attrs hcl.Attributes, name string, v any) bool {
	a, ok := attrs[name]
	if !ok {
		return false
	}
	val, diags := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return false
	}
	if val.IsNull() {
		return false
	}
	if ty, err := gocty.ImpliedType(v); err == nil {
		if cv, err := convert.Convert(val, ty); err == nil {
			val = cv
		}
	}
	if !val.IsWhollyKnown() {
		d.errorf(a.Expr.Range().Ptr(), "invalid value for "+name, "the value must be known when the configuration is read")
		return false
	}
	if err := gocty.FromCtyValue(val, v); err != nil {
		d.errorf(a.Expr.Range().Ptr(), "invalid value for "+name, err.Error())
		return false
	}
	return true
}

func (d *decoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

func (d *decoder) server(b *hcl.Block, s *ServerConfig) {
	c, diags := b.Body.Content(serverSchema)
	d.diags = append(d.diags, diags...)
	s.Listen = d.str(c.Attributes, "listen")
	if s.Listen == "" {
		d.errorf(b.DefRange.Ptr(), "missing listen", `the server block needs listen = "HOST:PORT"`)
	} else if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		d.errorf(c.Attributes["listen"].Expr.Range().Ptr(), "invalid listen address", fmt.Sprintf("%q is not HOST:PORT: %v", s.Listen, err))
	}
	s.TLSCert = d.path(d.str(c.Attributes, "tls_cert"))
	s.TLSKey = d.path(d.str(c.Attributes, "tls_key"))
	if (s.TLSCert == "") != (s.TLSKey == "") {
		d.errorf(b.DefRange.Ptr(), "incomplete TLS settings", "set both tls_cert and tls_key, or neither")
	}
	s.StateDir = d.path(d.str(c.Attributes, "state_dir"))
	if s.StateDir == "" {
		s.StateDir = filepath.Join(d.dir, ".bake-serve")
	}
	// Without a database setting the runs go to SQLite in the state
	// directory. A PostgreSQL DSN may carry a password: it is never
	// repeated in a diagnostic.
	db := d.str(c.Attributes, "database")
	if _, ok := c.Attributes["database"]; !ok {
		db = "sqlite:" + filepath.Join(s.StateDir, "bake.db")
	}
	if kind, target, err := ParseDatabase(db); err != nil {
		r := b.DefRange.Ptr()
		if a, ok := c.Attributes["database"]; ok {
			r = a.Expr.Range().Ptr()
		}
		d.errorf(r, "unsupported database", err.Error())
	} else if kind == DatabaseSQLite {
		db = "sqlite:" + d.path(target)
	}
	s.Database = NewSecret(db)
	s.MaxRuns = 2
	if d.decode(c.Attributes, "max_concurrent_runs", &s.MaxRuns) && s.MaxRuns < 1 {
		d.errorf(c.Attributes["max_concurrent_runs"].Expr.Range().Ptr(), "invalid max_concurrent_runs", "max_concurrent_runs must be at least 1")
	}
	d.decode(c.Attributes, "protect_metrics", &s.ProtectMetrics)
	for _, tb := range c.Blocks {
		tc, diags := tb.Body.Content(tokenSchema)
		d.diags = append(d.diags, diags...)
		t := ConfigToken{Name: tb.Labels[0], Role: d.str(tc.Attributes, "role"), SHA256: strings.ToLower(d.str(tc.Attributes, "sha256"))}
		if a, ok := tc.Attributes["role"]; ok && roleRank(t.Role) == 0 {
			d.errorf(a.Expr.Range().Ptr(), "unknown role", fmt.Sprintf("role %q: one of viewer, operator, admin", t.Role))
		}
		if a, ok := tc.Attributes["sha256"]; ok && !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(t.SHA256) {
			d.errorf(a.Expr.Range().Ptr(), "invalid token hash", "sha256 is the token's SHA-256 as 64 hex digits (sha256sum), never the token itself")
		}
		s.Tokens = append(s.Tokens, t)
	}
}

func (d *decoder) pipeline(b *hcl.Block) *Pipeline {
	p := &Pipeline{Name: b.Labels[0], DeclRange: b.DefRange, Concurrency: 1, Timeout: 2 * time.Hour}
	if !nameRE.MatchString(p.Name) {
		d.errorf(b.LabelRanges[0].Ptr(), "invalid pipeline name", fmt.Sprintf("%q: letters, digits, '_', '.', '-' (it appears in URLs)", p.Name))
	}
	c, diags := b.Body.Content(pipelineSchema)
	d.diags = append(d.diags, diags...)
	tmpl := d.str(c.Attributes, "template")
	var gitBlock *hcl.Block
	for _, sb := range c.Blocks {
		switch sb.Type {
		case "git":
			if gitBlock != nil {
				d.errorf(sb.DefRange.Ptr(), "duplicate git block", "a pipeline has one git source")
				continue
			}
			gitBlock = sb
			gc, diags := sb.Body.Content(gitSchema)
			d.diags = append(d.diags, diags...)
			p.Git = &GitSource{URL: d.str(gc.Attributes, "url"), Ref: d.str(gc.Attributes, "ref"), Subdir: d.str(gc.Attributes, "subdir")}
			if p.Git.Ref == "" {
				p.Git.Ref = "HEAD"
			}
			if strings.HasPrefix(p.Git.Ref, "-") || strings.HasPrefix(p.Git.URL, "-") {
				d.errorf(sb.DefRange.Ptr(), "invalid git source", "url and ref must not start with '-'")
			}
			if filepath.IsAbs(p.Git.Subdir) || strings.Contains(filepath.ToSlash(p.Git.Subdir), "..") {
				d.errorf(sb.DefRange.Ptr(), "invalid git subdir", "subdir is a relative path inside the repository")
			}
		case "webhook":
			p.Webhooks = append(p.Webhooks, d.webhook(sb))
		}
	}
	switch {
	case p.Git == nil && tmpl == "":
		d.errorf(b.DefRange.Ptr(), "missing template", `a pipeline needs template = "PATH" or a git { url = … } block`)
	case p.Git == nil:
		p.Template = d.path(tmpl)
	default:
		p.Template = tmpl // inside the checkout (subdir), "" for the subdir itself
		if filepath.IsAbs(tmpl) {
			d.errorf(c.Attributes["template"].Expr.Range().Ptr(), "invalid template", "with a git source, template is a path inside the checkout")
		}
	}
	if d.decode(c.Attributes, "variables", &p.Variables) {
		for k := range p.Variables {
			if !hclsyntax.ValidIdentifier(k) {
				d.errorf(c.Attributes["variables"].Expr.Range().Ptr(), "invalid variable name", fmt.Sprintf("%q is not a variable name", k))
			}
		}
	}
	var vf []string
	d.decode(c.Attributes, "var_files", &vf)
	for _, f := range vf {
		if p.Git != nil && !filepath.IsAbs(f) {
			p.VarFiles = append(p.VarFiles, f) // relative to the checkout
		} else {
			p.VarFiles = append(p.VarFiles, d.path(f))
		}
	}
	d.decode(c.Attributes, "only", &p.Only)
	if p.Schedule = d.str(c.Attributes, "schedule"); p.Schedule != "" {
		s, err := cron.ParseStandard(p.Schedule)
		if err != nil {
			d.errorf(c.Attributes["schedule"].Expr.Range().Ptr(), "invalid schedule", fmt.Sprintf("%q: %v (five cron fields, or @daily, @every 1h…)", p.Schedule, err))
		}
		p.schedule = s
	}
	p.SignKey = d.path(d.str(c.Attributes, "sign_key"))
	p.Publish = d.str(c.Attributes, "publish")
	if p.Publish != "" && (strings.Contains(p.Publish, "://") || !strings.Contains(p.Publish, "/")) {
		d.errorf(c.Attributes["publish"].Expr.Range().Ptr(), "invalid publish", fmt.Sprintf("%q: publish is REG/REPO, e.g. 127.0.0.1:5000/golden", p.Publish))
	}
	if p.Publish != "" && p.SignKey == "" {
		d.errorf(c.Attributes["publish"].Expr.Range().Ptr(), "publish needs sign_key", "only a signed run manifest can be published: set sign_key")
	}
	p.Promote = d.str(c.Attributes, "promote")
	if a, ok := c.Attributes["promote"]; ok && p.Publish == "" {
		d.errorf(a.Expr.Range().Ptr(), "promote needs publish", "a channel points at a published version: set publish")
	}
	if d.decode(c.Attributes, "concurrency", &p.Concurrency) && p.Concurrency < 1 {
		d.errorf(c.Attributes["concurrency"].Expr.Range().Ptr(), "invalid concurrency", "concurrency must be at least 1")
	}
	if t := d.str(c.Attributes, "timeout"); t != "" {
		dur, err := time.ParseDuration(t)
		if err != nil || dur <= 0 {
			d.errorf(c.Attributes["timeout"].Expr.Range().Ptr(), "invalid timeout", fmt.Sprintf("%q: a positive duration such as 90m or 2h", t))
		} else {
			p.Timeout = dur
		}
	}
	return p
}

func (d *decoder) webhook(b *hcl.Block) Webhook {
	c, diags := b.Body.Content(webhookSchema)
	d.diags = append(d.diags, diags...)
	w := Webhook{URL: d.str(c.Attributes, "url"), Secret: NewSecret(d.str(c.Attributes, "secret"))}
	if a, ok := c.Attributes["url"]; ok {
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errorf(a.Expr.Range().Ptr(), "invalid webhook url", fmt.Sprintf("%q is not an http(s) URL", w.URL))
		}
	}
	if !d.decode(c.Attributes, "events", &w.Events) {
		w.Events = []string{EventRunFailed}
	}
	for _, e := range w.Events {
		if !contains(webhookEvents, e) {
			d.errorf(c.Attributes["events"].Expr.Range().Ptr(), "unknown webhook event", fmt.Sprintf("%q: one of %s", e, strings.Join(webhookEvents, ", ")))
		}
	}
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evalContext offers env(NAME), so that secrets (webhook secrets, the
// database password) stay out of the file.
func evalContext(getenv func(string) string) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(getenv(args[0].AsString())), nil
			},
		}),
	}}
}

// varArgs returns p's variables as -var NAME=VALUE settings, sorted.
func (p *Pipeline) varArgs() []string {
	names := make([]string, 0, len(p.Variables))
	for k := range p.Variables {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, k := range names {
		out = append(out, k+"="+p.Variables[k])
	}
	return out
}
