package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failedRun is a run of a succeeded qemu build (disk.qcow2) and a docker
// build whose export tar and its compressed copy stayed in place when a
// post-processor failed. It returns the signed bundle, the key's public
// half, the disk, and the tar.gz.
func failedRun(t *testing.T, status BuildStatus) (bundle []byte, pub any, disk, targz string) {
	t.Helper()
	dir := t.TempDir()
	disk = filepath.Join(dir, "disk.qcow2")
	tar := filepath.Join(dir, "f.tar")
	targz = filepath.Join(dir, "f.tar.gz")
	for p, content := range map[string]string{disk: "disk", tar: "tar", targz: "tar.gz"} {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	file := func(build, p string) *Artifact {
		return &Artifact{Builder: "x", Build: build, ID: p, Items: []Item{{ExternalIdentifier: filepath.Base(p), Path: p}}}
	}
	st, err := NewRunManifest(RunInfo{RunID: "run-1", CreatedAt: t0, BakeVersion: "1.0.0", TemplatePath: "t.pkr.hcl",
		TemplateSHA256: strings.Repeat("0", 64)}, []BuildRecord{
		{Name: "qemu.web", Builder: "qemu", Status: StatusSucceeded, Started: t0, Finished: t0,
			Artifacts: []*Artifact{file("qemu.web", disk)}},
		{Name: "docker.f", Builder: "docker", Status: status, Err: errorString("post-processor shell-local: exit status 1"),
			Started: t0, Finished: t0, Artifacts: []*Artifact{file("docker.f", tar), file("docker.f", targz)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err = SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	return bundle, key.Public(), disk, targz
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestVerifyRefusesFailedBuildArtifact: a file that a failed or cancelled
// build left is in the manifest under that build, but it is no subject
// (what cosign or openssl check is only the subjects), and Verify names
// the build and its status and refuses it unless AllowFailed.
func TestVerifyRefusesFailedBuildArtifact(t *testing.T) {
	for _, status := range []BuildStatus{StatusFailed, StatusCancelled} {
		t.Run(string(status), func(t *testing.T) {
			bundle, pub, disk, targz := failedRun(t, status)

			v, err := Verify(bundle, pub, VerifyOptions{Artifacts: []string{disk}})
			if err != nil {
				t.Fatal(err)
			}
			if a := v.Artifacts[0]; a.Build != "qemu.web" || a.Status != StatusSucceeded || a.Subject != "disk.qcow2" {
				t.Errorf("the disk verified as %+v, want build qemu.web, succeeded", a)
			}
			sum := sha256.Sum256([]byte("tar.gz"))
			for _, s := range v.Statement.Subject {
				if s.Digest["sha256"] == hex.EncodeToString(sum[:]) || strings.HasPrefix(s.Name, "f.tar") {
					t.Errorf("the %s build's artifact is a subject: %+v", status, s)
				}
			}
			if n := len(v.Statement.Predicate.Builds[1].Artifacts); n != 2 {
				t.Errorf("the %s build lists %d artifacts, want its 2", status, n)
			}

			_, err = Verify(bundle, pub, VerifyOptions{Artifacts: []string{targz}})
			want := "artifact " + targz + " belongs to build docker.f, which " + map[BuildStatus]string{StatusFailed: "failed", StatusCancelled: "was cancelled"}[status]
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "-allow-failed") {
				t.Fatalf("the %s build's artifact: %v, want an error saying %q and naming -allow-failed", status, err, want)
			}

			v, err = Verify(bundle, pub, VerifyOptions{Artifacts: []string{targz, disk}, AllowFailed: true})
			if err != nil {
				t.Fatal(err)
			}
			if a := v.Artifacts[0]; a.Build != "docker.f" || a.Status != status || a.Subject != "" {
				t.Errorf("with AllowFailed: %+v, want build docker.f, %s, no subject", a, status)
			}
		})
	}
}

// TestVerifyRefusesFailedBuildSubject: a manifest that made a failed
// build's artifact a subject (as bake did before) is refused the same way.
func TestVerifyRefusesFailedBuildSubject(t *testing.T) {
	_, key, _ := signedTestRun(t, KeyECDSAP256)
	info, builds, _ := testRun(t)
	st, err := NewRunManifest(info, builds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ami := filepath.Join(dir, "ami.txt") // a file whose sha256 is the failed build's item digest
	it := st.Predicate.Builds[2].Artifacts[0]
	if err := os.WriteFile(ami, []byte(it.URI), 0o644); err != nil {
		t.Fatal(err)
	}
	st.Subject = append(st.Subject, Subject{Name: it.URI, Digest: map[string]string{"sha256": strings.TrimPrefix(it.Digest, "sha256:")}})
	signed, err := SignStatement(st, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(signed, key.Public(), VerifyOptions{Artifacts: []string{ami}})
	if err == nil || !strings.Contains(err.Error(), "belongs to build amazon-ebs.web, which failed") {
		t.Fatalf("a failed build's subject: %v", err)
	}
}
