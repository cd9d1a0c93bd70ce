package postprocessors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/ui"
)

// RunContext is what a post-processor knows of the run and the build it
// serves, beyond its config.
type RunContext struct {
	// RunUUID is the run's id (packer_run_uuid, last_run_uuid).
	RunUUID string
	// BuildName is the build's name as Packer records it: the source name,
	// "ubuntu" for source.docker.ubuntu. Empty means the part after the
	// dot of the artifact's Build.
	BuildName string
	// BuilderType is the source type ("docker"). Empty means the part
	// before the dot of the artifact's Build.
	BuilderType string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// names returns the build name and builder type, falling back to the
// artifact's "type.name".
func (rc RunContext) names(in *artifacts.Artifact) (buildName, builderType string) {
	typ, name, _ := strings.Cut(in.Build, ".")
	buildName, builderType = rc.BuildName, rc.BuilderType
	if buildName == "" {
		buildName = name
	}
	if builderType == "" {
		builderType = typ
	}
	return buildName, builderType
}

// Manifest is the Packer-compatible "manifest" post-processor: it appends
// an entry for the artifact to packer-manifest.json. Appends from several
// builds and several bake processes are serialised by a lock on a sibling
// ".lock" file, removed once the append is done, and each write is atomic,
// so no entry is lost, a reader never sees half a file, and no lock file
// is left beside the manifest.
type Manifest struct {
	cfg *ManifestConfig
	run RunContext
}

var _ artifacts.PostProcessor = (*Manifest)(nil)

// NewManifest returns the manifest post-processor for cfg (prepared) in
// run.
func NewManifest(cfg *ManifestConfig, run RunContext) *Manifest {
	return &Manifest{cfg: cfg, run: run}
}

// PackerManifest is the packer-manifest.json file.
type PackerManifest struct {
	// Builds holds one entry per post-processed artifact, oldest first.
	// Entries are kept as read, so fields this version does not know
	// survive an append.
	Builds      []json.RawMessage `json:"builds"`
	LastRunUUID string            `json:"last_run_uuid"`
}

// PackerBuild is one entry of PackerManifest.Builds, field for field as
// Packer writes it.
type PackerBuild struct {
	Name          string            `json:"name"`
	BuilderType   string            `json:"builder_type"`
	BuildTime     int64             `json:"build_time,omitempty"`
	Files         []PackerFile      `json:"files"`
	ArtifactID    string            `json:"artifact_id"`
	PackerRunUUID string            `json:"packer_run_uuid"`
	CustomData    map[string]string `json:"custom_data"`
}

// PackerFile is a file of a PackerBuild.
type PackerFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// PostProcess appends in to the manifest file and returns in unchanged;
// in is always kept.
func (m *Manifest) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	output := m.cfg.Output
	if output == "" {
		output = DefaultManifestOutput
	}
	entry := m.entry(in)
	if err := appendPackerManifest(output, entry, m.run.RunUUID); err != nil {
		return nil, false, err
	}
	if ui != nil {
		ui.Say(fmt.Sprintf("Added build %s to manifest %s", entry.Name, output))
	}
	return in, true, nil
}

// entry builds in's manifest entry.
func (m *Manifest) entry(in *artifacts.Artifact) PackerBuild {
	name, typ := m.run.names(in)
	e := PackerBuild{
		Name:          name,
		BuilderType:   typ,
		ArtifactID:    in.ID,
		PackerRunUUID: m.run.RunUUID,
		CustomData:    m.cfg.CustomData,
	}
	if !m.cfg.StripTime {
		now := time.Now
		if m.run.Now != nil {
			now = m.run.Now
		}
		e.BuildTime = now().Unix()
	}
	// An artifact without files (a committed image) has "files": null, as
	// Packer writes it.
	for _, f := range in.Files {
		pf := PackerFile{Name: packerFileName(f)}
		if fi, err := os.Stat(f); err == nil {
			pf.Size = fi.Size()
		}
		if m.cfg.StripPath {
			pf.Name = filepath.Base(f)
		}
		e.Files = append(e.Files, pf)
	}
	return e
}

// packerFileName is a file's name as Packer records it. Packer records the
// path the builder was given (export_path, output_directory/vm_name), most
// often relative to the working directory; bake's builders hand absolute
// paths on, so a file under the working directory is named relative to
// it again, and one elsewhere keeps its absolute path.
func packerFileName(f string) string {
	if !filepath.IsAbs(f) {
		return f
	}
	wd, err := os.Getwd()
	if err != nil {
		return f
	}
	if rel, err := filepath.Rel(wd, f); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return f
}

// appendPackerManifest adds entry to the manifest at path under its lock.
func appendPackerManifest(path string, entry PackerBuild, runUUID string) error {
	raw, err := json.Marshal(entry)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	unlock, err := artifacts.LockFile(path)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer unlock()

	var pm PackerManifest
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("manifest: %w", err)
	case len(strings.TrimSpace(string(data))) > 0:
		if err := json.Unmarshal(data, &pm); err != nil {
			return fmt.Errorf("manifest %s exists but is not a packer manifest: %w", path, err)
		}
	}
	pm.Builds = append(pm.Builds, raw)
	pm.LastRunUUID = runUUID
	out, err := json.MarshalIndent(&pm, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest %s: %w", path, err)
	}
	return artifacts.WriteFileAtomic(path, append(out, '\n'), 0o644)
}
