package postprocessors

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/templates/interpolate"
	"github.com/bake-tool/bake/ui"
)

// Checksum is the Packer-compatible "checksum" post-processor: for each
// checksum type it writes the checksums of the artifact's files as Packer
// writes them, "<hex>\t<file>" (a line `sha256sum -c` reads). File names
// are relative to the checksum file's directory (Packer's base name when
// the checksum file sits beside the artifact), so
// `cd $(dirname out) && sha256sum -c out` checks them. A checksum file
// shared by several builds is updated under a lock and written atomically;
// a file already listed gets its line replaced.
type Checksum struct {
	cfg *ChecksumConfig
	run RunContext
}

var _ artifacts.PostProcessor = (*Checksum)(nil)

// NewChecksum returns the checksum post-processor for cfg (prepared) in
// run.
func NewChecksum(cfg *ChecksumConfig, run RunContext) *Checksum {
	return &Checksum{cfg: cfg, run: run}
}

// checksumOutputData is what the output template sees.
type checksumOutputData struct {
	BuildName    string
	BuilderType  string
	ChecksumType string
}

var newHash = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// PostProcess writes the checksum files and returns an artifact made of
// them; in is always kept.
func (c *Checksum) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	types := c.cfg.ChecksumTypes
	if len(types) == 0 {
		types = []string{"md5"}
	}
	outTmpl := c.cfg.Output
	if outTmpl == "" {
		outTmpl = DefaultChecksumOutput
	}
	buildName, builderType := c.run.names(in)
	out := &artifacts.Artifact{Builder: "checksum", Build: in.Build}
	for _, typ := range types {
		if _, ok := newHash[strings.ToLower(typ)]; !ok {
			return nil, false, fmt.Errorf("checksum: unknown checksum type %q", typ)
		}
	}
	// Every type's digest of a file in one read of it.
	sums := make([]map[string]string, len(in.Files))
	for i, f := range in.Files {
		m, err := hashFileAll(ctx, f, types)
		if err != nil {
			return nil, false, fmt.Errorf("checksum: %w", err)
		}
		sums[i] = m
	}
	for _, typ := range types {
		output, err := interpolate.Render(outTmpl, checksumOutputData{BuildName: buildName, BuilderType: builderType, ChecksumType: strings.ToLower(typ)})
		if err != nil {
			return nil, false, fmt.Errorf("checksum output %q: %w", outTmpl, err)
		}
		lines := make([]checksumLine, 0, len(in.Files))
		for i, f := range in.Files {
			lines = append(lines, checksumLine{sum: sums[i][strings.ToLower(typ)], name: relativeTo(filepath.Dir(output), f)})
		}
		if err := writeChecksums(output, lines); err != nil {
			return nil, false, err
		}
		if ui != nil {
			ui.Say(fmt.Sprintf("Wrote %s checksums of %d files to %s", typ, len(lines), output))
		}
		out.Files = append(out.Files, output)
	}
	out.ID = strings.Join(out.Files, ",")
	return out, true, nil
}

// hashFileAll returns the hex digests of the file at path for each of
// types, read once. A sha256 the builder computed as it wrote the file
// (artifacts.CachedSHA256) is used when the file is unchanged since.
func hashFileAll(ctx context.Context, path string, types []string) (map[string]string, error) {
	m := map[string]string{}
	hs := map[string]hash.Hash{}
	for _, t := range types {
		t = strings.ToLower(t)
		if t == "sha256" {
			if sum, _, ok := artifacts.CachedSHA256(path); ok {
				m[t] = sum
				continue
			}
		}
		hs[t] = newHash[t]()
	}
	if len(hs) == 0 {
		return m, nil
	}
	ws := make([]io.Writer, 0, len(hs))
	for _, h := range hs {
		ws = append(ws, h)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := io.CopyBuffer(io.MultiWriter(ws...), ctxReader{ctx, f}, make([]byte, 1<<20)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for t, h := range hs {
		m[t] = hex.EncodeToString(h.Sum(nil))
	}
	return m, nil
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// relativeTo returns file relative to dir when it can, file otherwise.
func relativeTo(dir, file string) string {
	absDir, err1 := filepath.Abs(dir)
	absFile, err2 := filepath.Abs(file)
	if err1 != nil || err2 != nil {
		return file
	}
	rel, err := filepath.Rel(absDir, absFile)
	if err != nil {
		return absFile
	}
	return filepath.ToSlash(rel)
}

// checksumLine is one line of a GNU checksum file.
type checksumLine struct{ sum, name string }

// String formats the line as Packer does, the sum and the name separated
// by a tab; a name with a backslash or a newline is escaped and the line
// starts with a backslash, as GNU coreutils reads it.
func (l checksumLine) String() string {
	if strings.ContainsAny(l.name, "\\\n\r") {
		esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(l.name)
		return `\` + l.sum + "\t" + esc + "\n"
	}
	return l.sum + "\t" + l.name + "\n"
}

// lineName returns the file name part of a checksum line: after the tab
// Packer writes or the two spaces (or " *") coreutils writes.
func lineName(line string) (string, bool) {
	line = strings.TrimSuffix(strings.TrimPrefix(line, `\`), "\n")
	if _, name, ok := strings.Cut(line, "\t"); ok {
		return name, true
	}
	if _, name, ok := strings.Cut(line, " "); ok {
		return strings.TrimPrefix(strings.TrimPrefix(name, " "), "*"), true
	}
	return "", false
}

// writeChecksums merges lines into the checksum file at path: a file
// already listed gets its new sum, others are appended.
func writeChecksums(path string, lines []checksumLine) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("checksum: %w", err)
		}
	}
	unlock, err := artifacts.LockFile(path)
	if err != nil {
		return fmt.Errorf("checksum: %w", err)
	}
	defer unlock()

	index := map[string]int{}
	var all []string
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checksum: %w", err)
	}
	// Lines are kept byte for byte (a CRLF file keeps its CRs), whatever
	// their length.
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		if name, ok := lineName(line); ok {
			index[name] = len(all)
		}
		all = append(all, line)
	}
	for _, l := range lines {
		s := l.String()
		name, _ := lineName(s)
		if i, ok := index[name]; ok {
			all[i] = s
			continue
		}
		index[name] = len(all)
		all = append(all, s)
	}
	return artifacts.WriteFileAtomic(path, []byte(strings.Join(all, "")), 0o644)
}
