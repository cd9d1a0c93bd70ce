package qemu

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bake-tool/bake/internal/testutil/bakebin"
	"github.com/bake-tool/bake/internal/testutil/manifesttest"
	"github.com/bake-tool/bake/internal/testutil/proctest"
)

// TestBakeBuild runs testdata/qemu through the real `bake build`: two qemu
// builds in parallel on distinct ports, one provisioned over SSH by the
// shell and file provisioners and tested by booting its output, both
// succeeding; then SIGINT to a second
// bake process while its guest boots leaves no qemu, no temporary
// directory and no output directory.
func TestBakeBuild(t *testing.T) {
	g := fixture(t)
	bin := bakebin.Path(t)
	template, err := filepath.Abs("../../testdata/qemu/template.pkr.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := copyBase(t, g.Disk, dir)
	baseSum := fileSHA256(t, base)
	fixtureDir := filepath.Dir(g.Disk)
	args := func(out string, extra ...string) []string {
		a := append([]string{"build", "-color=false"}, extra...)
		return append(a, "-var", "fixture="+fixtureDir, "-var", "base="+base, "-var", "output="+out, template)
	}

	t.Run("two builds in parallel", func(t *testing.T) {
		out := filepath.Join(dir, "out")
		manifest := filepath.Join(dir, "m.json")
		cmd := exec.Command(bin, args(out, "-parallel-builds", "2", "-manifest", manifest)...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		t0 := time.Now()
		err := cmd.Run()
		text := buf.String()
		t.Logf("bake build took %s:\n%s", time.Since(t0).Round(time.Second), text)
		if err != nil {
			t.Fatalf("bake build: %v\n%s", err, text)
		}
		if !strings.Contains(text, "guest kernel 6.") {
			t.Errorf("no provisioner output:\n%s", text)
		}
		ports := map[string]string{}
		for _, m := range regexp.MustCompile(`qemu\.(debian|panic).*SSH forwarded from 127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(text, -1) {
			ports[m[1]] = m[2]
		}
		if len(ports) != 2 || ports["debian"] == ports["panic"] {
			t.Errorf("forwarded ports %v, want two distinct", ports)
		}
		for _, f := range []string{"debian/debian.qcow2", "panic/panic.qcow2"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("output: %v", err)
			}
		}
		if got := fileSHA256(t, base); got != baseSum {
			t.Errorf("base disk changed")
		}
		builds := manifesttest.Builds(t, manifest)
		if len(builds) != 2 {
			t.Fatalf("manifest builds %+v", builds)
		}
		// qemu.debian's test block booted its output on its own (another
		// boot id than the build's) and passed; the test did not write
		// the output, whose sha256 is still the manifest's.
		bootIDs := regexp.MustCompile(`(build|tested) boot ([0-9a-f-]{36})`).FindAllStringSubmatch(text, -1)
		if len(bootIDs) != 2 || bootIDs[0][1] != "build" || bootIDs[1][1] != "tested" || bootIDs[0][2] == bootIDs[1][2] {
			t.Errorf("boot ids %v: want the build's and a test boot's, different", bootIDs)
		}
		for _, b := range builds {
			if b.Status != "succeeded" || len(b.Artifacts) != 1 || !strings.HasPrefix(b.Artifacts[0].Digest, "sha256:") {
				t.Errorf("manifest build %+v", b)
			}
			if b.Name == "qemu.debian" {
				if len(b.Tests) != 1 || b.Tests[0].Name != "provisioned" || b.Tests[0].Status != "passed" || b.Tests[0].ExitStatus != 0 {
					t.Errorf("qemu.debian tests %+v", b.Tests)
				}
				if got := "sha256:" + fileSHA256(t, filepath.Join(out, "debian/debian.qcow2")); got != b.Artifacts[0].Digest {
					t.Errorf("output %s after its test, manifest says %s", got, b.Artifacts[0].Digest)
				}
			}
			// The inventory ran through the SSH communicator: the Debian
			// guest's SBOM lists its packages (openssh-server among them);
			// the build without a communicator has none.
			switch b.Name {
			case "qemu.debian":
				if b.SBOM == nil || b.SBOM.Packages < 50 {
					t.Errorf("qemu.debian SBOM %+v, want the guest's packages", b.SBOM)
					continue
				}
				doc, err := os.ReadFile(filepath.Join(dir, b.SBOM.Path))
				if err != nil || !strings.Contains(string(doc), "pkg:deb/debian/openssh-server@") {
					t.Errorf("qemu.debian SBOM lacks openssh-server (%v)", err)
				}
			case "qemu.panic":
				if b.SBOM != nil {
					t.Errorf("qemu.panic (no communicator) has an SBOM: %+v", b.SBOM)
				}
			}
		}
		// The provenance beside the manifest names the base disk by sha256.
		prov := manifesttest.Payload(t, filepath.Join(dir, "m.provenance.sigstore.json"))
		if !strings.Contains(string(prov), `"sha256":"`+baseSum+`"`) {
			t.Errorf("provenance does not name the base disk's sha256 %s", baseSum)
		}
	})

	t.Run("SIGINT during boot", func(t *testing.T) {
		out := filepath.Join(dir, "out-interrupted")
		before, _ := filepath.Glob(filepath.Join(os.TempDir(), "bake-qemu-*"))
		cmd := exec.Command(bin, args(out, "-only", "qemu.debian", "-manifest", filepath.Join(dir, "interrupted.json"))...)
		var buf proctest.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(buf.String(), "waiting for SSH") {
			if time.Now().After(deadline) || strings.Contains(buf.String(), "no builder for source type") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("never waited for SSH:\n%s", buf.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit: %v, want status 130\n%s", err, buf.String())
		}
		if out, err := exec.Command("pgrep", "-af", out).Output(); err == nil {
			t.Errorf("processes remain: %s", out)
		}
		if _, err := os.Stat(filepath.Join(out, "debian")); !os.IsNotExist(err) {
			t.Errorf("output directory remains: %v", err)
		}
		after, _ := filepath.Glob(filepath.Join(os.TempDir(), "bake-qemu-*"))
		if len(after) > len(before) {
			t.Errorf("temporary directories: before %v, after %v", before, after)
		}
	})
}
