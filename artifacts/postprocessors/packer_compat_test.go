package postprocessors

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/artifacts"
)

// TestManifestAsPackerWritesIt: run from the directory a user runs Packer
// from, packer-manifest.json names an artifact's files as Packer records
// them (relative, not made absolute), writes null where Packer writes
// null, and leaves no lock file.
func TestManifestAsPackerWritesIt(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("output-qemu", 0o755)
	os.WriteFile("output-qemu/web", make([]byte, 10), 0o644)
	os.WriteFile("image.tar", make([]byte, 20), 0o644)
	outside := filepath.Join(t.TempDir(), "far.img")
	os.WriteFile(outside, make([]byte, 30), 0o644)

	run := RunContext{RunUUID: "r1"}
	for _, in := range []*artifacts.Artifact{
		// Builders hand absolute paths on.
		{Builder: "qemu", Build: "qemu.web", ID: "web", Files: []string{filepath.Join(dir, "output-qemu", "web"), outside}},
		{Builder: "docker", Build: "docker.tar", ID: "image.tar", Files: []string{filepath.Join(dir, "image.tar")}},
		{Builder: "docker", Build: "docker.img", ID: "sha256:abc"},
	} {
		if _, _, err := NewManifest(&ManifestConfig{StripTime: true}, run).PostProcess(context.Background(), nil, in); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(DefaultManifestOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "builds": [
    {
      "name": "web",
      "builder_type": "qemu",
      "files": [
        {
          "name": "output-qemu/web",
          "size": 10
        },
        {
          "name": "` + outside + `",
          "size": 30
        }
      ],
      "artifact_id": "web",
      "packer_run_uuid": "r1",
      "custom_data": null
    },
    {
      "name": "tar",
      "builder_type": "docker",
      "files": [
        {
          "name": "image.tar",
          "size": 20
        }
      ],
      "artifact_id": "image.tar",
      "packer_run_uuid": "r1",
      "custom_data": null
    },
    {
      "name": "img",
      "builder_type": "docker",
      "files": null,
      "artifact_id": "sha256:abc",
      "packer_run_uuid": "r1",
      "custom_data": null
    }
  ],
  "last_run_uuid": "r1"
}
`
	if string(data) != want {
		t.Errorf("packer-manifest.json:\n%s\nwant:\n%s", data, want)
	}
	noLockFiles(t, dir)
}

// TestChecksumAsPackerWritesIt: a checksum file beside the artifact holds
// "<hex>\t<base name>" lines as Packer's does, an older file written with
// two spaces is updated in place, and no lock file is left.
func TestChecksumAsPackerWritesIt(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("a.tar", []byte("a"), 0o644)
	os.WriteFile("b.tar", []byte("b"), 0o644)
	os.WriteFile("packer_ubuntu_docker_md5.checksum", []byte("00000000000000000000000000000000  a.tar\n"), 0o644)
	in := &artifacts.Artifact{Builder: "docker", Build: "docker.ubuntu", Files: []string{filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")}}
	if _, _, err := NewChecksum(&ChecksumConfig{}, RunContext{}).PostProcess(context.Background(), nil, in); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("packer_ubuntu_docker_md5.checksum")
	want := "0cc175b9c0f1b6a831c399e269772661\ta.tar\n92eb5ffee6ae2fec3ad71c777531578f\tb.tar\n"
	if string(data) != want {
		t.Errorf("checksum file %q, want %q", data, want)
	}
	if strings.Contains(string(data), "  ") {
		t.Error("two-space separator left")
	}
	noLockFiles(t, dir)
}

// FuzzChecksumMerge: whatever an existing checksum file holds, merging a
// line into it does not panic, lists the new sum, and keeps every line
// that names another file, in order.
func FuzzChecksumMerge(f *testing.F) {
	f.Add("0cc175b9c0f1b6a831c399e269772661\ta.tar\n")
	f.Add("0cc175b9c0f1b6a831c399e269772661  a.tar\n92eb5ffee6ae2fec3ad71c777531578f  b.tar\n")
	f.Add("\\0cc175b9c0f1b6a831c399e269772661  back\\\\slash.img\n")
	f.Add("0cc175b9c0f1b6a831c399e269772661 *bin.img\nno separator\n\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, existing string) {
		path := filepath.Join(t.TempDir(), "sums")
		if err := os.WriteFile(path, []byte(existing), 0o644); err != nil {
			t.Fatal(err)
		}
		newLine := checksumLine{sum: "ffff", name: "a.tar"}
		if err := writeChecksums(path, []checksumLine{newLine}); err != nil {
			return // refused (a line too long to read): the file is left alone
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := string(data)
		if !strings.Contains("\n"+got, "\nffff\ta.tar\n") {
			t.Fatalf("the new line is missing:\n%q", got)
		}
		var kept []string
		for _, l := range strings.SplitAfter(got, "\n") {
			if l == "" {
				continue
			}
			if n, ok := lineName(l); !ok || n != "a.tar" {
				kept = append(kept, l)
			}
		}
		var before []string
		for _, l := range strings.SplitAfter(existing, "\n") {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\n") {
				l += "\n"
			}
			if n, ok := lineName(l); !ok || n != "a.tar" {
				before = append(before, l)
			}
		}
		if strings.Join(kept, "") != strings.Join(before, "") {
			t.Fatalf("lines naming other files changed:\nbefore %q\nafter  %q", before, kept)
		}
	})
}
