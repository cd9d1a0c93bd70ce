package postprocessors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/internal/configtest"
)

// compressInput makes an artifact of a disk file and a directory.
func compressInput(t *testing.T) *artifacts.Artifact {
	dir := t.TempDir()
	out := filepath.Join(dir, "output-qemu")
	must(t, os.MkdirAll(filepath.Join(out, "extra", "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(out, "disk.img"), []byte(strings.Repeat("disk ", 10000)), 0o640))
	must(t, os.WriteFile(filepath.Join(out, "extra", "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755))
	return &artifacts.Artifact{Builder: "qemu", Build: "qemu.web", ID: "disk",
		Files: []string{filepath.Join(out, "disk.img"), filepath.Join(out, "extra")}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCompressFormats writes each format from a prepared block and lists the
// archive with the tool a user would use.
func TestCompressFormats(t *testing.T) {
	tests := []struct {
		name, output, extra string
		list                []string // the listing command, the archive appended
		want                []string // substrings of the listing
	}{
		{"tar.gz", "{{.BuildName}}_{{.BuilderType}}.tar.gz", "", []string{"tar", "-tvzf"},
			[]string{"-rw-r----- 0/0           50000", "disk.img", "drwxr-xr-x", "extra/sub/", "-rwxr-xr-x", "extra/sub/run.sh"}},
		{"tgz level 9", "out.tgz", "compression_level = 9", []string{"tar", "-tvzf"}, []string{"disk.img", "extra/sub/run.sh"}},
		{"tar", "out.tar", "", []string{"tar", "-tvf"}, []string{"disk.img", "extra/sub/run.sh"}},
		{"zip", "out.zip", "compression_level = 1", []string{"zipinfo"}, []string{"-rw-r-----", "disk.img", "-rwxr-xr-x", "extra/sub/run.sh"}},
		{"format wins", "out.archive", `format = "zip"`, []string{"zipinfo"}, []string{"disk.img"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := compressInput(t)
			dir := t.TempDir()
			var cfg CompressConfig
			src := fmt.Sprintf("output = %q\n%s", filepath.Join(dir, "sub", tc.output), tc.extra)
			configtest.MustPrepare(t, "compress", src, &cfg)
			out, keep, err := NewCompress(&cfg, RunContext{}).PostProcess(context.Background(), nil, in)
			if err != nil {
				t.Fatal(err)
			}
			if keep {
				t.Error("compress forces the input to be kept")
			}
			archive := out.Files[0]
			if tc.name == "tar.gz" && archive != filepath.Join(dir, "sub", "web_qemu.tar.gz") {
				t.Errorf("archive %s", archive)
			}
			b, err := os.ReadFile(archive)
			must(t, err)
			sum := sha256.Sum256(b)
			item := out.Items[0]
			if item.Digest != "sha256:"+hex.EncodeToString(sum[:]) || item.Size != int64(len(b)) || item.Path != archive || out.ID != archive {
				t.Errorf("artifact %+v, item %+v; file is %d bytes, sha256 %x", out, item, len(b), sum)
			}
			listing, err := exec.Command(tc.list[0], append(tc.list[1:], archive)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", tc.list, err, listing)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(listing), w) {
					t.Errorf("listing lacks %q:\n%s", w, listing)
				}
			}
			// No temporary file left beside it.
			entries, _ := os.ReadDir(filepath.Dir(archive))
			if len(entries) != 1 {
				t.Errorf("directory holds %v", entries)
			}
		})
	}
}

func TestCompressGz(t *testing.T) {
	in := compressInput(t)
	dir := t.TempDir()
	cfg := &CompressConfig{Output: filepath.Join(dir, "disk.img.gz"), Format: FormatGz, CompressionLevel: 6}
	if _, _, err := NewCompress(cfg, RunContext{}).PostProcess(context.Background(), nil, in); err == nil || !strings.Contains(err.Error(), "gz holds one file") {
		t.Fatalf("two files into gz: %v", err)
	}
	in.Files = in.Files[:1]
	out, _, err := NewCompress(cfg, RunContext{}).PostProcess(context.Background(), nil, in)
	must(t, err)
	got, err := exec.Command("gzip", "-dc", out.Files[0]).Output()
	must(t, err)
	if string(got) != strings.Repeat("disk ", 10000) {
		t.Errorf("gzip -dc gave %d bytes", len(got))
	}
}

func TestCompressErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := &CompressConfig{Output: filepath.Join(dir, "x.tar.gz"), Format: FormatTarGz, CompressionLevel: 6}
	if _, _, err := NewCompress(cfg, RunContext{}).PostProcess(context.Background(), nil, &artifacts.Artifact{ID: "img"}); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("no files: %v", err)
	}
	in := &artifacts.Artifact{Files: []string{filepath.Join(dir, "missing")}}
	if _, _, err := NewCompress(cfg, RunContext{}).PostProcess(context.Background(), nil, in); err == nil {
		t.Error("missing input compressed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed compress left %v", entries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := NewCompress(cfg, RunContext{}).PostProcess(ctx, nil, compressInput(t)); err == nil {
		t.Error("cancelled compress succeeded")
	}
}
