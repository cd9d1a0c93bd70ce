package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestAuthFor(t *testing.T) {
	creds := login{Enabled: true, Username: "u", Password: "p"}
	tests := []struct {
		name   string
		login  login
		ref    string
		sends  bool
		server string
	}{
		{"no login", login{Username: "u", Password: "p"}, "registry:5000/a", false, ""},
		{"login without server", creds, "registry:5000/a", true, ""},
		{"matching server", withServer(creds, "registry:5000"), "registry:5000/a:1", true, "registry:5000"},
		{"server with scheme and path", withServer(creds, "https://registry:5000/v2/"), "registry:5000/a", true, "https://registry:5000/v2/"},
		{"other server", withServer(creds, "other.example.com"), "registry:5000/a", false, ""},
		{"docker hub", withServer(creds, "https://index.docker.io/v1/"), "debian:bookworm", true, "https://index.docker.io/v1/"},
		{"docker hub, other registry", withServer(creds, "https://index.docker.io/v1/"), "quay.io/x/y", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.login.authFor(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if (got != "") != tt.sends {
				t.Fatalf("authFor(%q) = %q, sends credentials: %v, want %v", tt.ref, got, got != "", tt.sends)
			}
			if got == "" {
				return
			}
			raw, err := base64.URLEncoding.DecodeString(got)
			if err != nil {
				t.Fatal(err)
			}
			var ac struct{ Username, Password, ServerAddress string }
			if err := json.Unmarshal(raw, &ac); err != nil {
				t.Fatal(err)
			}
			if ac.Username != "u" || ac.Password != "p" || ac.ServerAddress != tt.server {
				t.Errorf("auth = %+v", ac)
			}
		})
	}
}

func withServer(l login, s string) login { l.Server = s; return l }

func TestRepoDigest(t *testing.T) {
	digests := []string{"a.example/x@sha256:aaa", "registry:5000/app@sha256:bbb"}
	for ref, want := range map[string]string{
		"registry:5000/app:1":         "sha256:bbb",
		"registry:5000/app@sha256:bb": "sha256:bbb",
		"registry:5000/app":           "sha256:bbb",
		"elsewhere/app":               "sha256:aaa",
	} {
		if got := repoDigest(ref, digests); got != want {
			t.Errorf("repoDigest(%q) = %q, want %q", ref, got, want)
		}
	}
	if got := repoDigest("x", nil); got != "" {
		t.Errorf("no digests: %q", got)
	}
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]container.DeviceMapping{
		"/dev/fuse":             {PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"},
		"/dev/sda:/dev/xvda":    {PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "rwm"},
		"/dev/sda:/dev/xvda:r":  {PathOnHost: "/dev/sda", PathInContainer: "/dev/xvda", CgroupPermissions: "r"},
		"/dev/sda::rw":          {PathOnHost: "/dev/sda", PathInContainer: "/dev/sda", CgroupPermissions: "rw"},
		"/dev/kvm:/dev/kvm:rwm": {PathOnHost: "/dev/kvm", PathInContainer: "/dev/kvm", CgroupPermissions: "rwm"},
	} {
		if got := parseDevice(in); got != want {
			t.Errorf("parseDevice(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestCommitConfigKeepsBase(t *testing.T) {
	cfg := commitConfig(imageWith(nil, []string{"/bin/bash"}))
	if cfg.Entrypoint == nil || len(cfg.Entrypoint) != 0 || strings.Join(cfg.Cmd, " ") != "/bin/bash" {
		t.Errorf("no base entrypoint: %+v", cfg)
	}
	// The engine keeps an empty, non-nil Entrypoint only if it is sent.
	b, _ := json.Marshal(cfg)
	if !strings.Contains(string(b), `"Entrypoint":[]`) {
		t.Errorf("encoded config %s does not send an empty Entrypoint", b)
	}
	cfg = commitConfig(imageWith([]string{"/entry"}, []string{"arg"}))
	if strings.Join(cfg.Entrypoint, " ") != "/entry" || strings.Join(cfg.Cmd, " ") != "arg" {
		t.Errorf("base entrypoint: %+v", cfg)
	}
}

// tarOf builds an archive from alternating names and contents; a name
// ending in "/" is a directory.
func tarOf(t *testing.T, entries ...string) *tar.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(entries); i += 2 {
		name, body := entries[i], entries[i+1]
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return tar.NewReader(&buf)
}

func TestUntar(t *testing.T) {
	dst := t.TempDir()
	if err := untar(context.Background(), tarOf(t, "out/", "", "out/a", "A", "out/d/b", "B"), dst, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "out/d/b")); string(b) != "B" {
		t.Errorf("out/d/b = %q", b)
	}
	dst = t.TempDir()
	if err := untar(context.Background(), tarOf(t, "out/", "", "out/a", "A"), dst, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a")); string(b) != "A" {
		t.Errorf("contents: a = %q", b)
	}
	for _, bad := range []string{"../escape", "out/../../escape"} {
		if err := untar(context.Background(), tarOf(t, bad, "x"), t.TempDir(), false); err == nil {
			t.Errorf("untar accepted %q", bad)
		}
	}
}

func imageWith(entrypoint, cmd []string) image.InspectResponse {
	return image.InspectResponse{Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Entrypoint: entrypoint, Cmd: cmd}}}
}

func TestKnownOwner(t *testing.T) {
	for user, want := range map[string][3]int{
		"": {0, 0, 1}, "root": {0, 0, 1}, "0:0": {0, 0, 1}, "1000:100": {1000, 100, 1},
		"builder": {0, 0, 0}, "1000": {0, 0, 0}, "builder:staff": {0, 0, 0},
	} {
		uid, gid, ok := knownOwner(user)
		if ok != (want[2] == 1) || (ok && (uid != want[0] || gid != want[1])) {
			t.Errorf("knownOwner(%q) = %d, %d, %v", user, uid, gid, ok)
		}
	}
}
