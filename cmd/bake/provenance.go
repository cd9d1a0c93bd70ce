package main

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/artifacts/provenance"
	"github.com/bake-tool/bake/internal/engine"
	"github.com/bake-tool/bake/templates"
)

// runFacts are what the run manifest's companions (SBOMs, provenance)
// need beyond the manifest's own facts.
type runFacts struct {
	reason       string
	only, except []string
	selected     []*templates.BuildSource
	environ      []string
	started      time.Time
	// git is the template's checkout as the run started (nil: none);
	// gitErr why it could not be read.
	git    *provenance.Git
	gitErr error
}

// newRunFacts gathers the facts of a run about to start; it reads the
// template's git checkout now, before any build writes into it.
func newRunFacts(ctx context.Context, template, reason string, only, except []string, selected []*templates.BuildSource, environ []string, started time.Time) *runFacts {
	f := &runFacts{reason: reason, only: only, except: except, selected: selected, environ: environ, started: started}
	dir := template
	if st, err := os.Stat(template); err == nil && !st.IsDir() {
		dir = filepath.Dir(template)
	}
	f.git, f.gitErr = provenance.ReadGit(ctx, dir)
	return f
}

// provenancePath is where the provenance bundle of the manifest at
// manifestPath goes: beside it, <stem>.provenance.sigstore.json.
func provenancePath(manifestPath string) string {
	return filepath.Join(filepath.Dir(manifestPath), manifestBase(manifestPath)+".provenance.sigstore.json")
}

// writeProvenance signs SLSA provenance v1 for the run whose manifest is
// stmt, with the same subjects, and writes it beside the manifest.
func writeProvenance(ctx context.Context, manifestPath, template string, plan *templates.Plan, stmt *artifacts.Statement,
	results []engine.Result, facts *runFacts, signer crypto.Signer) error {
	p := stmt.Predicate
	params := provenance.Parameters{
		Template: template,
		Digest:   plan.Digest,
		Files:    templateFiles(plan),
		Only:     facts.only,
		Except:   facts.except,
	}
	for _, v := range plan.Variables {
		if v.Sensitive {
			params.SensitiveVariables = append(params.SensitiveVariables, v.Name)
			continue
		}
		if params.Variables == nil {
			params.Variables = map[string]any{}
		}
		params.Variables[v.Name] = ctyjson.SimpleJSONValue{Value: v.Value}
	}
	git, err := facts.git, facts.gitErr
	if err != nil {
		return fmt.Errorf("read the template's git checkout: %w", err)
	}
	params.Source = git
	subject := ""
	if git != nil {
		subject = git.Subject
	}
	getenv := func(k string) string {
		v, _ := environValue(facts.environ, k)
		if v == "" && k == "USER" {
			if u, err := user.Current(); err == nil {
				v = u.Username
			}
		}
		return v
	}
	host, _ := os.Hostname()
	params.Audit = provenance.ReadAudit(getenv, host, facts.reason, subject)

	deps := baseDependencies(results)
	deps = append(deps, inputFileDependencies(plan, facts.selected)...)
	finished := time.Now()
	for _, b := range p.Builds {
		if b.FinishedAt.After(finished) {
			finished = b.FinishedAt
		}
	}
	pred := provenance.NewPredicate(provenance.Facts{Params: params, Dependencies: deps, BakeVersion: version,
		RunID: p.Fingerprint, Started: facts.started, Finished: finished})
	a, err := artifacts.NewAttestation(stmt.Subject, artifacts.PredicateTypeSLSAProvenanceV1, pred)
	if err != nil {
		return err
	}
	data, err := artifacts.SignAttestation(a, signer)
	if err != nil {
		return err
	}
	return artifacts.WriteFileAtomic(provenancePath(manifestPath), data, 0o644)
}

// templateFiles lists the template's files that are on disk, with their
// sha256, sorted by path.
func templateFiles(plan *templates.Plan) []provenance.File {
	var out []provenance.File
	for name := range plan.Files {
		sum, _, err := artifacts.FileSHA256(name)
		if err != nil {
			continue
		}
		out = append(out, provenance.File{Path: name, SHA256: sum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// baseDependencies lists each build's base as resolved: the base image by
// digest, the base disk by sha256, the source AMI per region.
func baseDependencies(results []engine.Result) []provenance.ResourceDescriptor {
	var deps []provenance.ResourceDescriptor
	for _, r := range results {
		for _, a := range r.Artifacts {
			if a == nil || a.Parent == nil {
				continue
			}
			pa := a.Parent
			if sum, ok := strings.CutPrefix(pa.ImageDigest, "sha256:"); ok {
				deps = append(deps, provenance.ResourceDescriptor{Name: "base-image", URI: pa.Ref, Digest: map[string]string{"sha256": sum}})
			} else if pa.ImageID != "" {
				if sum, ok := strings.CutPrefix(pa.ImageID, "sha256:"); ok {
					deps = append(deps, provenance.ResourceDescriptor{Name: "base-image", URI: pa.Ref, Digest: map[string]string{"sha256": sum},
						Annotations: map[string]any{"digestOf": "image-id"}})
				}
			}
			if pa.DiskSHA256 != "" {
				deps = append(deps, provenance.ResourceDescriptor{Name: "base-disk", URI: fileURI(pa.DiskPath), Digest: map[string]string{"sha256": pa.DiskSHA256}})
			}
			regions := make([]string, 0, len(pa.SourceAMIs))
			for region := range pa.SourceAMIs {
				regions = append(regions, region)
			}
			sort.Strings(regions)
			for _, region := range regions {
				ami := pa.SourceAMIs[region]
				uri := "arn:aws:ec2:" + region + "::image/" + ami
				deps = append(deps, provenance.ResourceDescriptor{Name: "source-ami", URI: uri,
					Digest: map[string]string{"sha256": provenance.SHA256(uri)}, Annotations: map[string]any{"region": region, "ami": ami}})
			}
		}
	}
	return deps
}

func fileURI(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return "file://" + filepath.ToSlash(p)
}

// inputFileFields are the provisioner options that name local files the
// machine receives: scripts, uploaded sources, playbooks.
var inputFileFields = map[string]bool{"script": true, "scripts": true, "source": true, "sources": true,
	"playbook_file": true, "galaxy_file": true, "inventory_file": true}

// inputFileDependencies lists each local file the selected builds'
// provisioners send to the machine, with its sha256. It reads the
// provisioners' evaluated configs (as the engine decodes them, with no
// build values: an option that needs build.Host is left out), looking for
// the options in inputFileFields by their hcl tags, so that every kind
// that names a script or an upload the usual way is covered without
// knowing it. A file provisioner's download source is remote, not an
// input, and is skipped.
func inputFileDependencies(plan *templates.Plan, selected []*templates.BuildSource) []provenance.ResourceDescriptor {
	var deps []provenance.ResourceDescriptor
	for _, bs := range selected {
		for _, pv := range bs.Build.ProvisionersFor(bs) {
			cfg, _, diags := plan.DecodeProvisioner(pv, bs, templates.BuildValues{})
			if diags.HasErrors() || cfg == nil {
				continue
			}
			for _, path := range configFiles(cfg) {
				walkFiles(path, func(f string) {
					sum, _, err := artifacts.FileSHA256(f)
					if err != nil {
						return
					}
					deps = append(deps, provenance.ResourceDescriptor{Name: pv.Type + " input", URI: fileURI(f), Digest: map[string]string{"sha256": sum}})
				})
			}
		}
	}
	return deps
}

// configFiles returns the values of cfg's fields tagged with an
// inputFileFields name.
func configFiles(cfg templates.Config) []string {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("hcl"), ",")
		if tag == "direction" && v.Field(i).Kind() == reflect.String && v.Field(i).String() == "download" {
			return nil
		}
		if !inputFileFields[tag] {
			continue
		}
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			if f.String() != "" {
				out = append(out, f.String())
			}
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				for j := 0; j < f.Len(); j++ {
					if s := f.Index(j).String(); s != "" {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out
}

// walkFiles calls fn for path, or for each regular file under it when it
// is a directory (an uploaded tree), in lexical order.
func walkFiles(path string, fn func(string)) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	if !st.IsDir() {
		fn(path)
		return
	}
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fn(p)
		}
		return nil
	})
}
